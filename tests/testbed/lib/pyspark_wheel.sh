#!/usr/bin/env bash
# The pyspark wheel, built once per machine and shared by the images that carry Spark (spark, jupyter).
# pyspark is published on PyPI as an sdist only (about 430 MB, mostly Spark's jars); building it into a wheel
# takes about a minute. Both images build side by side (build_images.sh), so the build holds a lock: the
# second one waits and reuses the first one's wheel instead of downloading 430 MB again.
#   usage: pyspark_wheel.sh VERSION   prints the directory that holds the wheel
set -euo pipefail
version="${1:?usage: pyspark_wheel.sh VERSION}"
root="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/pyspark-wheel"
cache="$root/$version"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"
mkdir -p "$root"
exec 8>"$root/.lock-$version"
flock 8
if [[ ! -f "$cache/.complete" ]]; then
    tmp="$(mktemp -d "$root/.build.XXXXXX")"; trap 'rm -rf "$tmp"' EXIT
    echo "pyspark_wheel: building the pyspark $version wheel from its sdist into $cache" >&2
    "$PY" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w "$tmp" "pyspark==$version" >&2
    touch "$tmp/.complete"
    rm -rf "$cache"; mv "$tmp" "$cache"
fi
echo "$cache"
