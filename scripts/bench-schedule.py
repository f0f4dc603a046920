#!/usr/bin/env python3
"""Scheduling benchmark of `build` against a fake engine (not a timed test).

The default root's 27 stages are "built" by a fake engine that sleeps each
stage's share of a real build (base 2.0 s, boost 1.5 s, the final stage
0.5 s, every other package 0.2 to 0.8 s by name). Reported, median of RUNS:

- full build: wall time / the critical path (the longest chain of sleeps);
- the same with slow lookups (every `git ls-remote` takes 1 s): the base
  and the pinned packages build meanwhile, so the ratio barely moves;
- --jobs 2: wall time / the 2-worker lower bound (base, then the longer of
  the longest package chain and half the package work, then final: every
  package needs base and final needs every package);
- no-op (every tag exists): wall time, and how many engine calls it made;
- 10,000 stages (scripts/gen-tree.py, a fake engine that returns at once):
  peak resident memory of the tool.

Usage: scripts/bench-schedule.py [RUNS]   (default 5)
       BENCH_BIN=/path/to/an/earlier/build scripts/bench-schedule.py   (a baseline)
"""

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN: another build of the tool (an earlier version, as a baseline).
BIN = os.environ.get("BENCH_BIN") or os.path.join(REPO, "target", "release", "build-unit-test-docker")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5

ENGINE = r"""#!/bin/sh
# Fake engine: image ls answers $BENCH_DIR/existing; build sleeps the
# stage's share from $BENCH_DIR/durations/<stage>.
echo "$1" >> "$BENCH_DIR/calls"
case "$1" in
  image) cat "$BENCH_DIR/existing" 2>/dev/null; exit 0 ;;
  build)
    tag=; prev=
    for a in "$@"; do [ "$prev" = "-t" ] && tag=$a; prev=$a; done
    cat >/dev/null
    repo=${tag%%:*}
    stage=${repo#bench/unit-}
    [ "$repo" = bench/unit ] && stage=final
    d=$(cat "$BENCH_DIR/durations/$stage" 2>/dev/null || echo 0)
    [ "$d" = 0 ] || sleep "$d"
    exit 0 ;;
esac
exit 0
"""

GIT = r"""#!/bin/sh
[ -n "$BENCH_GIT_DELAY" ] && sleep "$BENCH_GIT_DELAY"
for last; do :; done
pkg=${last#https://github.com/}
printf '%s\trefs/heads/master\n' "$(printf '%s' "$pkg@master" | sha1sum | cut -d' ' -f1)"
"""


def tool(args, env_extra, bench_dir, bindir):
    env = dict(os.environ)
    env.update(
        {
            "PATH": bindir + ":" + env["PATH"],
            "BENCH_DIR": bench_dir,
            "DOCKER_IMAGE_NAME": "bench/unit",
            "SOURCE_DATE_EPOCH": "1613131200",
            "BUILD_UNIT_TEST_CPUS": "2",
            "BUILD_UNIT_TEST_CACHE_DIR": os.path.join(bench_dir, "cache"),
            "USER": "root",
            "HOME": "/root",
        }
    )
    env.update(env_extra)
    return subprocess.run(
        [BIN] + args, env=env, capture_output=True, text=True, check=False
    )


def share(stage):
    fixed = {"base": 2.0, "boost": 1.5, "final": 0.5}
    if stage in fixed:
        return fixed[stage]
    h = int(hashlib.sha256(stage.encode()).hexdigest(), 16)
    return round(0.2 + (h % 7) * 0.1, 1)


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
        os.makedirs(os.path.join(bench, "durations"))

        # The stages, their dependencies and shares.
        listing = json.loads(
            tool(["--root", REPO, "list", "--format", "json"], {}, bench, bindir).stdout
        )
        stage_of = {p["name"]: p["name"].replace("/", "-").lower() for p in listing}
        deps = {stage_of[p["name"]]: [stage_of[d] for d in p["depends"]] for p in listing}
        durations = {s: share(s) for s in list(deps) + ["base", "final"]}
        for s, d in durations.items():
            with open(os.path.join(bench, "durations", s), "w") as f:
                f.write(str(d))
        memo = {}

        def chain(s):  # longest finish time of a package stage, after base
            if s not in memo:
                memo[s] = durations[s] + max((chain(d) for d in deps[s]), default=0)
            return memo[s]

        critical = durations["base"] + max(chain(s) for s in deps) + durations["final"]
        total = sum(durations.values())
        packages = total - durations["base"] - durations["final"]
        lower_2 = durations["base"] + max(max(chain(s) for s in deps), packages / 2) + durations["final"]

        def timed(args, env_extra=None):
            open(os.path.join(bench, "calls"), "w").close()
            t0 = time.monotonic()
            out = tool(["--root", REPO, "build", "--engine", engine] + args, env_extra or {}, bench, bindir)
            took = time.monotonic() - t0
            assert out.returncode == 0, out.stderr[-2000:]
            with open(os.path.join(bench, "calls")) as f:
                calls = len(f.read().split())
            return took, calls

        open(os.path.join(bench, "existing"), "w").close()
        full = [timed([])[0] for _ in range(RUNS)]
        slow = [timed([], {"BENCH_GIT_DELAY": "1"})[0] for _ in range(RUNS)]
        jobs2 = [timed(["--jobs", "2"])[0] for _ in range(RUNS)]
        tags = tool(["--root", REPO, "render"], {}, bench, bindir).stdout
        with open(os.path.join(bench, "existing"), "w") as f:
            for line in tags.split("### tags.txt\n", 1)[1].splitlines():
                f.write(line.split(" ", 1)[1] + "\n")
        noop = [timed([]) for _ in range(max(RUNS, 10))]

        # 10,000 stages: peak memory of a full build whose engine returns at once.
        big = os.path.join(work, "t10k")
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gen-tree.py"), "10000", big], check=True)
        for s in os.listdir(os.path.join(bench, "durations")):
            os.remove(os.path.join(bench, "durations", s))
        open(os.path.join(bench, "existing"), "w").close()
        probe = (
            "import resource, subprocess, sys, os\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], BENCH_DIR=bench,
                   DOCKER_IMAGE_NAME="bench/unit", BUILD_UNIT_TEST_CACHE_DIR=os.path.join(bench, "cache"))
        t0 = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", probe, BIN, "--root", big, "build", "--engine", engine],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()
        big_took = time.monotonic() - t0
        code, peak_kb = int(out[0]), int(out[1])

        print(f"stages: {len(durations)}, critical path {critical:.2f} s, total work {total:.2f} s")
        print(f"full build:  median {statistics.median(full):.3f} s = {statistics.median(full) / critical:.3f} x the critical path")
        print(f"slow lookups: median {statistics.median(slow):.3f} s = {statistics.median(slow) / critical:.3f} x the critical path (lookups 1 s each)")
        print(f"--jobs 2:    median {statistics.median(jobs2):.3f} s = {statistics.median(jobs2) / lower_2:.3f} x the lower bound {lower_2:.2f} s")
        calls = sorted({c for _, c in noop})
        print(f"no-op:       median {statistics.median(t for t, _ in noop):.3f} s, engine calls per run: {calls}")
        print(f"10,000 stages: exit {code}, peak RSS {peak_kb / 1024:.1f} MB, {big_took:.1f} s")


if __name__ == "__main__":
    main()
