#!/usr/bin/env bash
# This image's Python wheels, fetched on the host for an offline `docker build`: see ../../lib/python_wheels.sh.
# pyspark is published on PyPI as an sdist only (about 430 MB, mostly Spark's jars): it is built into a wheel
# once per machine (about 1 min), cached, and offered to the shared fetcher through pip's PIP_FIND_LINKS, so
# `--only-binary=:all:` finds it like any other wheel.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYSPARK_VERSION="$(sed -n 's/^pyspark==//p' "$here/requirements.txt")"
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/pyspark-wheel/$PYSPARK_VERSION"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"
if [[ ! -f "$cache/.complete" ]]; then
    mkdir -p "$(dirname "$cache")"
    tmp="$(mktemp -d "$(dirname "$cache")/.build.XXXXXX")"; trap 'rm -rf "$tmp"' EXIT
    echo "jupyter/prepare: building the pyspark $PYSPARK_VERSION wheel from its sdist into $cache" >&2
    "$PY" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w "$tmp" "pyspark==$PYSPARK_VERSION" >&2
    touch "$tmp/.complete"
    rm -rf "$cache"; mv "$tmp" "$cache"
fi
export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$cache"
bash "$here/../../lib/python_wheels.sh" "$here" "$@"
