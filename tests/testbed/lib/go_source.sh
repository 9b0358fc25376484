#!/usr/bin/env bash
# Sourced by the images' prepare.sh that build a Go program from the Go module proxy (prometheus, registry,
# redis-exporter). `go install module@version` is refused here (the proxy will not list a module's versions, which
# it asks for), so the source comes from `go mod download -json` and the build runs in a writable copy of it.
#   source "$here/../../lib/go_source.sh"; src="$(go_module_copy MODULE@VERSION)"   (the caller removes $src)
# Also puts the toolchain's usual home on PATH, and exports what every such build wants: a static linux binary,
# no VCS stamping (there is no .git), the toolchain the module's go.mod asks for.
if [[ -x /usr/local/go/bin/go && ":$PATH:" != *":/usr/local/go/bin:"* ]]; then
    PATH="$PATH:/usr/local/go/bin"
fi
export CGO_ENABLED=0 GOOS=linux GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:-} -buildvcs=false"

go_module_copy() {
    command -v go >/dev/null || { echo "go is not on PATH (needed once per machine)" >&2; return 1; }
    local dir tmp
    dir="$(go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')"
    tmp="$(mktemp -d)"
    cp -a "$dir/." "$tmp/"
    chmod -R u+w "$tmp"
    echo "$tmp"
}
