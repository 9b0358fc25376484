#!/usr/bin/env bash
# This image's Python wheels, fetched on the host for an offline `docker build`: see ../../lib/python_wheels.sh.
# The pyspark wheel (Spark's bin/, sbin/ and jars/) comes from the per-machine cache that
# ../../lib/pyspark_wheel.sh shares with the jupyter image: one 430 MB download and one build for both.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYSPARK_VERSION="$(sed -n 's/^pyspark==//p' "$here/requirements.txt")"
cache="$(bash "$here/../../lib/pyspark_wheel.sh" "$PYSPARK_VERSION")"
export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$cache"
bash "$here/../../lib/python_wheels.sh" "$here" "$@"
