#!/usr/bin/env bash
# Host-side step of the registry image build (called by ../../build_images.sh with the build context dir): build
# Docker's distribution (the `registry` binary of docker.io/library/registry:3) v3.0.0, static, from the Go
# module proxy, cached once per machine, and place it at <ctx>/.bin/registry. As for redis-exporter:
# `go mod download -json` gives the source directory (GONOSUMDB names the module), `go build` there. The module
# zip's vendor/ is incomplete (the proxy keeps only modules.txt-listed Go files), so it is removed and the
# dependencies come from the proxy (checked against the module's go.sum).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version="${REGISTRY_VERSION:-v3.0.0}"
module=github.com/distribution/distribution/v3
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/registry/$version"
if [[ ! -x "$cache/registry" ]]; then
    source "$here/../../lib/go_source.sh"
    export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/distribution/distribution"
    start=$SECONDS
    tmp="$(go_module_copy "$module@$version")"
    rm -rf "$tmp/vendor"
    (cd "$tmp" && go build -trimpath -o .out/registry \
        -ldflags "-s -w -X $module/version.version=$version -X $module/version.mainpkg=$module" ./cmd/registry)
    "$tmp/.out/registry" --version >/dev/null  # ./registry is a source directory
    mkdir -p "$cache"
    mv -f "$tmp/.out/registry" "$cache/registry"
    rm -rf "$tmp"
    echo "registry: built in $((SECONDS - start)) s -> $cache/registry"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/registry" "$ctx/.bin/registry"
"$ctx/.bin/registry" --version
