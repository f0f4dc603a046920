#!/usr/bin/env bash
# Makes Debian's podman ready for the podman end-to-end test: installs it
# when missing (as root), gives it the local base image that docker-up.sh
# made (docker save | podman load), and picks an OCI runtime that works on
# this host. Run docker-up.sh first.
#
# The runtime: podman's default (crun on most machines) is tried first with
# a one-line container. Where it fails -- crun refuses hosts that mount
# cgroups in hybrid mode (v1 controllers plus /sys/fs/cgroup/unified) --
# runc is tried through a containers.conf of this script's own, never by
# editing the machine's files. The file that works is written to
#   $BUD_PODMAN_STATE/containers.conf   (default /tmp/bud-podman)
# and named in $BUD_PODMAN_STATE/env (`CONTAINERS_CONF=…`), which
# scripts/test.sh reads; with the default runtime working, neither exists.
#
# Environment:
#   BUD_PODMAN_STATE  state folder (default /tmp/bud-podman)
#   BUD_BASE_IMAGE    the base image (default bud-debian:bookworm)
#   CONTAINERS_CONF   if set, tried first, as podman would read it (the
#                     runc fallback replaces it for the tests)
set -euo pipefail

base=${BUD_BASE_IMAGE:-bud-debian:bookworm}
state=${BUD_PODMAN_STATE:-/tmp/bud-podman}
log() { printf 'podman-up: %s\n' "$*" >&2; }
die() { printf 'podman-up: error: %s\n' "$*" >&2; exit 1; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "$* is not installed; run as root to install it"
    fi
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y "$@" >/dev/null 2>&1 || {
        timeout 300 apt-get update >/dev/null
        timeout 600 apt-get install -y "$@" >/dev/null
    }
}

command -v podman >/dev/null 2>&1 || apt_install podman
mkdir -p "$state"

if timeout 60 podman image exists "$base"; then
    log "base image $base present"
else
    log "loading $base from docker"
    timeout 300 docker save "$base" | timeout 300 podman load >/dev/null
    timeout 60 podman image exists "$base"
    log "base image $base ready"
fi

# One short container, with the limits the e2e test gives `podman run`
# (podman 4.3 asks for more than some sandboxes' hard limits). Prints what
# the runtime said when it fails.
probe() {
    timeout 120 podman run --rm --network=host \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        "$base" true 2>&1 >/dev/null
}

# Our own file from an earlier run is decided afresh.
if [ "${CONTAINERS_CONF:-}" = "$state/containers.conf" ]; then unset CONTAINERS_CONF; fi
runtime=$(timeout 30 podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || echo unknown)
if said=$(probe); then
    rm -f "$state/containers.conf" "$state/env"
    log "podman's runtime ($runtime) runs containers here"
    exit 0
fi
log "podman's runtime ($runtime) fails here: $(printf '%s' "$said" | tail -n 1)"
case $said in
*"hybrid mode"*) log "this host mounts cgroups in hybrid mode, which crun refuses; trying runc" ;;
*) log "trying runc" ;;
esac

command -v runc >/dev/null 2>&1 || apt_install runc
conf=$state/containers.conf
# CONTAINERS_CONF replaces every other containers.conf (the machine's and a
# caller's): this one only sets the runtime.
printf '[engine]\nruntime = "runc"\n' >"$conf.tmp"
mv "$conf.tmp" "$conf"
export CONTAINERS_CONF=$conf
if said_runc=$(probe); then
    printf 'CONTAINERS_CONF=%s\n' "$conf" >"$state/env"
    log "runc works: the tests use CONTAINERS_CONF=$conf (written to $state/env)"
    exit 0
fi
rm -f "$conf" "$state/env"
die "no OCI runtime runs containers here; $runtime said: $(printf '%s' "$said" | tail -n 1); runc said: $(printf '%s' "$said_runc" | tail -n 1)"
