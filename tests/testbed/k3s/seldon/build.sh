#!/usr/bin/env bash
# Seldon Core's operator and its Helm chart for the test bed (issue 16, phase 2; see ../PHASE2.md), from the Go
# module proxy only: Seldon's images (docker.io/seldonio) and chart repository (storage.googleapis.com) cannot be
# reached here, and the proxy refuses github.com/seldonio/seldon-core/operator@v1.17.1 (the version devstack
# installs) but serves v1.16.0.
#
#   build.sh                 # the operator image (tag seldonio/seldon-core-operator:1.17.1) and the chart repo
#   build.sh serve [PORT]    # serve the chart repository on 127.0.0.1:PORT (default 8879) in the foreground
#   build.sh repo            # print the chart repository's directory (index.yaml + the .tgz), build nothing
#
# - the image: `manager` built from operator@v1.16.0 (CGO off, about 1 min on 2 cores), plus what the upstream
#   image carries in /tmp/operator-resources (the operator's Makefile: `kustomize build config/default`; here
#   kubectl's built-in kustomize), on the test bed's Debian base.
# - the chart: Seldon's own generator from the same module (operator/helm/create_templates.sh: `kustomize build
#   config/{namespaced1,lite,spartakus}`, cut at `---`, templated by split_resources.py), with Chart.yaml,
#   values.yaml and _helpers.tpl written here (they live beside the templates in Seldon's repository, not in the
#   module), packaged as seldon-core-operator-1.17.1.tgz with an index.yaml (`helm repo index`), so that
#   `helm upgrade --install seldon-core seldon-core-operator --repo http://127.0.0.1:PORT --version 1.17.1`
#   works as devstack runs it against Seldon's repository.
# Cached under ${DEVSTACK_TESTBED_CACHE:-~/.cache/devstack-testbed}/seldon-operator-v1.16.0.
set -euo pipefail
OPERATOR_MODULE=github.com/seldonio/seldon-core/operator@v1.16.0
OPERATOR_TAG=seldonio/seldon-core-operator:1.17.1
CHART_VERSION=1.17.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTBED="$(dirname "$(dirname "$HERE")")"
CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}/seldon-operator-v1.16.0"
REPO="$CACHE/chart-repo"
if [ "${1:-}" = repo ]; then echo "$REPO"; exit 0; fi   # where the chart repository is (or will be)
export DOCKER_BUILDKIT=0
# shellcheck source=../../lib/go_source.sh
source "$TESTBED/lib/go_source.sh"
export GOWORK=off
log() { printf '[seldon-standin] %s\n' "$*" >&2; }
die() { printf '[seldon-standin] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = serve ]; then
    [ -f "$REPO/index.yaml" ] || die "no chart repository at $REPO: run $0 first"
    cd "$REPO" && exec python3 -m http.server --bind 127.0.0.1 "${2:-8879}"
fi

for t in kubectl helm python3 csplit; do command -v "$t" >/dev/null || die "$t is not on PATH (tests/testbed/tools.sh)"; done
python3 -c 'import yaml' 2>/dev/null || die "python3 has no PyYAML (split_resources.py needs it: apt-get install python3-yaml)"
mkdir -p "$CACHE"
WORK="$(mktemp -d /var/tmp/devstack-seldon.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
t_all=$SECONDS
src="$(go_module_copy "$OPERATOR_MODULE")"
trap 'rm -rf "$WORK" "$src"' EXIT

if [ ! -x "$CACHE/manager" ] || [ "${DEVSTACK_SELDON_FORCE:-0}" = 1 ]; then
    t0=$SECONDS
    (cd "$src" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$WORK/manager" .)
    mv "$WORK/manager" "$CACHE/manager"
    log "operator manager built in $((SECONDS - t0)) s"
fi

# the image
ctx="$WORK/image"; mkdir -p "$ctx/operator-resources" "$WORK/generated"
cp "$CACHE/manager" "$HERE/Dockerfile" "$ctx/"
kubectl kustomize "$src/config/default" -o "$WORK/generated" 2>/dev/null
g="$WORK/generated"
cp "$g/admissionregistration.k8s.io_v1_validatingwebhookconfiguration_seldon-validating-webhook-configuration.yaml" "$ctx/operator-resources/validate.yaml"
cp "$g/v1_service_seldon-webhook-service.yaml" "$ctx/operator-resources/service.yaml"
cp "$g/v1_configmap_seldon-config.yaml" "$ctx/operator-resources/configmap.yaml"
cp "$g/apiextensions.k8s.io_v1_customresourcedefinition_seldondeployments.machinelearning.seldon.io.yaml" "$ctx/operator-resources/crd-v1.yaml"
base="$(sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$TESTBED/images.env" 2>/dev/null)"
[ -n "$base" ] && docker image inspect "$base" >/dev/null 2>&1 || die "no test-bed base image (tests/testbed/build_images.sh base)"
h="$( { echo "$base"; cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-12)"
if [ "$(docker image inspect -f '{{ index .Config.Labels "org.devstack.testbed.hash" }}' "$OPERATOR_TAG" 2>/dev/null || true)" = "$h" ]; then
    log "$OPERATOR_TAG up to date ($h)"
else
    nice -n 10 docker build -q --build-arg "BASE=$base" --label "org.devstack.testbed.hash=$h" \
        --label org.devstack.testbed.standin=true -t "$OPERATOR_TAG" "$ctx" >/dev/null
    log "built $OPERATOR_TAG ($h)"
fi

# the chart, as Seldon's operator/helm/create_templates.sh makes it
chart="$WORK/seldon-core-operator"; mkdir -p "$chart/templates"
for c in namespaced1 lite spartakus; do
    rm -rf "$WORK/split" && mkdir "$WORK/split"
    (cd "$WORK/split" \
        && kubectl kustomize "$src/config/$c" >tt.yaml 2>/dev/null \
        && csplit -s --suppress-matched tt.yaml "/^---/" "{*}" \
        && cp "$src/config/cert/secret.yaml" xxSecret \
        && python3 "$src/helm/split_resources.py" --folder "$chart/templates" >/dev/null)
done
cp "$HERE/Chart.yaml" "$HERE/values.yaml" "$chart/"
cp "$HERE/_helpers.tpl" "$chart/templates/"
helm lint "$chart" >/dev/null || die "helm lint failed on the generated chart ($chart)"
mkdir -p "$REPO"
helm package "$chart" --version "$CHART_VERSION" --destination "$REPO" >/dev/null
helm repo index "$REPO"
log "chart repository at $REPO (index.yaml, seldon-core-operator-$CHART_VERSION.tgz); serve it with: $0 serve [PORT]"
log "done in $((SECONDS - t_all)) s"
