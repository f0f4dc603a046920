#!/bin/sh
# Generate the build system, then configure with the arguments given
# (e.g. ./autogen.sh --prefix=/usr/local).
set -e
cd "$(dirname "$0")"
autoreconf --force --install
exec ./configure "$@"
