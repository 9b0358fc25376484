#!/usr/bin/env bash
# This image's Python wheels for ./python-version (trixie's python3), pyspark's built once per machine:
# see ../../lib/pyspark_wheel.sh and ../../lib/python_wheels.sh.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../lib/pyspark_wheel.sh" "$here" "$@"
