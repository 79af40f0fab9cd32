# Prometheus image — the `prometheus` service of Lab 2's `observe` profile: scrapes
# serving on the internal backend network and evaluates the rules of observe/.
#
# One stage: Prometheus comes from Debian's packages, nothing is compiled. It is built
# on the same base as the other images (PYTHON_IMAGE, Debian bookworm): the base layers
# are shared on disk, there is one base to resolve on an air-gapped machine (Debian's
# mirror, no registry), and the healthcheck can use Python instead of adding curl.
# The configuration is copied in: the container runs with a read-only root filesystem,
# and the TSDB lives on the tmpfs Compose mounts at /prometheus (see compose.yaml).

ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------- runtime stage --
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/mlops-docker-labs/mlops-docker-labs

LABEL org.opencontainers.image.title="mlops-docker-labs prometheus" \
      org.opencontainers.image.description="Prometheus scraping the serving API, with its recording and alert rules" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# Prometheus 2.42 from Debian bookworm (the glob takes its security updates);
# --no-install-recommends leaves out the node exporter it recommends. apt's lists and
# downloads live in cache mounts, never in a layer. The package's own defaults and
# console templates are removed: the ENTRYPOINT's flags and our prometheus.yml are the
# whole configuration. So is moment-timezone's raw data, 212 MB of 456: the web UI loads
# only moment-timezone-with-data.min.js (web/templates/graph.html). /prometheus is made
# like /tmp (root's, 1777): Docker gives the tmpfs Compose mounts there the directory's
# mode but root as owner, so only a world-writable, sticky mode lets UID 10001 write it
# (measured; tmpfs-mode does not override it on Docker 20.10). Without Compose's tmpfs
# (a plain `docker run`) the TSDB goes to the same directory in the container's layer.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    set -eux; \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    apt-get update; \
    apt-get install -y --no-install-recommends 'prometheus=2.42.*'; \
    rm -rf /etc/prometheus/* /etc/default/prometheus /var/lib/prometheus \
        /usr/share/javascript/moment-timezone/data; \
    groupadd --system --gid "${UID}" appuser; \
    useradd --system --uid "${UID}" --gid appuser --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin appuser; \
    install -d -m 1777 /prometheus

# Owned by root and read-only to the service: it cannot rewrite its own rules.
COPY observe/prometheus.yml observe/rules.yml /etc/prometheus/

USER ${UID}:${UID}
EXPOSE 9090

# Ready (not just live): /-/ready answers 200 once the TSDB is open and rules load.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/-/ready', timeout=2)"]

# Exec form: Prometheus is PID 1 and gets SIGTERM itself (it then flushes the head
# block and exits cleanly). The retention is bounded twice: by time (what a lab looks
# back on) and by size (blocks, WAL and head chunks counted), half the tmpfs's 128 MiB
# (compose.yaml), so old blocks go before the tmpfs could fill up, with room left for a
# compaction's new block. Lab 2 writes about 5 MB a day (~200 series every 5 s). Its
# log lines are JSON, like every other service's.
ENTRYPOINT ["prometheus", \
            "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/prometheus", \
            "--storage.tsdb.retention.time=2d", \
            "--storage.tsdb.retention.size=64MB", \
            "--web.listen-address=:9090", \
            "--log.format=json"]
