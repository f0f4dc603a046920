#!/usr/bin/env bash
# Wall time of `build-unit-test-docker validate`, from process start to exit,
# on the shipped packages.d and on generated trees of 1,000 and 10,000
# manifests. Usage: scripts/bench-validate.sh [RUNS]   (default 20)
#        BENCH_BIN=/path/to/an/earlier/build scripts/bench-validate.sh   (a baseline)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/build-unit-test-docker
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen-tree.py 1000 "$work/t1k"
python3 scripts/gen-tree.py 10000 "$work/t10k"

measure() { # root -> prints "min median max" in ms
  local root=$1 i t0 t1 times=()
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    "$bin" validate --root "$root" 2>/dev/null
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "min %.1f ms  median %.1f ms  max %.1f ms\n", a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000}'
}

printf '%-28s %s\n' "packages.d (25 manifests)" "$(measure .)"
printf '%-28s %s\n' "1,000 generated manifests" "$(measure "$work/t1k")"
printf '%-28s %s\n' "10,000 generated manifests" "$(measure "$work/t10k")"
