#!/usr/bin/env bash
# The Python wheels of an image that carries Spark (jupyter, which is also devstack's Spark master and worker),
# for an offline `docker build`.
# pyspark is published on PyPI as an sdist only (about 430 MB, mostly Spark's jars); building it into a wheel
# takes about a minute. It is built once per machine, at the version the image's requirements.txt pins, under a
# lock (images that build side by side in build_images.sh, or notebook_venv.sh, wait and reuse the first one's
# wheel instead of downloading 430 MB again), and offered to the shared fetcher (python_wheels.sh) through pip's
# PIP_FIND_LINKS, so `--only-binary=:all:` finds it like any other wheel. The wheel is pure Python
# (py2.py3-none-any): one serves every Python version.
#   usage: pyspark_wheel.sh IMAGE_DIR [CONTEXT_DIR|--relock]   (what python_wheels.sh takes)
set -euo pipefail
image="$(cd "${1:?usage: pyspark_wheel.sh IMAGE_DIR [CONTEXT_DIR|--relock]}" && pwd)"; shift
version="$(sed -n 's/^pyspark==//p' "$image/requirements.txt")"
[ -n "$version" ] || { echo "pyspark_wheel: no pyspark== pin in $image/requirements.txt" >&2; exit 1; }
root="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/pyspark-wheel"
cache="$root/$version"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"
mkdir -p "$root"
(
    flock 8
    if [[ ! -f "$cache/.complete" ]]; then
        tmp="$(mktemp -d "$root/.build.XXXXXX")"; trap 'rm -rf "$tmp"' EXIT
        echo "pyspark_wheel: building the pyspark $version wheel from its sdist into $cache" >&2
        "$PY" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w "$tmp" "pyspark==$version" >&2
        touch "$tmp/.complete"
        rm -rf "$cache"; mv "$tmp" "$cache"
    fi
) 8>"$root/.lock-$version"
export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$cache"
exec bash "$(dirname "${BASH_SOURCE[0]}")/python_wheels.sh" "$image" "$@"
