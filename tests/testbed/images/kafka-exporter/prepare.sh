#!/usr/bin/env bash
# Host-side step of the kafka-exporter image build (called by ../../build_images.sh with the build context dir):
# build danielqsj/kafka_exporter v1.9.0 from src/ (see README.md: the module proxy refuses the module itself,
# not its dependencies), static (CGO_ENABLED=0), cached once per machine by the hash of src/, and place the
# binary at <ctx>/.bin/kafka_exporter. Cold: ~40 s on 2 cores (dependencies from the Go module proxy); warm: <1 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version=1.9.0
revision=8ec24078707d4d3b349e71522ebd7f179746072d
h="$(cd "$here/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/kafka-exporter/$h"
if [[ ! -x "$cache/kafka_exporter" ]]; then
    command -v go >/dev/null || { echo "go is not on PATH (needed once per machine)" >&2; exit 1; }
    tmp="$(mktemp -d)"
    cp -a "$here/src/." "$tmp/"
    pkg=github.com/prometheus/common/version
    start=$SECONDS
    (cd "$tmp" && GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0 GOOS=linux GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
        go build -trimpath -o kafka_exporter \
        -ldflags "-s -w -X $pkg.Version=$version -X $pkg.Revision=$revision -X $pkg.Branch=v$version" .)
    "$tmp/kafka_exporter" --version >/dev/null 2>&1
    mkdir -p "$cache"
    mv -f "$tmp/kafka_exporter" "$cache/kafka_exporter"
    rm -rf "$tmp"
    echo "kafka-exporter: built in $((SECONDS - start)) s -> $cache/kafka_exporter"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/kafka_exporter" "$ctx/.bin/kafka_exporter"
"$ctx/.bin/kafka_exporter" --version 2>&1 | sed -n 1p
