#!/usr/bin/env bash
# Host-side step of the alertmanager image build (called by ../../build_images.sh with the build context dir): build
# Alertmanager 0.29.0 (prom/alertmanager:v0.29.0; Go module v0.29.0) and its amtool, static, from the Go module
# proxy, cached once per machine, and place them at <ctx>/.bin/. As upstream's .promu.yml: the netgo build tag and
# the version stamped into github.com/prometheus/common/version. Both web UIs come with the module (the Elm one
# pre-generated in asset/assets_vfsdata.go, the React one as ui/react-app/dist, embedded), so no Node build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version="${ALERTMANAGER_VERSION:-0.29.0}"
module=github.com/prometheus/alertmanager
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/alertmanager/$version"
if [[ ! -x "$cache/alertmanager" || ! -x "$cache/amtool" ]]; then
    source "$here/../../lib/go_source.sh"
    start=$SECONDS
    tmp="$(go_module_copy "$module@v$version")"
    # the tag's commit, as the proxy records it (the download above is cached: no second fetch)
    revision="$(go mod download -json "$module@v$version" | python3 -c 'import json,sys; print((json.load(sys.stdin).get("Origin") or {}).get("Hash", "unknown"))')"
    flags="-s -w -X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Revision=$revision -X github.com/prometheus/common/version.Branch=release"
    (cd "$tmp" && go build -trimpath -tags netgo -o .out/alertmanager -ldflags "$flags" ./cmd/alertmanager \
        && go build -trimpath -tags netgo -o .out/amtool -ldflags "$flags" ./cmd/amtool)
    "$tmp/.out/alertmanager" --version >/dev/null
    mkdir -p "$cache"
    mv -f "$tmp/.out/alertmanager" "$tmp/.out/amtool" "$cache/"
    rm -rf "$tmp"
    echo "alertmanager: built in $((SECONDS - start)) s -> $cache"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/alertmanager" "$cache/amtool" "$ctx/.bin/"
"$ctx/.bin/alertmanager" --version
