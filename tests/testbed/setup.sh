#!/usr/bin/env bash
# The test bed, once per machine (root): a real Docker engine with Compose v2, and the test images built
# locally (no registry is reachable here). Idempotent: a warm re-run checks and returns in seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install_engine.sh"
# privileged containers (k3d's nodes are all privileged): on VMs whose init withholds a capability (here
# CAP_SYS_RESOURCE) the engine gets runc-capfix as its default runtime (k3s/STANDIN.md). It reloads dockerd
# (SIGHUP), so before anything builds; read from dockerd's bounding set, needs no image; a no-op elsewhere
bash "$here/k3s/engine_capfix.sh" --if-needed
# the e2e stacks' shifted ports out of the kernel's ephemeral range (reserve_ports.sh says why)
bash "$here/reserve_ports.sh"
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
# the k3s/k3d stand-in and Seldon's operator + chart (k3s/cluster_testbed.sh): about 20 minutes of Go builds
# from cold (seconds warm), so detached: they overlap the rest of setup and the tests. A test that needs them
# runs k3s/cluster_testbed.sh, which waits for this run (flock) and prints chart_repo=<dir> last.
# Needs tools.sh's Go toolchain, kubectl and helm, and the base image (build_images.sh): both done here.
bash "$here/k3s/cluster_testbed.sh" --background
# MLServer in its own venv (after the images: it reuses the wheels the mlserver image fetched)
bash "$here/images/mlserver/venv.sh" >/dev/null
# a host Python for the notebooks (after the images: it reuses the wheels the jupyter image fetched)
bash "$here/notebook_venv.sh" >/dev/null
