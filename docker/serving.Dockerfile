# Serving image — the `serving` service of Lab 2: gunicorn + Flask answering predictions.
#
# Stages:
#   deps     a venv with the hash-locked dependencies (pip and its cache stay here)
#   runtime  the venv + the app on a clean base, run as appuser (UID 10001)
#
# Build with BuildKit (`inv build`, or `docker compose -f compose/build.yaml build`).
# Behind a TLS-intercepting proxy, hand pip the proxy's CA as a build secret:
#   PIP_CA_BUNDLE=/path/ca.pem inv build      (never copied into a layer)

# Base image: the official slim Python by default; `inv build` swaps in a local
# Debian-built equivalent when the official one cannot be pulled (air-gapped machines).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- deps stage --
FROM ${PYTHON_IMAGE} AS deps

# No prompts, no version nag.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv

# The lock is bind-mounted (it never becomes a layer) and pip's download cache lives
# in a cache mount, so a dependency change re-downloads only what changed.
# --require-hashes --no-deps: install exactly the locked files, verified, nothing else.
# pip itself is removed from the venv afterwards: the runtime needs no installer.
# So are ONNX Runtime's C library for C/C++ programs (34 MB; the Python module links
# its own copy) and its offline model tools (transformers, quantization, tools): the
# server only runs sessions.
# DL3042 (use --no-cache-dir) is ignored: the cache is a BuildKit cache mount, not a
# layer (hadolint issue 497).
# hadolint ignore=DL3042
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    --mount=type=bind,source=requirements/serving.lock,target=/tmp/requirements.lock \
    --mount=type=secret,id=pip_ca \
    set -eu; \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.lock; \
    /opt/venv/bin/pip uninstall --yes --quiet pip; \
    find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +; \
    ort=$(echo /opt/venv/lib/python3*/site-packages/onnxruntime); \
    rm -rf "$ort"/capi/libonnxruntime.so.* "$ort/transformers" "$ort/quantization" "$ort/tools"

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
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics \
    PORT=8080

# A fixed non-root user with no login shell and no home; /registry (the mount point
# of the registry volume) is owned by it, whichever container mounts the volume first.
RUN groupadd --system --gid "${UID}" appuser \
    && useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser \
    && install -d -o appuser -g appuser -m 0755 /registry

COPY --from=deps /opt/venv /opt/venv

# The code changes most often, so it comes last; owned by root, read-only to appuser.
WORKDIR /app
COPY model_registry/ ./model_registry/
COPY app/ ./app/
RUN python -m compileall -q /app

USER ${UID}:${UID}
EXPOSE 8080

# Liveness only: the process answers. Readiness (a model is loaded) is /readyz, which
# Compose's healthcheck uses. No curl in the image: Python's urllib does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

# Exec form: gunicorn is PID 1 and receives SIGTERM directly (graceful shutdown).
ENTRYPOINT ["gunicorn", "--config", "/app/app/gunicorn_conf.py", "app:create_app()"]
