#!/usr/bin/env bash
# MLServer in its own virtualenv on the host, for the native MLServer tests: the same wheels as the test-bed
# image (fetched once by ../../lib/python_wheels.sh into the test-bed cache, for Python 3.11), installed offline,
# so the project's own environment never gets mlserver's pins (fastapi<0.116, its own uvicorn/grpc stack).
#   venv.sh          # creates or checks $DEVSTACK_TESTBED_CACHE/mlserver-venv; prints its path
# Idempotent: a venv stamped with the lock's hash is kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
venv="$cache/mlserver-venv"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"
stamp="$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -c1-12)"
if [[ -f "$venv/.devstack-stamp" && "$(cat "$venv/.devstack-stamp")" == "$stamp" ]] && "$venv/bin/mlserver" --version >/dev/null 2>&1; then
    echo "$venv"; exit 0
fi
case "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11) ;;
    *) echo "venv.sh: needs a Python 3.11 (the wheels are fetched for cp311); set DEVSTACK_TESTBED_PYTHON" >&2; exit 1 ;;
esac
ctx="$(mktemp -d)"; trap 'rm -rf "$ctx"' EXIT
bash "$here/../../lib/python_wheels.sh" "$here" "$ctx"
rm -rf "$venv"
"$PY" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir --no-index --find-links "$ctx/.wheels" \
    -r "$here/requirements.txt" -c "$here/constraints.txt" >&2
echo "$stamp" >"$venv/.devstack-stamp"
"$venv/bin/mlserver" --version >&2
echo "$venv"
