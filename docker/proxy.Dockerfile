# Proxy image — the `proxy` service of Lab 2: nginx buffering requests for gunicorn.
#
# One stage: nginx comes from Debian's packages, nothing is compiled. It is built on
# the same base as the other images (PYTHON_IMAGE, Debian bookworm): the base layers
# are shared on disk, there is one base to resolve on an air-gapped machine, and the
# healthcheck can use Python instead of adding curl.

ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------- runtime stage --
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/mlops-docker-labs/mlops-docker-labs

LABEL org.opencontainers.image.title="mlops-docker-labs proxy" \
      org.opencontainers.image.description="nginx in front of the serving API: buffers requests, holds slow clients" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# nginx 1.22 from Debian bookworm (the glob takes its security updates); apt's lists
# and downloads live in cache mounts, never in a layer. The default site is removed:
# our nginx.conf is the whole configuration.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    set -eux; \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    apt-get update; \
    apt-get install -y --no-install-recommends 'nginx=1.22.*'; \
    rm -rf /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/conf.d /var/log/nginx/*; \
    groupadd --system --gid "${UID}" appuser; \
    useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser

COPY proxy/nginx.conf proxy/backend.conf /etc/nginx/

USER ${UID}:${UID}
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/proxy-healthz', timeout=2)"]

# Exec form, in the foreground: nginx is PID 1 and gets SIGTERM (graceful shutdown: SIGQUIT
# is nginx's graceful signal, set with STOPSIGNAL).
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-g", "daemon off;"]
