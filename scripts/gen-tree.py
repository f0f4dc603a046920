#!/usr/bin/env python3
"""Writes a synthetic project root with N package manifests (for benchmarks).

Usage: scripts/gen-tree.py N OUTDIR
Each package depends on up to two earlier ones, so the graph is a DAG with
long chains; the templates are the project's own.
"""
import os
import shutil
import sys

n, out = int(sys.argv[1]), sys.argv[2]
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(os.path.join(repo, "templates"), os.path.join(out, "templates"))
pkgs = os.path.join(out, "packages.d")
os.makedirs(pkgs)
for i in range(n):
    name = f"gen/pkg{i:05d}"
    deps = [f"gen/pkg{j:05d}" for j in sorted({i // 2, i - 1}) if 0 <= j < i]
    kind = ["cmake", "meson", "autoconf", "custom"][i % 4]
    lines = [
        "#:schema ../schema/package.schema.json",
        f"# synthetic package {i}",
        f'name = "{name}"',
        f'rev = "v1.{i}.0"',
        f'build_type = "{kind}"',
    ]
    if deps:
        lines.append("depends = [" + ", ".join(f'"{d}"' for d in deps) + "]")
    if kind == "custom":
        lines.append('build_steps = ["make -j{{ jobs }}", "make install PREFIX={{ prefix }}"]')
    else:
        lines.append('config_flags = ["-Dtests=disabled", "-Dexamples=false"]')
    with open(os.path.join(pkgs, f"gen-pkg{i:05d}.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")
