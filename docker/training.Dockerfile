# Training image — Lab 1, and the run-once `training` service of Lab 2.
#
# Stages:
#   uv       the installer, itself hash-locked (requirements/installer.lock); never ships
#   deps     a venv with the hash-locked dependencies, installed by uv (uv's cache stays here)
#   runtime  the venv + the training code on a clean base, run as appuser (UID 10001)
#
# Build with BuildKit: `docker compose build training` at the repo root (or `inv build`).
# Behind a TLS-intercepting proxy, name its CA bundle in LABS_CA_BUNDLE: the installers
# get it as the build secret `ca_bundle`, never in a layer:
#   LABS_CA_BUNDLE=/path/ca.pem docker compose build

# Base image: the official slim Python by default; `inv build` swaps in a local
# Debian-built equivalent when the official one cannot be pulled (air-gapped machines).
ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------------ uv stage --
# The same stage as in serving.Dockerfile: BuildKit builds it once for both images.
FROM ${PYTHON_IMAGE} AS uv

# pip installs exactly the locked uv wheel (--require-hashes) into /opt/uv; later stages
# only bind-mount it, so no installer ever ships. pip runs straight from the wheel that
# Python's ensurepip carries (the official image keeps it in ensurepip/_bundled, Debian
# in /usr/share/python-wheels): creating a venv just to get a pip costs 2 s more.
# DL3042 (use --no-cache-dir): pip's cache is a BuildKit cache mount, not a layer
# (hadolint issue 497).
# hadolint ignore=DL3042
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    --mount=type=bind,source=requirements/installer.lock,target=/tmp/installer.lock \
    --mount=type=secret,id=ca_bundle \
    set -eu; \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi; \
    for pip in /usr/local/lib/python3*/ensurepip/_bundled/pip-*.whl \
               /usr/share/python-wheels/pip-*.whl; do [ -f "$pip" ] && break; done; \
    python "$pip/pip" install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-compile --require-hashes --no-deps --only-binary=:all: --target /opt/uv \
        -r /tmp/installer.lock

# ---------------------------------------------------------------- deps stage --
FROM ${PYTHON_IMAGE} AS deps

# uv copies files out of its cache (a cache mount: hardlinks cannot cross into the
# layer), uses the base's Python (never downloads one), and compiles nothing itself.
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_PROGRESS=1

# A bare venv: no pip, no setuptools (the runtime needs no installer).
RUN python -m venv --without-pip /opt/venv

# The lock is bind-mounted (it never becomes a layer) and uv's cache lives in a cache
# mount: a dependency change fetches only the changed packages, and reinstalls the
# rest from the cache in about a second.
# --require-hashes --no-deps: install exactly the locked files, verified, nothing else.
# Removed afterwards: the packages' own test suites, and uv's lock file (world-writable).
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv \
    --mount=type=bind,source=requirements/training.lock,target=/tmp/requirements.lock \
    --mount=type=secret,id=ca_bundle \
    set -eu; \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    /opt/uv/bin/uv pip install --python /opt/venv/bin/python \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock; \
    find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +; \
    rm -f /opt/venv/.lock

# ------------------------------------------------------------ bytecode stage --
FROM deps AS bytecode

# Byte-compile what a training run imports, and only that (docker/compile_imports.py
# imports it, then writes hash-checked .pyc files), gathered under /bytecode. On the
# read-only root filesystem nothing can be compiled at run time, so every run would
# otherwise compile these modules anew. Two imports side by side, one per core; a stage
# of its own, so BuildKit compiles while the runtime stage copies the venv. Earlier
# builds' .pyc files wait in a cache mount: after a one-package change only that one compiles.
# (tests/docker/test_images.py fails when a module a run imports has no valid .pyc.)
RUN --mount=type=bind,source=docker/compile_imports.py,target=/tmp/compile_imports.py \
    --mount=type=cache,target=/root/.cache/pycache,sharing=locked \
    set -eu; \
    export PYTHONPYCACHEPREFIX=/root/.cache/pycache; \
    /opt/venv/bin/python /tmp/compile_imports.py joblib sklearn.model_selection \
        sklearn.metrics sklearn.pipeline sklearn.preprocessing sklearn.linear_model \
        sklearn.neighbors sklearn.datasets:load_iris & sklearn=$!; \
    /opt/venv/bin/python /tmp/compile_imports.py skl2onnx onnx onnxruntime \
        cryptography.hazmat.primitives.asymmetric.ed25519 \
        cryptography.hazmat.primitives.serialization; \
    wait "$sklearn"; \
    mkdir /bytecode; \
    find /opt/venv -type d -name __pycache__ -prune -exec cp -r --parents {} /bytecode \;

# ------------------------------------------------------------- runtime stage --
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/mlops-docker-labs/mlops-docker-labs

LABEL org.opencontainers.image.title="mlops-docker-labs training" \
      org.opencontainers.image.description="Trains the iris classifier and publishes it to the model registry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# Don't write .pyc files at run time (the root filesystem is read-only in Lab 2;
# the code is byte-compiled below instead), and don't buffer output, so logs
# reach `docker logs` at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MODEL_REGISTRY=/registry \
    MODEL_SIGNING_KEY=/signing/signing-key.pem \
    MODEL_TRUSTED_KEYS=/trusted-keys

# A fixed non-root user with no login shell and no home: files it writes to a
# volume have a predictable owner, and a break-out lands in an unprivileged account.
# The mount points of the registry, the signing key (private: 0700) and the trusted
# keys are created owned by it, so fresh named volumes mounted there are writable.
RUN groupadd --system --gid "${UID}" appuser \
    && useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser \
    && install -d -o appuser -g appuser -m 0755 /registry /trusted-keys \
    && install -d -o appuser -g appuser -m 0700 /signing

COPY --from=deps /opt/venv /opt/venv
COPY --from=bytecode /bytecode/opt/venv/ /opt/venv/

# The code changes most often, so it comes last (the folders it shares with the other
# image first); owned by root, read-only to appuser.
WORKDIR /app
COPY envvars/ ./envvars/
COPY model_registry/ ./model_registry/
COPY training/ ./training/
RUN python -m compileall -q /app

USER ${UID}:${UID}
ENTRYPOINT ["python", "-m", "training"]
