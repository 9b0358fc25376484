#!/usr/bin/env bash
# The test bed, once per machine (root): a real Docker engine with Compose v2, and the test images built
# locally (no registry is reachable here). Idempotent: a warm re-run checks and returns in seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install_engine.sh"
bash "$here/build_images.sh"
