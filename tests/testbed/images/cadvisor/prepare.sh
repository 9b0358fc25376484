#!/usr/bin/env bash
# Host-side step of the cadvisor image build (called by ../../build_images.sh with the build context dir): build
# the cAdvisor stand-in's binary, static (CGO_ENABLED=0, the netgo tag as upstream's), from src/ (the test bed's
# own main over cAdvisor's library modules github.com/google/cadvisor and github.com/google/cadvisor/lib v0.61.0,
# both from the Go module proxy; see README.md: the proxy does not serve the command module), cached once per
# machine by version and the hash of src/, and place it at <ctx>/.bin/cadvisor.
# Cold: about 2 min on 2 cores (dependencies from the module proxy, a cold Go build cache); warm: <1 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
version=v0.61.0   # = the library modules' version in src/go.mod
h="$(cd "$here/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
cache="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/cadvisor/$version/$h"
if [[ ! -x "$cache/cadvisor" ]]; then
    source "$here/../../lib/go_source.sh"   # PATH, CGO_ENABLED=0, GOOS, GOTOOLCHAIN, -buildvcs=false
    command -v go >/dev/null || { echo "go is not on PATH (needed once per machine)" >&2; exit 1; }
    tmp="$(mktemp -d)"
    cp -a "$here/src/." "$tmp/"
    start=$SECONDS
    # as upstream's build/build.sh: the version stamped into lib/version (its revision is the tag's commit,
    # which the proxy's record of v0.61.0 does not name), not stripped
    pkg=github.com/google/cadvisor/lib/version
    go_version="$(cd "$tmp" && go env GOVERSION)"
    (cd "$tmp" && go build -trimpath -tags netgo -o cadvisor \
        -ldflags "-X $pkg.Version=$version -X $pkg.Revision=unknown -X $pkg.Branch=HEAD -X $pkg.BuildUser=devstack-testbed -X $pkg.BuildDate=release -X $pkg.GoVersion=${go_version#go}" .)
    "$tmp/cadvisor" --version >/dev/null
    mkdir -p "$cache"
    mv -f "$tmp/cadvisor" "$cache/cadvisor"
    rm -rf "$tmp"
    echo "cadvisor: built in $((SECONDS - start)) s -> $cache/cadvisor"
fi
mkdir -p "$ctx/.bin"
cp -f "$cache/cadvisor" "$ctx/.bin/cadvisor"
"$ctx/.bin/cadvisor" --version
