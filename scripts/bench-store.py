#!/usr/bin/env python3
"""The build store's cost on a no-op build (a benchmark, not a timed test).

A no-op build of the default root (every tag exists on a fake engine) is
run side by side, interleaved, with two cache folders:

- "own only": the store holds only this root's 27 stages (what one build
  of it recorded);
- "3,000 foreign": the same, plus the 3,000 stages of another root
  (scripts/gen-tree.py 3000, built on the same fake engine with the same
  cache folder, so recorded by the tool itself).

Reported: the median wall time of RUNS runs of each and their ratio, the
store file's size, and the file calls of one run of each under
`strace -c -e trace=%file,getdents64` (every call on a path, openat,
getdents64): of the tool alone, and with -f (the fake engine's and the
fake git's shells too: 27 lookups, the default root's unpinned packages).

Usage: scripts/bench-store.py [RUNS]   (default 100)
       BENCH_BIN=/path/to/an/earlier/build scripts/bench-store.py   (a baseline)
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN: another build of the tool (an earlier version, as a baseline).
BIN = os.environ.get("BENCH_BIN") or os.path.join(REPO, "target", "release", "build-unit-test-docker")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 100

ENGINE = r"""#!/bin/sh
# Fake engine: image ls answers $BENCH_DIR/existing; build records the tag.
case "$1" in
  image) cat "$BENCH_DIR/existing" 2>/dev/null; exit 0 ;;
  build)
    tag=; prev=
    for a in "$@"; do [ "$prev" = "-t" ] && tag=$a; prev=$a; done
    cat >/dev/null
    echo "$tag" >> "$BENCH_DIR/existing"
    exit 0 ;;
esac
exit 0
"""

GIT = r"""#!/bin/sh
for last; do :; done
pkg=${last#https://github.com/}
printf '%s\trefs/heads/master\n' "$(printf '%s' "$pkg@master" | sha1sum | cut -d' ' -f1)"
"""


def main():
    if "BENCH_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory() as work:
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        for name, text in (("engine", ENGINE), ("git", GIT)):
            path = os.path.join(bindir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        engine = os.path.join(bindir, "engine")
        bench = os.path.join(work, "bench")
        os.makedirs(bench)
        own = os.path.join(work, "cache-own")
        foreign = os.path.join(work, "cache-foreign")

        def run(root, cache, prefix=()):
            env = dict(os.environ)
            env.update(
                {
                    "PATH": bindir + ":" + env["PATH"],
                    "BENCH_DIR": bench,
                    "DOCKER_IMAGE_NAME": "bench/unit",
                    "SOURCE_DATE_EPOCH": "1613131200",
                    "BUILD_UNIT_TEST_CPUS": "2",
                    "BUILD_UNIT_TEST_CACHE_DIR": cache,
                    "USER": "root",
                    "HOME": "/root",
                }
            )
            t0 = time.monotonic()
            out = subprocess.run(
                list(prefix) + [BIN, "--root", root, "build", "--engine", engine],
                env=env, capture_output=True, text=True, check=False,
            )
            took = time.monotonic() - t0
            assert out.returncode == 0, out.stderr[-2000:]
            assert "warning" not in out.stderr, out.stderr[-2000:]
            return took

        # Another root's 3,000 stages, recorded by the tool in `foreign`.
        big = os.path.join(work, "t3k")
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gen-tree.py"), "3000", big], check=True)
        t0 = time.monotonic()
        run(big, foreign)
        fill = time.monotonic() - t0
        # The default root, built once in each (then every tag exists).
        run(REPO, own)
        run(REPO, foreign)
        shutil.rmtree(big)

        times = {own: [], foreign: []}
        # Interleaved, each first in every other pair: neither gains from
        # its place.
        for i in range(RUNS):
            for cache in (own, foreign) if i % 2 == 0 else (foreign, own):
                times[cache].append(run(REPO, cache))

        def calls(cache, follow):
            out = os.path.join(work, "strace.txt")
            run(REPO, cache, ["strace"] + (["-f"] if follow else []) + ["-c", "-o", out, "-e", "trace=%file,getdents64"])
            counts = {}
            with open(out) as f:
                for line in f:
                    m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                    if m and m.group(2) != "total":
                        counts[m.group(2)] = int(m.group(1))
            return counts

        def size_of(cache):
            return sum(
                os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(cache) for f in files
            )

        size = {c: size_of(c) for c in (own, foreign)}
        med = {c: statistics.median(t) for c, t in times.items()}
        print(f"filling the store with 3,000 foreign stages: {fill:.1f} s")
        for label, cache in (("own only", own), ("3,000 foreign", foreign)):
            print(
                f"{label:>14}: no-op median {med[cache] * 1000:.1f} ms over {RUNS} runs; "
                f"cache folder {size[cache] / 1024:.0f} KiB"
            )
            for who, follow in (("the tool", False), ("with -f", True)):
                c = calls(cache, follow)
                print(
                    f"{'':>16}file calls, {who}: {sum(c.values())} "
                    f"(openat {c.get('openat', 0)}, getdents64 {c.get('getdents64', 0)})"
                )
        print(f"ratio 3,000 foreign / own only: {med[foreign] / med[own]:.3f}")


if __name__ == "__main__":
    main()
