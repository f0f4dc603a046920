#!/usr/bin/env bash
# Stop the Docker daemon, but only one that scripts/docker-up.sh started (as
# recorded in its state file). A daemon that was already running is left alone.
set -euo pipefail

STATE_DIR=${BUD_STATE_DIR:-/tmp/bud-docker}
STATE_FILE=$STATE_DIR/dockerd.state

log() { printf 'docker-down: %s\n' "$*" >&2; }

if [ ! -f "$STATE_FILE" ]; then
    log "no dockerd started by docker-up; nothing to stop"
    exit 0
fi

mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/lock"
flock -w 600 9 || { log "another docker-up holds $STATE_DIR/lock"; exit 1; }

pid=$(sed -n 's/^pid=//p' "$STATE_FILE")
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid ${pid:-?}) is not running any more"
    rm -f "$STATE_FILE"
    exit 0
fi
# The pid must still be a dockerd, not a recycled number.
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
    log "pid $pid is no longer dockerd; leaving it alone"
    rm -f "$STATE_FILE"
    exit 0
fi

log "stopping dockerd (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
if kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) still running after 30s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$STATE_FILE"
log "dockerd stopped"
