#!/usr/bin/env bash
# A host Python for the notebooks, as a user's own venv would be: ipykernel and nbclient plus what the notebooks'
# first `%pip` cell installs, from the jupyter image's wheels (fetched once by lib/python_wheels.sh) and its lock,
# installed offline. The tests run notebooks with it against the stack's host ports (`devstack env`).
#   notebook_venv.sh     # creates or checks $DEVSTACK_TESTBED_CACHE/notebook-venv; prints its path
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
img="$here/images/jupyter"
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
venv="$cache/notebook-venv"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"
want="ipykernel nbclient nbformat pandas confluent-kafka redis boto3 mlflow-skinny requests"
stamp="$( { cat "$img/requirements.txt" "$img/constraints.txt"; echo "$want"; } | sha256sum | cut -c1-12)"
if [[ -f "$venv/.devstack-stamp" && "$(cat "$venv/.devstack-stamp")" == "$stamp" ]] && "$venv/bin/python" -c 'import nbclient, ipykernel' 2>/dev/null; then
    echo "$venv"; exit 0
fi
ctx="$(mktemp -d)"; trap 'rm -rf "$ctx"' EXIT
# the image's own wheel fetch (cached once per machine), for this host's Python: the image's lock, but the image
# itself may run another minor (trixie's 3.13)
DEVSTACK_TESTBED_PY_VERSION="$("$PY" -c 'import platform; print(platform.python_version())')" \
    bash "$img/prepare.sh" "$ctx" >&2
rm -rf "$venv"
"$PY" -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir --no-index --find-links "$ctx/.wheels" \
    -c "$img/constraints.txt" $want >&2
echo "$stamp" >"$venv/.devstack-stamp"
echo "$venv"
