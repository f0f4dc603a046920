#!/usr/bin/env bash
# The long property campaign (not part of CI, which runs 500 cases a
# property): adversarial manifests, base.toml values and run settings go
# through the tool's checks; every accepted one must render Dockerfiles with
# exactly the templates' line structure, and nothing may panic. Templates
# that loop, repeat or recurse must end within their fuel (validate agreeing
# with render), and only regular files inside the root are read.
#   scripts/fuzz.sh [CASES_PER_PROPERTY]     default 350000: 1,050,000 in all
# Takes a few minutes on 2 cores with a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-350000}
start=$(date +%s)
BUD_FUZZ_CASES=$cases cargo nextest run --release --no-capture --no-fail-fast \
    -E 'binary(fuzz)' 2>&1 | grep -E '^fuzz |FAIL|panicked|minimal failing|Summary'
# Three properties at $cases each; templates at cases/64, file kinds at cases/16.
echo "fuzz: $((3 * cases + cases / 64 + cases / 16)) cases in $(( $(date +%s) - start )) s"
