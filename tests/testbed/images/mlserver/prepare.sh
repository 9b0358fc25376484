#!/usr/bin/env bash
# This image's Python wheels, fetched on the host for an offline `docker build`: see ../../lib/python_wheels.sh.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../lib/python_wheels.sh" "$here" "$@"
