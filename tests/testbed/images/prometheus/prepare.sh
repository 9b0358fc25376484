#!/usr/bin/env bash
# Host-side step of the prometheus image build (called by ../../build_images.sh with the build context dir): build
# Prometheus 3.7.3 (prom/prometheus:v3.7.3, the catalog's pin; Go module v0.307.3) and its promtool, static,
# from the Go module proxy, cached once per machine, and place them at <ctx>/.bin/. Debian's package (2.42)
# stood in before: it is a major version behind and is built without Kubernetes service discovery, which the
# k3d cluster's scrape job needs. Prometheus's plugins.yml is the documented way to choose the discoveries
# compiled in; this build keeps the ones devstack's prometheus.yml uses (dns, kubernetes; file and http are
# always in), which skips the cloud SDKs and halves the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version="${PROMETHEUS_VERSION:-3.7.3}"
modver="v0.$(echo "$version" | awk -F. '{ printf "%d%02d.%d", $1, $2, $3 }')"   # 3.7.3 -> v0.307.3
module=github.com/prometheus/prometheus
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/prometheus/$version"
if [[ ! -x "$cache/prometheus" || ! -x "$cache/promtool" ]]; then
    source "$here/../../lib/go_source.sh"
    start=$SECONDS
    tmp="$(go_module_copy "$module@$modver")"
    cat >"$tmp/plugins/plugins.go" <<'GO'
// devstack test bed: the service discoveries devstack's prometheus.yml uses (plugins.yml's choice).

package plugins

import (
	_ "github.com/prometheus/prometheus/discovery/dns"        // Register dns plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes" // Register kubernetes plugin.
)
GO
    flags="-s -w -X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Branch=release"
    (cd "$tmp" && go build -trimpath -o .out/prometheus -ldflags "$flags" ./cmd/prometheus \
        && go build -trimpath -o .out/promtool -ldflags "$flags" ./cmd/promtool)
    "$tmp/.out/prometheus" --version >/dev/null
    mkdir -p "$cache"
    mv -f "$tmp/.out/prometheus" "$tmp/.out/promtool" "$cache/"
    rm -rf "$tmp"
    echo "prometheus: built in $((SECONDS - start)) s -> $cache"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/prometheus" "$cache/promtool" "$ctx/.bin/"
"$ctx/.bin/prometheus" --version
