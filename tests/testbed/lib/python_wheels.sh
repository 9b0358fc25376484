#!/usr/bin/env bash
# Fetch this image's Python wheels on the host into a per-machine cache and place them in the build
# context as .wheels/, so `docker build` installs offline (pip --no-index). Why on the host: pip inside a
# build container would need the host's TLS trust (the egress here re-signs HTTPS with its own CA, which
# the debootstrap base image does not carry), and a host cache makes a rebuild cost no download.
# Shared by the Python images (mlflow, airflow, jupyter): each images/<svc>/prepare.sh calls it with its own dir.
#   usage: python_wheels.sh IMAGE_DIR [CONTEXT_DIR]   build_images.sh passes its temp copy of the image dir
#          python_wheels.sh IMAGE_DIR --relock        re-resolve requirements.txt into constraints.txt (the lock)
# requirements.txt: what the image is for (top-level pins). constraints.txt: every distribution pinned,
# resolved for the image's Python ($PY_VERSION: its base's python3, exact, since some wheels need a newer patch
# release; the host's own Python must not decide). Everything is a wheel: no sdist is built.
# python-version (optional): that Python, for an image on another base than bookworm's (images/jupyter:
# trixie's 3.13.5); without it, bookworm's 3.11.2. DEVSTACK_TESTBED_PY_VERSION overrides both, for a venv on the
# host made from an image's lock (the host's python3 may be another minor than the image's).
set -euo pipefail

here="$(cd "${1:?usage: python_wheels.sh IMAGE_DIR [CONTEXT_DIR|--relock]}" && pwd)"; shift
PY_VERSION=3.11.2   # the python3 of the bookworm base
if [[ -f "$here/python-version" ]]; then PY_VERSION="$(tr -d '[:space:]' <"$here/python-version")"; fi
PY_VERSION="${DEVSTACK_TESTBED_PY_VERSION:-$PY_VERSION}"
svc="$(basename "$here")"
cache_root="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/wheels"
PY="${DEVSTACK_TESTBED_PYTHON:-python3}"   # any host Python with pip >= 22.2
log() { printf '%s/prepare: %s\n' "$svc" "$*" >&2; }
target_opts=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp)

if [[ "${1:-}" == --relock ]]; then
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    "$PY" -m pip install --disable-pip-version-check --dry-run --ignore-installed --target "$tmp/t" \
        "${target_opts[@]}" --report "$tmp/report.json" -q -r "$here/requirements.txt" >&2
    {
        echo "# Lock for images/$svc: \`prepare.sh --relock\` (pip's resolution for Python $PY_VERSION), $(date -u +%Y-%m-%d)."
        "$PY" - "$tmp/report.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["install"]
for name, version in sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in items):
    print(f"{name}=={version}")
PY
    } >"$here/constraints.txt"
    log "wrote $here/constraints.txt"
    exit 0
fi

ctx="${1:-$here}"
key="$(cat "$here/requirements.txt" "$here/constraints.txt" <(echo "$PY_VERSION $(uname -m)") | sha256sum | cut -c1-12)"
dir="$cache_root/$svc-$key"
if [[ ! -f "$dir/.complete" ]]; then
    mkdir -p "$cache_root"
    tmp="$(mktemp -d "$cache_root/.dl-$svc.XXXXXX")"; trap 'rm -rf "$tmp"' EXIT
    start=$SECONDS
    log "downloading wheels for Python $PY_VERSION into $dir"
    "$PY" -m pip download --no-cache-dir --disable-pip-version-check "${target_opts[@]}" \
        -d "$tmp" -r "$here/requirements.txt" -c "$here/constraints.txt" >&2
    touch "$tmp/.complete"
    rm -rf "$dir"; mv "$tmp" "$dir"
    log "downloaded $(ls "$dir" | wc -l) wheels in $((SECONDS - start)) s"
fi
rm -rf "$ctx/.wheels"
cp -al "$dir" "$ctx/.wheels" 2>/dev/null || cp -a "$dir" "$ctx/.wheels"
