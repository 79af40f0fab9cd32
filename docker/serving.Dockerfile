# Serving image — the `serving` service of Lab 2: gunicorn + Flask answering predictions
# with ONNX Runtime from signed models. No scikit-learn, no joblib: it never unpickles.
#
# Stages:
#   uv           the installer, itself hash-locked (requirements/installer.lock); never ships
#   docs-assets  Swagger UI's two browser files for /docs, out of their locked package
#   deps         a venv with the hash-locked dependencies, installed by uv (uv's cache stays here)
#   runtime      the venv, the docs files and the app on a clean base, run as appuser (UID 10001)
#
# Build with BuildKit: `docker compose build serving` at the repo root (or `inv build`).
# Behind a TLS-intercepting proxy, name its CA bundle in LABS_CA_BUNDLE: the installers
# get it as the build secret `ca_bundle`, never in a layer:
#   LABS_CA_BUNDLE=/path/ca.pem docker compose build

# Base image: the official slim Python by default; `inv build` swaps in a local
# Debian-built equivalent when the official one cannot be pulled (air-gapped machines).
ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------------ uv stage --
# The same stage as in training.Dockerfile: BuildKit builds it once for both images.
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

# --------------------------------------------------------- docs-assets stage --
FROM ${PYTHON_IMAGE} AS docs-assets

# As in deps: uv copies out of its cache mount and never downloads a Python.
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_PROGRESS=1

# Swagger UI 5 (the first to render OpenAPI 3.1) comes from PyPI as swagger-ui-py,
# installed exactly as locked (--require-hashes --no-deps). The package is 25 MB
# (Swagger Editor, source maps, jinja2 and pyyaml for its own Python side); /docs needs
# two of its files, 1.6 MB, which alone go on to the runtime stage, with Swagger UI's
# license (Apache-2.0: it goes wherever the files go; never served). A cache of its own
# (id): this stage runs beside deps, and sharing deps' locked cache would make it wait.
RUN --mount=type=cache,id=uv-docs-assets,target=/root/.cache/uv,sharing=locked \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv \
    --mount=type=bind,source=requirements/docs-assets.lock,target=/tmp/docs-assets.lock \
    --mount=type=secret,id=ca_bundle \
    set -eu; \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    /opt/uv/bin/uv pip install --target /tmp/docs-package \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/docs-assets.lock; \
    mkdir /opt/docs-assets; \
    cp /tmp/docs-package/swagger_ui/static/swagger-ui-bundle.js \
       /tmp/docs-package/swagger_ui/static/swagger-ui.css \
       /tmp/docs-package/swagger_ui/static/LICENSE /opt/docs-assets/

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
# Removed afterwards: the packages' own test suites, uv's lock file (world-writable),
# and ONNX Runtime's C library for
# C/C++ programs (34 MB; the Python module links its own copy) and its offline model
# tools (transformers, quantization, tools): the server only runs sessions.
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv \
    --mount=type=bind,source=requirements/serving.lock,target=/tmp/requirements.lock \
    --mount=type=secret,id=ca_bundle \
    set -eu; \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    /opt/uv/bin/uv pip install --python /opt/venv/bin/python \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock; \
    find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +; \
    rm -f /opt/venv/.lock; \
    ort=$(echo /opt/venv/lib/python3*/site-packages/onnxruntime); \
    rm -rf "$ort"/capi/libonnxruntime.so.* "$ort/transformers" "$ort/quantization" "$ort/tools"

# ------------------------------------------------------------ bytecode stage --
FROM deps AS bytecode

# Byte-compile what the server imports at start, and only that (docker/compile_imports.py
# imports it, then writes hash-checked .pyc files), gathered under /bytecode. On the
# read-only root filesystem nothing can be compiled at run time: without them every
# worker compiles these modules anew at each start (measured: start -> ready 0.9 s
# instead of 0.5 s). Compiling the whole venv (uv --compile-bytecode) starts no faster
# and makes an 8 MB larger image. Two imports side by side, one per core; a stage of
# its own, so BuildKit compiles while the runtime stage copies the venv. Earlier builds'
# .pyc files wait in a cache mount: after a one-package change only that one compiles.
# (tests/docker/test_images.py fails when a module imported at start has no .pyc.)
RUN --mount=type=bind,source=docker/compile_imports.py,target=/tmp/compile_imports.py \
    --mount=type=cache,target=/root/.cache/pycache,sharing=locked \
    set -eu; \
    export PYTHONPYCACHEPREFIX=/root/.cache/pycache; \
    /opt/venv/bin/python /tmp/compile_imports.py onnxruntime cryptography.exceptions \
        cryptography.hazmat.primitives.asymmetric.ed25519 \
        cryptography.hazmat.primitives.serialization & onnx=$!; \
    /opt/venv/bin/python /tmp/compile_imports.py flask gunicorn.app.wsgiapp gunicorn.arbiter \
        gunicorn.workers.sync gunicorn.glogging prometheus_client.multiprocess orjson; \
    wait "$onnx"; \
    mkdir /bytecode; \
    find /opt/venv -type d -name __pycache__ -prune -exec cp -r --parents {} /bytecode \;

# ------------------------------------------------------------- runtime stage --
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/mlops-docker-labs/mlops-docker-labs

LABEL org.opencontainers.image.title="mlops-docker-labs serving" \
      org.opencontainers.image.description="gunicorn + Flask prediction API and web page for the iris classifier" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# Don't write .pyc files at run time (the root filesystem is read-only; the code is
# byte-compiled below instead), don't buffer logs. Metrics of all gunicorn workers
# are summed through files in PROMETHEUS_MULTIPROC_DIR (a tmpfs in Lab 2). ONNX
# Runtime's usage telemetry is off: a server has no business calling home.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORT_DISABLE_TELEMETRY=1 \
    PATH=/opt/venv/bin:$PATH \
    MODEL_REGISTRY=/registry \
    MODEL_TRUSTED_KEYS=/trusted-keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics \
    PORT=8080

# A fixed non-root user with no login shell and no home; /registry and /trusted-keys
# (mount points of the registry and trusted-keys volumes, both read-only here) are
# owned by it, whichever container mounts a fresh volume first.
RUN groupadd --system --gid "${UID}" appuser \
    && useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser \
    && install -d -o appuser -g appuser -m 0755 /registry /trusted-keys

# Swagger UI's files for /docs, where DOCS_ASSETS (app/settings.py) looks by default;
# root's, so read-only to appuser. They change only with the lock, so before the venv.
COPY --from=docs-assets /opt/docs-assets/ /opt/docs-assets/

# The venv, then the bytecode of what the server imports at start (see above).
COPY --from=deps /opt/venv /opt/venv
COPY --from=bytecode /bytecode/opt/venv/ /opt/venv/

# The code changes most often, so it comes last (the folders it shares with the other
# image first); owned by root, read-only to appuser.
WORKDIR /app
COPY envvars/ ./envvars/
COPY model_registry/ ./model_registry/
COPY app/ ./app/
RUN python -m compileall -q /app

# The image's version, which V2's server metadata reports (app/settings.py:
# server_version). Set after the last RUN, so a new version rebuilds no layer.
ENV LABS_VERSION=${VERSION}

USER ${UID}:${UID}
EXPOSE 8080

# Liveness only: the process answers. Readiness (a model is loaded) is /readyz, which
# Compose's healthcheck uses. No curl in the image: Python's urllib does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

# Exec form: gunicorn is PID 1 and receives SIGTERM directly (graceful shutdown).
ENTRYPOINT ["gunicorn", "--config", "/app/app/gunicorn_conf.py", "app:create_app()"]
