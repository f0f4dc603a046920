#!/usr/bin/env bash
# The main job on a fresh machine: make sure a Docker daemon answers
# (installing and starting one if needed, see docker-up.sh), then build the
# unit-test image of this project root and print its tag on stdout.
#   scripts/run.sh [build-unit-test-docker arguments]   e.g. --jobs 4
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/docker-up.sh >&2
exec cargo run --quiet --release -- "$@"
