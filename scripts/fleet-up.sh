#!/usr/bin/env bash
# The parts of the fleet-cache test beside the first Docker daemon: Debian's
# docker-registry (the test starts its own instance of it on 127.0.0.1),
# and a second dockerd standing in for a second CI machine, with its own
# data root, exec root, pid file, socket, config and bridge (never
# --bridge=none: that deletes the host's docker0). Run as root, after
# docker-up.sh. Its socket: unix:///run/bud-docker-b/docker.sock
# (BUD_DOCKER_B_HOST for the test); scripts/fleet-down.sh stops it.
set -euo pipefail

NAME=bud-docker-b
RUN=/run/$NAME
DATA=/var/lib/$NAME
BRIDGE=bud-br-b
# A private /24 on a bridge of its own; containers of machine B use it.
BRIDGE_CIDR=${BUD_BRIDGE_B_CIDR:-172.31.254.1/24}
SOCK=unix://$RUN/docker.sock
log() { printf 'fleet-up: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "needs root (a second dockerd)"; exit 1
fi
if ! command -v docker-registry >/dev/null 2>&1; then
    log "installing docker-registry"
    # Its service does not start here and wants a password file: the test
    # runs its own instance with a config of its own, so keep it stopped.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y docker-registry >/dev/null 2>&1 || {
        timeout 300 apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y docker-registry >/dev/null
    }
    rm -f /usr/sbin/policy-rc.d
fi
systemctl stop docker-registry >/dev/null 2>&1 || true

if DOCKER_HOST=$SOCK timeout 10 docker info >/dev/null 2>&1; then
    log "machine B answers on $SOCK"; exit 0
fi
mkdir -p "$RUN" "$DATA"
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
fi
ip link set "$BRIDGE" up
echo '{}' > "$RUN/daemon.json"
log "starting machine B's dockerd (log: $RUN/dockerd.log)"
setsid dockerd --data-root "$DATA" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
    -H "$SOCK" --config-file "$RUN/daemon.json" --bridge="$BRIDGE" \
    --iptables=false --ip-forward=false --ip-masq=false \
    >"$RUN/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
    if DOCKER_HOST=$SOCK docker info >/dev/null 2>&1; then
        log "machine B answers on $SOCK"; exit 0
    fi
    sleep 1
done
tail -n 20 "$RUN/dockerd.log" >&2 || true
log "machine B's dockerd did not answer"; exit 1
