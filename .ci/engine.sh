#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io when
# dockerd is missing, start it in the background when it is not running, wait for it.
# Idempotent: does nothing when an engine already answers. Needs root.
set -euo pipefail

log=${DOCKERD_LOG:-/var/log/dockerd.log}

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "engine: Docker $(docker version --format '{{.Server.Version}}') already running"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "engine: installing Debian's docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

echo "engine: starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &

for _ in $(seq 1 60); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "engine: Docker $(docker version --format '{{.Server.Version}}') is up"
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not come up within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
