#!/usr/bin/env bash
# Host-side step of the redis-exporter image build (called by ../../build_images.sh with the build context dir):
# build oliver006/redis_exporter v1.74.0, static (CGO_ENABLED=0), from the Go module proxy, cached once per
# machine, and place it at <ctx>/.bin/redis_exporter. Cold: ~15 s on 2 cores; warm: <1 s.
#
# Why not `go install module@version`: the proxy here serves v1.74.0 (no other version of the module), but
# refuses its version list, which `go install` asks for (deprecation check); and the checksum database has no
# entry for it, so GONOSUMDB names the module (its dependencies are still checked against its go.sum).
# `go mod download -json` gives the source directory to build in instead, as DESIGN.md describes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version="${REDIS_EXPORTER_VERSION:-v1.74.0}"
module=github.com/oliver006/redis_exporter
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/redis-exporter/$version"
if [[ ! -x "$cache/redis_exporter" ]]; then
    source "$here/../../lib/go_source.sh"
    export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$module"
    start=$SECONDS
    tmp="$(go_module_copy "$module@$version")"
    (cd "$tmp" && go build -trimpath -o redis_exporter \
        -ldflags "-s -w -X main.BuildVersion=$version -X main.BuildCommitSha=$version -X main.BuildDate=release" .)
    "$tmp/redis_exporter" --version >/dev/null 2>&1
    mkdir -p "$cache"
    mv -f "$tmp/redis_exporter" "$cache/redis_exporter"
    rm -rf "$tmp"
    echo "redis-exporter: built in $((SECONDS - start)) s -> $cache/redis_exporter"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/redis_exporter" "$ctx/.bin/redis_exporter"
"$ctx/.bin/redis_exporter" --version 2>&1 | sed -n 1p
