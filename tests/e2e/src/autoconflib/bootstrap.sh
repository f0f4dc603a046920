#!/bin/sh
# Generate configure and Makefile.in (run before ./configure).
set -e
cd "$(dirname "$0")"
autoreconf --force --install
