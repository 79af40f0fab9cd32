# Training image — Lab 1, and the run-once `training` service of Lab 2.
#
# Stages:
#   deps     a venv with the hash-locked dependencies (pip and its cache stay here)
#   runtime  the venv + the training code on a clean base, run as appuser (UID 10001)
#
# Build with BuildKit (`inv build`, or `docker compose -f compose/build.yaml build`).
# Behind a TLS-intercepting proxy, hand pip the proxy's CA as a build secret:
#   PIP_CA_BUNDLE=/path/ca.pem inv build      (never copied into a layer)

# Base image: the official slim Python by default; `inv build` swaps in a local
# Debian-built equivalent when the official one cannot be pulled (air-gapped machines).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- deps stage --
FROM ${PYTHON_IMAGE} AS deps

# No prompts, no version nag, no bytecode for pip itself.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv

# The lock is bind-mounted (it never becomes a layer) and pip's download cache lives
# in a cache mount, so a dependency change re-downloads only what changed.
# --require-hashes --no-deps: install exactly the locked files, verified, nothing else.
# pip itself is removed from the venv afterwards: the runtime needs no installer.
# hadolint ignore=DL3042
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    --mount=type=bind,source=requirements/training.lock,target=/tmp/requirements.lock \
    --mount=type=secret,id=pip_ca \
    set -eu; \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.lock; \
    /opt/venv/bin/pip uninstall --yes --quiet pip; \
    find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +

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
    MODEL_REGISTRY=/registry

# A fixed non-root user with no login shell and no home: files it writes to a
# volume have a predictable owner, and a break-out lands in an unprivileged account.
# /registry is created owned by it, so a fresh named volume mounted there is writable.
RUN groupadd --system --gid "${UID}" appuser \
    && useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser \
    && install -d -o appuser -g appuser -m 0755 /registry

COPY --from=deps /opt/venv /opt/venv

# The code changes most often, so it comes last; owned by root, read-only to appuser.
WORKDIR /app
COPY model_registry/ ./model_registry/
COPY training/ ./training/
RUN python -m compileall -q /app

USER ${UID}:${UID}
ENTRYPOINT ["python", "-m", "training"]
