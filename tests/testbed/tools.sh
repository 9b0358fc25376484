#!/usr/bin/env bash
# k3d, helm and kubectl built from source through the Go module proxy (no release binary can be downloaded
# here), and Seldon Core's SeldonDeployment CRD taken from its Go module, for the tests that run devstack's
# exact commands against the real tools. Idempotent: a tool already at its pinned version is not rebuilt.
#
#   tools.sh                 # build what is missing into $DEVSTACK_TOOLS_BIN (default /usr/local/bin)
#   DEVSTACK_TOOLS_FORCE=1 tools.sh   # rebuild all three
#
# Why each path:
# - k3d: `go install module@version` fails here: the proxy refuses the module's version list (@v/list, asked
#   for deprecation notices), so the source comes from `go mod download -json` and `go build` runs in a copy
#   of it (GOWORK=off: the module zip ships a go.work naming directories it does not contain).
# - helm: same route, with the Makefile's version ldflags.
# - kubectl: k8s.io/kubernetes's cmd/kubectl needs `replace` directives into staging/ (not in the module zip),
#   so a three-line main (the same as cmd/kubectl/kubectl.go) is built against the published k8s.io/kubectl
#   module, whose pkg/cmd is the whole of kubectl; versions stamped as hack/lib/version.sh does.
# - Seldon CRD: the proxy refuses github.com/seldonio/seldon-core/operator@v1.17.1 but serves v1.16.0, whose
#   machinelearning.seldon.io_seldondeployments.yaml is byte-identical to v1.17.1's (same sha256, checked
#   against the v1.17.1 tag of the repository); the sha256 is enforced below.
# Build times on this 2-core machine: k3d 85 s, kubectl 154 s, helm 179 s (first build, idle machine); from
# empty Go caches on a busy machine 164 s, 343 s, 148 s. A warm re-run returns in seconds.
set -euo pipefail

K3D_VERSION=v5.9.0
HELM_VERSION=v3.19.0
KUBECTL_VERSION=v1.33.5          # k8s.io/kubectl v0.33.5: the same minor as the pinned k3s (v1.33.5-k3s1)
SELDON_OPERATOR_MODULE=github.com/seldonio/seldon-core/operator@v1.16.0
SELDON_CRD_SHA256=0c01ccc714c6cf64a58c9060e56eca7e8d86d1a133779a9ead6182110bed25e3

BIN="${DEVSTACK_TOOLS_BIN:-/usr/local/bin}"
CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
CRD_DIR="$CACHE/seldon-crd"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" GOWORK=off CGO_ENABLED=0
log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"   # the toolchain's usual home, if PATH lacks it
command -v go >/dev/null || die "go is not installed: a Go toolchain 1.26.3+ on PATH (k3d v5.9.0's go.mod asks for it)"
mkdir -p "$BIN" "$CACHE"
WORK="$(mktemp -d /var/tmp/devstack-tools.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# the source directory of module@version in the module cache (read-only there: callers copy it)
mod_dir() {
    go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit("go mod download: " + d.get("Error", "no Dir")))'
}

have() { # tool expected-version-substring: true when $BIN/tool already reports that version
    [ "${DEVSTACK_TOOLS_FORCE:-0}" != 1 ] && [ -x "$BIN/$1" ] && "$BIN/$1" "${@:3}" 2>/dev/null | grep -F "$2" >/dev/null
}

build_k3d() {
    if have k3d "k3d version $K3D_VERSION" version; then log "k3d $K3D_VERSION present"; return; fi
    local t0=$SECONDS src
    src="$(mod_dir "github.com/k3d-io/k3d/v5@$K3D_VERSION")"
    cp -r "$src" "$WORK/k3d" && chmod -R u+w "$WORK/k3d"
    (cd "$WORK/k3d" && go build -trimpath -o "$BIN/k3d" \
        -ldflags "-s -w -X github.com/k3d-io/k3d/v5/version.Version=$K3D_VERSION" .)
    log "k3d $K3D_VERSION built in $((SECONDS - t0)) s"
}

