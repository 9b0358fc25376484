#!/usr/bin/env bash
# A stand-in for the node image rancher/k3s:v1.33.5-k3s1 (k3s itself cannot be had here: the Go module proxy
# refuses github.com/k3s-io/k3s@v1.33.5+k3s1 and its images live in registries we cannot reach), built from the
# upstream Kubernetes components at the same version, and the helper image k3d starts beside it
# (ghcr.io/k3d-io/k3d-tools:5.9.0) and its load balancer (ghcr.io/k3d-io/k3d-proxy:5.9.0). See STANDIN.md
# for what they do and do not do.
#
#   build.sh                        # build what is missing (Go binaries into the cache, then the images)
#   build.sh binaries               # only the big Go builds (Kubernetes, CNI plugins, CoreDNS)
#   DEVSTACK_K3S_FORCE=1 build.sh   # rebuild the Go binaries and the images
#
# Sources, all through registries this machine reaches:
# - kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy v1.33.5: a main module of our
#   own requiring k8s.io/kubernetes v1.33.5 (its staging modules, v0.0.0 there, replaced by their published
#   v0.33.5), one small main per command calling the command's own app package.
# - CNI plugins (bridge, host-local, loopback, portmap): github.com/containernetworking/plugins from the proxy.
# - CoreDNS: github.com/coredns/coredns from the proxy, v1.12.3 (k3s's release-1.33 moved to it in v1.33.4+k3s1,
#   k3s-io/k3s#12727; the backport of 1.12.4, #13045, was opened 2025-10-08, after v1.33.5 came out).
# - pause: pause/main.go here (waits for a signal, reaps children), tagged registry.k8s.io/pause:3.10.
# - runc-capfix: runc-capfix/main.go here, in front of the node's runc (and the engine's: engine_capfix.sh).
# - k3d-tools: k3d-tools/main.go here (k3d's tools/ module is not published on the proxy: only
#   github.com/k3d-io/k3d/v5 is, without tools/), same CLI: `save-image -d <tar> <images...>`, `noop`.
# - k3d-proxy: Debian's nginx (+ its stream module) and k3d-proxy/main.go here in place of confd (k3d's proxy
#   image downloads confd from GitHub releases).
# - etcd, containerd, runc, iptables, openssl (node) and nginx (k3d-proxy): Debian bookworm packages (the
#   Dockerfiles). kubectl is the test bed's own v1.33.5 build (tools.sh), copied into the node image.
# Cached by version under ${DEVSTACK_TESTBED_CACHE:-~/.cache/devstack-testbed}/k3s: a binary set already built
# at its pinned version is not rebuilt; an image whose inputs are unchanged is not rebuilt.
set -euo pipefail

K8S_VERSION=v1.33.5
CNI_PLUGINS_VERSION=v1.8.0
COREDNS_VERSION=v1.12.3
PAUSE_TAG=registry.k8s.io/pause:3.10
NODE_TAG=rancher/k3s:v1.33.5-k3s1
TOOLS_TAG=ghcr.io/k3d-io/k3d-tools:5.9.0
PROXY_TAG=ghcr.io/k3d-io/k3d-proxy:5.9.0
COREDNS_TAG=rancher/mirrored-coredns-coredns:1.12.3

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTBED="$(dirname "$HERE")"
CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/k3s"
FORCE="${DEVSTACK_K3S_FORCE:-0}"
export DOCKER_BUILDKIT=0   # no buildx plugin on these machines
# shellcheck source=../lib/go_source.sh
source "$TESTBED/lib/go_source.sh"   # PATH, CGO_ENABLED=0, GOFLAGS=-buildvcs=false, go_module_copy
export GOWORK=off
NICE=(nice -n 10)   # two cores, shared

log() { printf '[k3s-standin] %s\n' "$*" >&2; }
die() { printf '[k3s-standin] ERROR: %s\n' "$*" >&2; exit 1; }
declare -a TIMES=()
timed() { # label cmd...: run, record the seconds it took
    local t0=$SECONDS label="$1"; shift
    "$@"
    TIMES+=("$label: $((SECONDS - t0)) s")
}

mkdir -p "$CACHE"
WORK="$(mktemp -d /var/tmp/devstack-k3s.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

base_image() {
    local b=""
    [ -f "$TESTBED/images.env" ] && b="$(sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$TESTBED/images.env")"
    if [ -z "$b" ] || ! docker image inspect "$b" >/dev/null 2>&1; then
        "$TESTBED/build_images.sh" base >&2
        b="$(sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$TESTBED/images.env")"
    fi
    echo "$b"
}

fresh() { # dir: true when dir/.done exists (and no force)
    [ "$FORCE" != 1 ] && [ -f "$1/.done" ]
}

