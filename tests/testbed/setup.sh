#!/usr/bin/env bash
# The test bed, once per machine (root): a real Docker engine with Compose v2, and the test images built
# locally (no registry is reachable here). Idempotent: a warm re-run checks and returns in seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install_engine.sh"
# k3d, kubectl, helm built from the Go module proxy, and Seldon's CRD (tools.sh), alongside the image builds:
# both spend much of their time waiting on downloads, so together they take less than one after the other
logs="${XDG_CACHE_HOME:-$HOME/.cache}/devstack-testbed/logs"
mkdir -p "$logs"
bash "$here/tools.sh" >"$logs/tools.log" 2>&1 &
tools=$!
if ! bash "$here/build_images.sh"; then
    kill "$tools" 2>/dev/null || true
    exit 1
fi
if ! wait "$tools"; then
    echo "[setup] tools.sh failed; its log ($logs/tools.log) ends with:" >&2
    tail -n 30 "$logs/tools.log" >&2
    exit 1
fi
tail -n 3 "$logs/tools.log"
# MLServer in its own venv (after the images: it reuses the wheels the mlserver image fetched)
bash "$here/images/mlserver/venv.sh" >/dev/null
# a host Python for the notebooks (after the images: it reuses the wheels the jupyter image fetched)
bash "$here/notebook_venv.sh" >/dev/null
