#!/usr/bin/env bash
# This image's Python wheels, pyspark's built once per machine and shared with the other Spark image:
# see ../../lib/pyspark_wheel.sh and ../../lib/python_wheels.sh.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../lib/pyspark_wheel.sh" "$here" "$@"
