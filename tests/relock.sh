#!/usr/bin/env bash
# Refresh requirements-dev.lock, the hash-pinned lock that .ci/run and README's test setup install from.
# Run it on purpose and commit the result on its own ("deps: ..."), never as part of another change: a new
# release of a dependency then reaches main only through a commit whose CI ran on it.
#   bash tests/relock.sh            re-resolve everything to the newest versions pyproject.toml's ranges allow
#   bash tests/relock.sh -P redis   move only redis (uv's --upgrade-package); the rest stays as locked
# The lock is universal (Linux and macOS, x86-64 and arm64) for Python 3.11, the oldest the project supports,
# and holds the build backend too, so the editable install needs nothing unpinned (--no-build-isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tool="${XDG_CACHE_HOME:-$HOME/.cache}/devstack-relock/uv-$UV_VERSION"
if [ ! -x "$tool/bin/uv" ]; then
    python3 -m venv "$tool"
    "$tool/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
# the build backend as pyproject.toml requires it, and what hatchling asks for to build an editable wheel
build_backend="$(sed -n 's/^requires = \["\(hatchling[^"]*\)"\]/\1/p' pyproject.toml)"
[ -n "$build_backend" ] || { echo "relock: no hatchling requirement in pyproject.toml [build-system]" >&2; exit 1; }
upgrade=(--upgrade)
if [ "${1:-}" = -P ]; then upgrade=(--upgrade-package "${2:?-P needs a package name}"); fi
[ -f requirements-dev.lock ] || upgrade=()
printf '%s\neditables\n' "$build_backend" | "$tool/bin/uv" pip compile pyproject.toml - --extra test \
    --generate-hashes --universal --python-version 3.11 "${upgrade[@]}" \
    --custom-compile-command "bash tests/relock.sh" -o requirements-dev.lock