build_helm() {
    if have helm "$HELM_VERSION" version --short; then log "helm $HELM_VERSION present"; return; fi
    local t0=$SECONDS src
    src="$(mod_dir "helm.sh/helm/v3@$HELM_VERSION")"
    cp -r "$src" "$WORK/helm" && chmod -R u+w "$WORK/helm"
    (cd "$WORK/helm" && go build -trimpath -o "$BIN/helm" \
        -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
        ./cmd/helm)
    log "helm $HELM_VERSION built in $((SECONDS - t0)) s"
}

build_kubectl() {
    if have kubectl "Client Version: $KUBECTL_VERSION" version --client; then log "kubectl $KUBECTL_VERSION present"; return; fi
    local t0=$SECONDS d="$WORK/kubectl" modver="v0.${KUBECTL_VERSION#v1.}"
    local major minor
    major="$(cut -d. -f1 <<<"${KUBECTL_VERSION#v}")"; minor="$(cut -d. -f2 <<<"$KUBECTL_VERSION")"
    mkdir -p "$d"
    cat >"$d/main.go" <<'GO'
// kubectl's own main (kubernetes cmd/kubectl/kubectl.go), built against the published k8s.io/kubectl module.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Import to initialize client auth plugins.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
    printf 'module devstack.test/kubectl\n\ngo 1.24\n' >"$d/go.mod"
    local flags="-s -w" key val
    for kv in "gitVersion=$KUBECTL_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
        key="${kv%%=*}"; val="${kv#*=}"
        flags+=" -X k8s.io/client-go/pkg/version.$key=$val -X k8s.io/component-base/version.$key=$val"
    done
    (cd "$d" && go mod edit -require="k8s.io/kubectl@$modver" && GOFLAGS=-mod=mod go mod tidy \
        && go build -trimpath -o "$BIN/kubectl" -ldflags "$flags" .)
    log "kubectl $KUBECTL_VERSION built in $((SECONDS - t0)) s"
}

fetch_seldon_crd() {
    local f="$CRD_DIR/machinelearning.seldon.io_seldondeployments.yaml"
    if [ -f "$f" ] && [ -f "$CRD_DIR/mlserver.go" ] && echo "$SELDON_CRD_SHA256  $f" | sha256sum -c --quiet - 2>/dev/null; then
        log "Seldon CRD present ($f)"; return
    fi
    local src
    src="$(mod_dir "$SELDON_OPERATOR_MODULE")"
    mkdir -p "$CRD_DIR"
    cp "$src/config/crd/bases/machinelearning.seldon.io_seldondeployments.yaml" "$f.tmp"
    echo "$SELDON_CRD_SHA256  $f.tmp" | sha256sum -c --quiet - || die "Seldon CRD checksum mismatch (expected v1.17.1's)"
    chmod 0644 "$f.tmp" && mv "$f.tmp" "$f"
    # the operator's own names for what devstack's manifests use (MLFLOW_SERVER, the v2 protocol, MLServer's
    # runtime and environment): unchanged from v1.16.0 to v1.17.1 but for two log lines in prepack.go
    cp "$src/apis/machinelearning.seldon.io/v1/prepack.go" "$src/apis/machinelearning.seldon.io/v1/seldondeployment_types.go" \
        "$src/controllers/mlserver.go" "$CRD_DIR/" && chmod 0644 "$CRD_DIR"/*.go
    log "Seldon CRD (v1.17.1-identical, from $SELDON_OPERATOR_MODULE) at $f"
}

# rclone, what Seldon's storage initializer runs (`rclone copy <modelUri> /mnt/models`), for the test that copies a
# model out of MinIO with devstack's Secret: Debian's package (1.60; Seldon 1.17.1's initializer ships 1.59)
if ! command -v rclone >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null; }
fi
# sed, not head: head exits after one line and, under pipefail, the tool's SIGPIPE (141) would fail the script
log "$(rclone version | sed -n 1p)"

fetch_seldon_crd
build_k3d
build_kubectl
build_helm
"$BIN/k3d" version | sed -n 1p >&2
"$BIN/kubectl" version --client 2>/dev/null | sed -n 1p >&2
"$BIN/helm" version --short >&2
