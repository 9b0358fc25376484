#!/usr/bin/env bash
# This image's Python wheels, fetched on the host for an offline `docker build`: see ../../lib/python_wheels.sh.
# pyspark is an sdist only on PyPI: ../../lib/pyspark_wheel.sh builds its wheel once per machine (shared with
# the spark image) and it is offered to the shared fetcher through pip's PIP_FIND_LINKS, so
# `--only-binary=:all:` finds it like any other wheel.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYSPARK_VERSION="$(sed -n 's/^pyspark==//p' "$here/requirements.txt")"
cache="$(bash "$here/../../lib/pyspark_wheel.sh" "$PYSPARK_VERSION")"
export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$cache"
bash "$here/../../lib/python_wheels.sh" "$here" "$@"