# ---- Kubernetes v1.33.5 ----------------------------------------------------------------------------
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
K8S_BIN="$CACHE/kubernetes-$K8S_VERSION"
build_kubernetes() {
    if fresh "$K8S_BIN"; then log "kubernetes $K8S_VERSION binaries present ($K8S_BIN)"; return; fi
    local d="$WORK/kubernetes" staging major minor flags="-s -w" kv key val cmd ctor
    mkdir -p "$d/cmd"
    staging="v0.${K8S_VERSION#v1.}"
    major="$(cut -d. -f1 <<<"${K8S_VERSION#v}")"; minor="$(cut -d. -f2 <<<"$K8S_VERSION")"
    for cmd in "${K8S_CMDS[@]}"; do
        case "$cmd" in
            kube-apiserver) ctor='app.NewAPIServerCommand()' ;;
            kube-controller-manager) ctor='app.NewControllerManagerCommand()' ;;
            kube-scheduler) ctor='app.NewSchedulerCommand()' ;;
            kubelet) ctor='app.NewKubeletCommand()' ;;
            kube-proxy) ctor='app.NewProxyCommand()' ;;
        esac
        mkdir -p "$d/cmd/$cmd"
        cat >"$d/cmd/$cmd/main.go" <<GO
// $cmd $K8S_VERSION: the command's own app package, run as its upstream main runs it.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/$cmd/app"
)

func main() { os.Exit(cli.Run($ctor)) }
GO
    done
    printf 'module devstack.test/k3s-standin\n\ngo 1.24.0\n\ngodebug default=go1.24\n' >"$d/go.mod"
    # k8s.io/kubernetes names its staging modules at v0.0.0 (replaced into ./staging in its own repository):
    # here they are the published v0.33.5 of each
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("GoMod") or sys.exit(d.get("Error", "no GoMod")))')"
    (cd "$d" && go mod edit -require="k8s.io/kubernetes@$K8S_VERSION" -require="k8s.io/component-base@$staging")
    local m
    for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$gomod" | sort -u); do
        (cd "$d" && go mod edit -replace="$m=$m@$staging")
    done
    (cd "$d" && GOFLAGS="$GOFLAGS -mod=mod" "${NICE[@]}" go mod tidy)
    for kv in "gitVersion=$K8S_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
        key="${kv%%=*}"; val="${kv#*=}"
        flags+=" -X k8s.io/client-go/pkg/version.$key=$val -X k8s.io/component-base/version.$key=$val"
    done
    rm -rf "$K8S_BIN.tmp"; mkdir -p "$K8S_BIN.tmp"
    for cmd in "${K8S_CMDS[@]}"; do
        local t0=$SECONDS
        (cd "$d" && "${NICE[@]}" go build -trimpath -ldflags "$flags" -o "$K8S_BIN.tmp/$cmd" "./cmd/$cmd")
        TIMES+=("  $cmd: $((SECONDS - t0)) s")
        log "$cmd built in $((SECONDS - t0)) s"
    done
    touch "$K8S_BIN.tmp/.done"
    rm -rf "$K8S_BIN"; mv "$K8S_BIN.tmp" "$K8S_BIN"
}

