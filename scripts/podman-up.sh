#!/usr/bin/env bash
# Makes Debian's podman ready for the podman end-to-end test: installs it
# when missing (as root) and gives it the local base image that
# docker-up.sh made (docker save | podman load). Run docker-up.sh first.
set -euo pipefail

base=bud-debian:bookworm
if ! command -v podman >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "podman-up: podman is not installed; run as root to install it" >&2
        exit 1
    fi
    echo "podman-up: installing podman" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y podman >/dev/null 2>&1 || {
        timeout 300 apt-get update >/dev/null
        timeout 600 apt-get install -y podman >/dev/null
    }
fi
if timeout 60 podman image exists "$base"; then
    echo "podman-up: base image $base present" >&2
    exit 0
fi
echo "podman-up: loading $base from docker" >&2
timeout 300 docker save "$base" | timeout 300 podman load >/dev/null
timeout 60 podman image exists "$base"
echo "podman-up: base image $base ready" >&2
