#!/usr/bin/env bash
# Make the source tarballs the e2e manifests download:
#   make-tarballs.sh OUTDIR [ROOT]
# For every ROOT/packages.d/*.toml (ROOT defaults to this script's directory)
# whose sources are in ROOT/src/<last segment of the name>, writes
#   OUTDIR/<name with / as ->-<rev>.tar.gz
# with a single top directory <segment>-<rev>/, as the manifests' url and the
# package template's `cd <segment>*` expect. Manifests without sources (the
# e2e test's deliberately missing package) are skipped with a note.
# Output is reproducible: sorted entries, fixed owner and mtime, gzip -n.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUTDIR [ROOT]" >&2
    exit 2
fi
out=$1
root=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The value of a top-level `key = "value"` line of a manifest.
field() {
    sed -n "s/^$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1
}

count=0
for manifest in "$root"/packages.d/*.toml; do
    name=$(field name "$manifest")
    rev=$(field rev "$manifest")
    if [ -z "$name" ] || [ -z "$rev" ]; then
        echo "make-tarballs: $manifest: no name or rev; skipped" >&2
        continue
    fi
    segment=${name##*/}
    src=$root/src/$segment
    if [ ! -d "$src" ]; then
        echo "make-tarballs: $name: no sources in $src; skipped" >&2
        continue
    fi
    tarball=$out/${name//\//-}-$rev.tar.gz
    top=$segment-$rev
    tar -C "$root/src" \
        --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
        --transform "s,^$segment,$top," \
        -c "$segment" | gzip -n >"$tarball"
    echo "make-tarballs: $tarball" >&2
    count=$((count + 1))
done
echo "make-tarballs: $count tarball(s) in $out" >&2
