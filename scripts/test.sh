#!/usr/bin/env bash
# The project's test command: bring up Docker (daemon + local base image) for
# the real-Docker end-to-end test, run every test, then stop the daemon again
# if it was not running before. Exits with the tests' status.
#
# Extra arguments go to the test runner, e.g.
#   bash scripts/test.sh e2e            # only the end-to-end test
# CI=true is passed through: there the e2e test fails instead of skipping
# when Docker is unavailable.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

# Stop the daemon afterwards only if it was not already up: one that a
# person started (by hand or with docker-up.sh) before the tests stays up.
was_up=
if docker info >/dev/null 2>&1; then was_up=1; fi
# shellcheck disable=SC2317 # called by the trap
# Machine B of the fleet-cache test is the tests' own: always stopped.
down() {
    if [ -n "${fleet_started:-}" ]; then bash "$here/fleet-down.sh" || true; fi
    if [ -z "$was_up" ]; then bash "$here/docker-down.sh" || true; fi
}
trap down EXIT

bash "$here/docker-up.sh"
bash "$here/podman-up.sh"
# The OCI runtime podman-up.sh found working, when podman's default does
# not run containers here (crun on a hybrid-cgroup host).
podman_env=${BUD_PODMAN_STATE:-/tmp/bud-podman}/env
if [ -f "$podman_env" ]; then
    CONTAINERS_CONF=$(sed -n 's/^CONTAINERS_CONF=//p' "$podman_env")
    export CONTAINERS_CONF
    echo "test.sh: podman uses CONTAINERS_CONF=$CONTAINERS_CONF" >&2
fi
if [ "$(id -u)" = 0 ]; then
    fleet_started=1
    bash "$here/fleet-up.sh"
    # The user of the rootless-podman test. A host that cannot run rootless
    # containers is recorded as such (the test skips, saying why); a setup
    # that breaks does not stop the other tests (that test fails with CI=true).
    bash "$here/rootless-up.sh" || echo "test.sh: scripts/rootless-up.sh failed" >&2
fi

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # --no-fail-fast: one failure must not hide the others.
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
    echo "test.sh: cargo-nextest not found; using cargo test" >&2
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi
exit "$status"