# ---- CNI plugins --------------------------------------------------------------------------------------
CNI_PLUGINS=(bridge host-local loopback portmap)
CNI_BIN="$CACHE/cni-plugins-$CNI_PLUGINS_VERSION"
build_cni() {
    if fresh "$CNI_BIN"; then log "CNI plugins $CNI_PLUGINS_VERSION present"; return; fi
    local src p
    src="$(go_module_copy "github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION")"
    rm -rf "$CNI_BIN.tmp"; mkdir -p "$CNI_BIN.tmp"
    for p in "${CNI_PLUGINS[@]}"; do
        local dir; dir="$(cd "$src" && find plugins -type d -name "$p" | head -n1)"
        [ -n "$dir" ] || die "no plugin $p in containernetworking/plugins $CNI_PLUGINS_VERSION"
        (cd "$src" && "${NICE[@]}" go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" -o "$CNI_BIN.tmp/$p" "./$dir")
    done
    rm -rf "$src"
    touch "$CNI_BIN.tmp/.done"
    rm -rf "$CNI_BIN"; mv "$CNI_BIN.tmp" "$CNI_BIN"
}

# ---- CoreDNS ------------------------------------------------------------------------------------------
# Only the plugins the node's Corefile (node/k3s) uses, plus log: CoreDNS's own compile-time selection
# (plugin.cfg filtered, then its directives_generate.go rewrites core/plugin/zplugin.go and zdirectives.go, as
# `go generate` does). The full set pulls in the AWS, Azure and Google Cloud SDKs, etcd, dnstap, Datadog tracing
# and QUIC, most of CoreDNS's build time, for plugins no node here configures.
COREDNS_PLUGINS=(errors health ready kubernetes hosts prometheus forward cache loop reload loadbalance log)
COREDNS_BIN="$CACHE/coredns-$COREDNS_VERSION-$(printf '%s\n' "${COREDNS_PLUGINS[@]}" | sha256sum | cut -c1-8)"
build_coredns() {
    if fresh "$COREDNS_BIN"; then log "CoreDNS $COREDNS_VERSION present ($COREDNS_BIN)"; return; fi
    local src p
    src="$(go_module_copy "github.com/coredns/coredns@$COREDNS_VERSION")"
    awk -F: -v want=" ${COREDNS_PLUGINS[*]} " '/^#/ || index(want, " " $1 " ")' "$src/plugin.cfg" >"$src/plugin.cfg.new"
    [ "$(grep -vc '^#' "$src/plugin.cfg.new")" = "${#COREDNS_PLUGINS[@]}" ] \
        || die "CoreDNS $COREDNS_VERSION's plugin.cfg lacks one of: ${COREDNS_PLUGINS[*]}"
    mv "$src/plugin.cfg.new" "$src/plugin.cfg"
    (cd "$src" && go run directives_generate.go)
    rm -rf "$COREDNS_BIN.tmp"; mkdir -p "$COREDNS_BIN.tmp"
    (cd "$src" && "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$COREDNS_BIN.tmp/coredns" .)
    rm -rf "$src"
    local have; have="$("$COREDNS_BIN.tmp/coredns" -plugins)"
    for p in "${COREDNS_PLUGINS[@]}"; do
        grep -qx "$p" <<<"$have" || die "the CoreDNS build has no plugin $p"
    done
    touch "$COREDNS_BIN.tmp/.done"
    rm -rf "$COREDNS_BIN"; mv "$COREDNS_BIN.tmp" "$COREDNS_BIN"
}

# ---- small programs of our own (pause, k3d-tools, runc-capfix: stdlib only; k3d-proxy: gopkg.in/yaml.v3) -------
build_own() { # name: $HERE/<name>/main.go (+ go.mod, go.sum if it has dependencies) -> $CACHE/<name>-<sha>/<name>
    local name="$1" h out
    h="$(cat "$HERE/$name"/main.go "$HERE/$name"/go.* 2>/dev/null | sha256sum | cut -c1-12)"
    out="$CACHE/$name-$h"
    if fresh "$out"; then echo "$out/$name"; return; fi
    mkdir -p "$WORK/$name" "$out"
    cp "$HERE/$name/main.go" "$WORK/$name/"
    if [ -f "$HERE/$name/go.mod" ]; then cp "$HERE/$name"/go.* "$WORK/$name/"
    else printf 'module devstack.test/%s\n\ngo 1.24\n' "$name" >"$WORK/$name/go.mod"; fi
    (cd "$WORK/$name" && "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$out/$name" .) >&2
    touch "$out/.done"
    echo "$out/$name"
}

# ---- images -------------------------------------------------------------------------------------------
# an image is rebuilt when the hash of its inputs (recorded as a label) changed
image_hash() { docker image inspect -f '{{ index .Config.Labels "org.devstack.testbed.hash" }}' "$1" 2>/dev/null || true; }
hash_of() { local f; for f in "$@"; do if [ -d "$f" ]; then (cd "$f" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); else sha256sum "$f"; fi; done | sha256sum | cut -c1-12; }

build_image() { # tag context-dir base
    local tag="$1" ctx="$2" base="$3" h
    h="$( { echo "$base"; hash_of "$ctx"; } | sha256sum | cut -c1-12)"
    if [ "$FORCE" != 1 ] && [ "$(image_hash "$tag")" = "$h" ]; then log "$tag up to date ($h)"; return; fi
    log "building $tag (inputs $h)"
    "${NICE[@]}" docker build -q --build-arg "BASE=$base" --label "org.devstack.testbed.hash=$h" \
        --label "org.devstack.testbed.standin=true" -t "$tag" "$ctx" >/dev/null
}

t_all=$SECONDS
timed "kubernetes $K8S_VERSION (5 commands)" build_kubernetes
timed "CNI plugins $CNI_PLUGINS_VERSION" build_cni
timed "CoreDNS $COREDNS_VERSION" build_coredns
if [ "${1:-}" = binaries ]; then for t in "${TIMES[@]}"; do printf '  %s\n' "$t" >&2; done; exit 0; fi
t0=$SECONDS; PAUSE_BIN="$(build_own pause)"; TOOLS_BIN="$(build_own k3d-tools)"; CAPFIX_BIN="$(build_own runc-capfix)"
PROXY_BIN="$(build_own k3d-proxy)"
TIMES+=("pause, k3d-tools, runc-capfix, k3d-proxy programs: $((SECONDS - t0)) s")
BASE="$(base_image)"

t0=$SECONDS
# pause: FROM scratch, one static binary
mkdir -p "$WORK/pause-ctx"; cp "$PAUSE_BIN" "$WORK/pause-ctx/pause"
printf 'FROM scratch\nLABEL org.devstack.testbed.note="stand-in for %s: built from tests/testbed/k3s/pause/main.go"\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' "$PAUSE_TAG" >"$WORK/pause-ctx/Dockerfile"
build_image "$PAUSE_TAG" "$WORK/pause-ctx" scratch
# CoreDNS: FROM scratch as well (the pod needs nothing else)
mkdir -p "$WORK/coredns-ctx"; cp "$COREDNS_BIN/coredns" "$WORK/coredns-ctx/"
printf 'FROM scratch\nLABEL org.devstack.testbed.note="stand-in for %s: github.com/coredns/coredns %s from the Go module proxy"\nCOPY coredns /coredns\nENTRYPOINT ["/coredns"]\n' "$COREDNS_TAG" "$COREDNS_VERSION" >"$WORK/coredns-ctx/Dockerfile"
build_image "$COREDNS_TAG" "$WORK/coredns-ctx" scratch
# k3d-tools: on the test bed's Debian base (k3d execs sh, getent and rm in it)
mkdir -p "$WORK/tools-ctx"; cp "$TOOLS_BIN" "$WORK/tools-ctx/k3d-tools"; cp "$HERE/k3d-tools/Dockerfile" "$WORK/tools-ctx/"
build_image "$TOOLS_TAG" "$WORK/tools-ctx" "$BASE"
# k3d-proxy: Debian's nginx + nginx-proxy (k3d-proxy/main.go)
mkdir -p "$WORK/proxy-ctx"; cp "$PROXY_BIN" "$WORK/proxy-ctx/nginx-proxy"; cp "$HERE/k3d-proxy/Dockerfile" "$WORK/proxy-ctx/"
build_image "$PROXY_TAG" "$WORK/proxy-ctx" "$BASE"
TIMES+=("pause, coredns, k3d-tools, k3d-proxy images: $((SECONDS - t0)) s")

# the node image: the binaries, kubectl, the images every node preloads (pause, CoreDNS), the entrypoint
t0=$SECONDS
ctx="$WORK/node-ctx"; mkdir -p "$ctx/bin" "$ctx/cni" "$ctx/images"
cp "$HERE/node/"* "$ctx/"
for c in "${K8S_CMDS[@]}"; do cp "$K8S_BIN/$c" "$ctx/bin/"; done
for p in "${CNI_PLUGINS[@]}"; do cp "$CNI_BIN/$p" "$ctx/cni/"; done
KUBECTL="$(command -v kubectl || true)"
[ -n "$KUBECTL" ] && "$KUBECTL" version --client 2>/dev/null | grep -qF "Client Version: $K8S_VERSION" \
    || die "kubectl $K8S_VERSION not on PATH: run tests/testbed/tools.sh first"
cp "$KUBECTL" "$ctx/bin/kubectl"
cp "$CAPFIX_BIN" "$ctx/bin/runc-capfix"   # the node's containerd runs runc through it (see node/k3s)
# docker save is not byte-stable across runs: name the tar by image id, so the context hash stays put
for img in "$PAUSE_TAG" "$COREDNS_TAG"; do
    id="$(docker image inspect -f '{{.Id}}' "$img" | cut -d: -f2 | cut -c1-12)"
    f="$CACHE/images/$(echo "$img" | tr '/:' '__')-$id.tar"
    if [ ! -f "$f" ]; then mkdir -p "$CACHE/images"; docker save -o "$f.tmp" "$img" && mv "$f.tmp" "$f"; fi
    cp "$f" "$ctx/images/$(echo "$img" | tr '/:' '__').tar"
done
build_image "$NODE_TAG" "$ctx" "$BASE"
TIMES+=("node image: $((SECONDS - t0)) s")

log "done in $((SECONDS - t_all)) s; where the time went:"
for t in "${TIMES[@]}"; do printf '  %s\n' "$t" >&2; done
for img in "$NODE_TAG" "$TOOLS_TAG" "$PROXY_TAG" "$PAUSE_TAG" "$COREDNS_TAG"; do
    printf '  %-40s %s\n' "$img" "$(docker image inspect -f '{{.Size}}' "$img" | awk '{ printf "%.0f MB", $1 / 1e6 }')" >&2
done
