#!/usr/bin/env bash
# Build the MinIO server (and the mc client, as the official image ships both) from source on the host,
# static (CGO_ENABLED=0), through the Go module proxy; cache the binaries once per machine under
# ${DEVSTACK_TESTBED_CACHE:-~/.cache/devstack-testbed}/minio/; and place them in the build context as
# .bin/minio and .bin/mc for the Dockerfile to COPY. Idempotent: a warm run only copies the files.
#   usage: prepare.sh [CONTEXT_DIR]   (default: this directory; .bin/ is git-ignored)
# build_images.sh calls it with its temporary copy of this directory. A cold run takes ~5 min on 2 cores
# per binary; a warm one under a second.
#
# Why pseudo-versions and not RELEASE.2025-09-06T17-38-46Z (what the official compose pins):
# MinIO tags releases RELEASE.<date>, which Go cannot use as module versions, so the module has to be
# named by a commit pseudo-version. The release commit (d0f50cdd9b0e, pseudo-version
# v0.0.0-20250906173846-d0f50cdd9b0e) is refused by the module proxy reachable here ("This module version
# is not available"); the only minio version it serves is the last commit of the archived repository,
# 7aac2a2c5b7c = RELEASE.2025-10-15T17-29-55Z (the CVE-fix release) + 11 commits, mostly README/docs.
# Likewise mc: the proxy serves cf909e1063a9 (2025-03-13) only.
# Override with MINIO_MODULE_VERSION / MC_MODULE_VERSION where the proxy serves other versions.
set -euo pipefail

MINIO_VERSION="${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MC_VERSION="${MC_MODULE_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctx="${1:-$here}"
cache_root="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/minio"

log() { printf 'minio/prepare: %s\n' "$*" >&2; }

# build_cached <module> <version> <binary name> <ldflags -X prefix>  -> prints the cached binary's path
build_cached() {
    local module="$1" version="$2" name="$3" xpkg="$4"
    local cache_dir="$cache_root/$name-$version" cached
    cached="$cache_dir/$name"
    if [[ -x "$cached" ]]; then printf '%s\n' "$cached"; return; fi
    command -v go >/dev/null || { log "go is not on PATH (needed once per machine to build $name)"; return 1; }
    # v0.0.0-YYYYMMDDhhmmss-<12 hex>: stamp the binary the way MinIO's own builds do (gen-ldflags.go).
    local ver=DEVELOPMENT.GOGET tag=DEVELOPMENT.GOGET commit=DEVELOPMENT.GOGET year=0000
    if [[ "$version" =~ ^v0\.0\.0-([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-([0-9a-f]{12})$ ]]; then
        local m=("${BASH_REMATCH[@]}")
        ver="${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z"
        tag="DEVELOPMENT.${m[1]}-${m[2]}-${m[3]}T${m[4]}-${m[5]}-${m[6]}Z"
        commit="${m[7]}" year="${m[1]}"
    fi
    local ldflags="-s -w -X $xpkg.Version=$ver -X $xpkg.ReleaseTag=$tag -X $xpkg.CopyrightYear=$year"
    ldflags+=" -X $xpkg.CommitID=$commit -X $xpkg.ShortCommitID=$commit"

    mkdir -p "$cache_root"
    local tmp start=$SECONDS
    tmp="$(mktemp -d "$cache_root/.build-$name.XXXXXX")"
    log "building $module@$version (once per machine; takes minutes)"
    # Neither module has replace directives, so `go install module@version` works (otherwise:
    # `go mod download -json` gives the source dir to copy out and `go build` in). GOTOOLCHAIN=auto lets
    # an older host Go fetch the toolchain the module asks for from the proxy.
    if ! GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0 GOOS=linux GOBIN="$tmp" \
            GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
            go install -trimpath -tags kqueue -ldflags "$ldflags" "$module@$version" >&2; then
        rm -rf "$tmp"; return 1
    fi
    "$tmp/$name" --version >/dev/null
    mkdir -p "$cache_dir"
    mv -f "$tmp/$name" "$cached"
    rm -rf "$tmp"
    log "built $name in $((SECONDS - start)) s -> $cached"
    printf '%s\n' "$cached"
}

place() { # <cached binary> <name>
    mkdir -p "$ctx/.bin"
    if ! cmp -s "$1" "$ctx/.bin/$2"; then
        cp -f "$1" "$ctx/.bin/$2.tmp"
        mv -f "$ctx/.bin/$2.tmp" "$ctx/.bin/$2"
    fi
}

minio_bin="$(build_cached github.com/minio/minio "$MINIO_VERSION" minio github.com/minio/minio/cmd)"
mc_bin="$(build_cached github.com/minio/mc "$MC_VERSION" mc github.com/minio/mc/cmd)"
place "$minio_bin" minio
place "$mc_bin" mc
"$ctx/.bin/minio" --version 2>&1 | sed -n 1p >&2
"$ctx/.bin/mc" --version 2>&1 | sed -n 1p >&2
