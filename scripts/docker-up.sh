#!/usr/bin/env bash
# Make a Docker daemon and the local base image available for the real-Docker
# tests, on a machine that may have neither. Idempotent: a second run only
# checks and returns.
#
#   1. installs docker.io and debootstrap with apt-get when missing;
#   2. starts dockerd in the background when `docker info` does not answer,
#      and records that this script started it (docker-down.sh stops only
#      a daemon recorded here);
#   3. waits until `docker info` answers;
#   4. makes the base image bud-debian:bookworm (debootstrap minbase from the
#      Debian mirror apt already uses, then `docker import`) unless it exists.
#
# Environment:
#   BUD_STATE_DIR      state and logs (default /tmp/bud-docker)
#   BUD_BASE_IMAGE     tag of the base image (default bud-debian:bookworm)
#   BUD_SUITE          Debian suite to bootstrap (default bookworm)
#   BUD_DEBIAN_MIRROR  mirror for debootstrap (default: read from apt sources)
#   BUD_DOCKER_TIMEOUT seconds to wait for the daemon (default 60)
set -euo pipefail

STATE_DIR=${BUD_STATE_DIR:-/tmp/bud-docker}
BASE_IMAGE=${BUD_BASE_IMAGE:-bud-debian:bookworm}
SUITE=${BUD_SUITE:-bookworm}
TIMEOUT=${BUD_DOCKER_TIMEOUT:-60}
STATE_FILE=$STATE_DIR/dockerd.state

log() { printf 'docker-up: %s\n' "$*" >&2; }
die() { printf 'docker-up: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$STATE_DIR"
# Two concurrent runs (two test processes, say) must not start two daemons
# or bootstrap twice.
exec 9>"$STATE_DIR/lock"
flock -w 600 9 || die "another docker-up holds $STATE_DIR/lock"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- 1. packages -----------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    # Unique names, in order.
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
    log "installing ${missing[*]} with apt-get"
    # Keep the package's maintainer scripts from starting a daemon of their
    # own: the daemon this script starts is the one it can stop again.
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        policy_added=1
    fi
    apt_install() {
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}" >&2
    }
    # A machine that never ran apt-get update has no package lists at all.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        log "no apt package lists yet; running apt-get update"
        as_root apt-get update >&2
    fi
    if ! apt_install; then
        log "apt-get install failed; running apt-get update and retrying"
        as_root apt-get update >&2
        if ! apt_install; then
            if [ -n "$policy_added" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
            die "could not install ${missing[*]}"
        fi
    fi
    if [ -n "$policy_added" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
fi

# --- 2. + 3. the daemon ------------------------------------------------------
docker_answers() { docker info >/dev/null 2>&1; }

if docker_answers; then
    log "docker daemon already answers"
else
    # A state file from a daemon that has died since is stale.
    if [ -f "$STATE_FILE" ]; then
        old_pid=$(sed -n 's/^pid=//p' "$STATE_FILE")
        if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
            log "dockerd (pid $old_pid, started by docker-up) is running but does not answer yet"
        else
            rm -f "$STATE_FILE"
        fi
    fi
    # A daemon killed moments ago (say, at the end of the previous session)
    # may still hold its pid file or containerd socket: a fresh one then
    # exits at once. Try again a couple of times before giving up.
    attempt=1
    while :; do
        if [ ! -f "$STATE_FILE" ]; then
            daemon_log=$STATE_DIR/dockerd.log
            log "starting dockerd (log: $daemon_log)"
            # setsid: the daemon outlives this script and its process group.
            if [ "$(id -u)" -eq 0 ]; then
                setsid dockerd >"$daemon_log" 2>&1 </dev/null 9>&- &
            else
                # shellcheck disable=SC2024 # the log is ours, not root's
                sudo setsid dockerd >"$daemon_log" 2>&1 </dev/null 9>&- &
            fi
            pid=$!
            printf 'started_by=docker-up\npid=%s\nlog=%s\n' "$pid" "$daemon_log" >"$STATE_FILE"
        fi
        pid=$(sed -n 's/^pid=//p' "$STATE_FILE")
        waited=0
        exited=no
        until docker_answers; do
            if ! kill -0 "$pid" 2>/dev/null; then
                exited=yes
                break
            fi
            if [ "$waited" -ge "$TIMEOUT" ]; then
                tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
                die "dockerd (pid $pid) did not answer \`docker info\` within ${TIMEOUT}s; see $STATE_DIR/dockerd.log"
            fi
            sleep 1
            waited=$((waited + 1))
        done
        [ "$exited" = no ] && break
        rm -f "$STATE_FILE"
        if [ "$attempt" -ge 3 ]; then
            log "dockerd exited; last lines of its log:"
            tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
            die "dockerd did not start"
        fi
        log "dockerd exited at once (attempt $attempt); retrying in 3 s"
        attempt=$((attempt + 1))
        sleep 3
    done
    # dockerd's own pid file names the daemon itself (not a sudo or setsid
    # in front of it).
    if [ -r /var/run/docker.pid ]; then
        pid=$(cat /var/run/docker.pid)
        sed -i "s/^pid=.*/pid=$pid/" "$STATE_FILE"
    fi
    log "dockerd (pid $pid) answers after ${waited}s"
fi

# --- 4. the base image -------------------------------------------------------
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE exists"
    exit 0
fi

# The Debian mirror that apt on this machine already uses: deb822 sources
# (URIs:/Suites:) first, then one-line sources.list entries.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            function flush() {
                if (uris != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ")) {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                uris = ""; suites = ""; types = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            /^URIs:/   { sub(/^URIs:[ \t]*/, ""); uris = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^Types:/  { sub(/^Types:[ \t]*/, ""); types = $0 }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }
        ' "$f"
    done
}

MIRROR=${BUD_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
    MIRROR=$(find_mirror | head -n 1)
fi
if [ -z "$MIRROR" ]; then
    MIRROR=http://deb.debian.org/debian
    log "no apt source for $SUITE found; using $MIRROR"
fi

rootfs=$(mktemp -d "$STATE_DIR/rootfs.XXXXXX")
cleanup() { as_root rm -rf "$rootfs"; }
trap cleanup EXIT

log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $STATE_DIR/debootstrap.log)"
start=$(date +%s)
if ! as_root debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$STATE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$STATE_DIR/debootstrap.log" >&2 || true
    die "debootstrap failed; see $STATE_DIR/debootstrap.log"
fi
mid=$(date +%s)
# Downloaded .debs are not part of the image.
as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/debootstrap
log "importing the root file system as $BASE_IMAGE"
as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$BASE_IMAGE" >/dev/null
end=$(date +%s)
log "base image $BASE_IMAGE ready (debootstrap $((mid - start))s, import $((end - mid))s)"
