#!/usr/bin/env bash
# Stops what fleet-up.sh started: machine B's dockerd, its mounts, data
# and bridge. The first daemon and its images are not touched.
set -uo pipefail
NAME=bud-docker-b
RUN=/run/$NAME
DATA=/var/lib/$NAME
if [ -f "$RUN/dockerd.pid" ]; then
    pid=$(cat "$RUN/dockerd.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null
fi
# Unmount what it left under its exec and data roots, deepest first.
for root in "$RUN" "$DATA"; do
    grep -o " $root[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
done
rm -rf "$RUN" "$DATA"
ip link delete bud-br-b 2>/dev/null
echo "fleet-down: machine B stopped" >&2
exit 0
