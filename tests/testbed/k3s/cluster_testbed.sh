#!/usr/bin/env bash
# Everything a test needs to run devstack's `up` with Seldon on k3d here: the k3s/k3d stand-in images
# (build.sh) and Seldon's operator image and chart repository (seldon/build.sh). One entry point, idempotent,
# serialized: a second caller waits for the first (flock) and then returns quickly from the warm state.
#
#   cluster_testbed.sh                # build what is missing now; blocks (also while another run holds the lock)
#   cluster_testbed.sh --background   # start that detached (setsid + nohup, survives the caller), return at once
#
# Blocking mode prints, as its LAST stdout line, `chart_repo=<absolute dir holding index.yaml and
# seldon-core-operator-1.17.1.tgz>` (before it: node_image=, operator_image=, log=), and exits 1 with the log's
# tail on stderr when a build failed. A test calls it (blocking) before it needs the cluster: if setup.sh's
# background run is still going, the call waits for it; then the warm re-run takes about a second.
#
# Paths (cache = ${DEVSTACK_TESTBED_CACHE:-~/.cache/devstack-testbed}):
#   $cache/cluster.lock        flock(1) lock held for the whole build
#   $cache/logs/cluster.log    the output of the last run that held the lock (both modes)
#   $cache/cluster.stamp       what the last successful run built (inputs + image ids): equal -> nothing to do
# DEVSTACK_CLUSTER_TESTBED_FORCE=1 skips the stamp check (the scripts still skip what is built;
# DEVSTACK_K3S_FORCE=1 / DEVSTACK_SELDON_FORCE=1 rebuild their parts).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTBED="$(dirname "$HERE")"
CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
LOCK="$CACHE/cluster.lock"
LOG="$CACHE/logs/cluster.log"
STAMP="$CACHE/cluster.stamp"
IMAGES=(rancher/k3s:v1.33.5-k3s1 ghcr.io/k3d-io/k3d-tools:5.9.0 ghcr.io/k3d-io/k3d-proxy:5.9.0
        registry.k8s.io/pause:3.10 rancher/mirrored-coredns-coredns:1.12.3 seldonio/seldon-core-operator:1.17.1)
log() { printf '[cluster-testbed] %s\n' "$*" >&2; }
mkdir -p "$CACHE/logs"

if [ "${1:-}" = --background ]; then
    # own session and process group, no tie to the caller's terminal or pipes (CI waits on its stdout's EOF)
    setsid nohup nice -n 10 bash "$0" --logged </dev/null >/dev/null 2>&1 &
    log "started in the background (pid $!); log: $LOG; wait for it with: $0"
    exit 0
fi
logged=0; [ "${1:-}" = --logged ] && logged=1

exec 9>>"$LOCK"
if ! flock -n 9; then
    log "another run holds $LOCK; waiting for it (its log: $LOG)"
    flock 9
fi
# from here on this run owns the log
if [ "$logged" = 1 ]; then exec >"$LOG" 2>&1; else : >"$LOG"; fi

# the inputs of both builds and the ids of what they made: equal to the last success's -> nothing to rebuild
REPO="$(bash "$HERE/seldon/build.sh" repo)"
state() {
    {
        (cd "$TESTBED" && find k3s lib -type f ! -name '*.md' ! -name smoke.sh ! -name engine_capfix.sh -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$TESTBED/images.env" 2>/dev/null || echo no-images.env
        stat -c '%n %s %Y' "$(command -v kubectl)" "$(command -v helm)" 2>/dev/null || echo no-kubectl-or-helm
        docker image inspect -f '{{.Id}}' "${IMAGES[@]}" 2>/dev/null || echo missing
        sha256sum "$REPO/index.yaml" "$REPO"/*.tgz 2>/dev/null || echo missing
    } | sha256sum | cut -c1-16
}
emit() { # the result, chart_repo last
    printf 'node_image=%s\noperator_image=%s\nlog=%s\nchart_repo=%s\n' "${IMAGES[0]}" "${IMAGES[5]}" "$LOG" "$REPO"
}
t0=$SECONDS
if [ "${DEVSTACK_CLUSTER_TESTBED_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(state)" ]; then
    log "up to date ($STAMP), $((SECONDS - t0)) s"
    echo "[cluster-testbed] up to date, nothing built" >>"$LOG"
    [ "$logged" = 1 ] || emit
    exit 0
fi
rm -f "$STAMP"

fail() {
    local what="$1"
    echo "[cluster-testbed] FAILED: $what" >>"$LOG"
    if [ "$logged" = 0 ]; then
        log "$what failed; the log ($LOG) ends with:"
        tail -n 40 "$LOG" >&2
    fi
    exit 1
}
step() { # label script...: run with its output in the log
    local s=$SECONDS label="$1"; shift
    if [ "$logged" = 1 ]; then "$@" || fail "$label"
    else "$@" >>"$LOG" 2>&1 || fail "$label"; fi
    log "$label: done in $((SECONDS - s)) s"
}
log "building (log: $LOG)"
step "k3s/k3d stand-in images (k3s/build.sh)" nice -n 10 bash "$HERE/build.sh"
step "Seldon operator image and chart repository (k3s/seldon/build.sh)" nice -n 10 bash "$HERE/seldon/build.sh"
for img in "${IMAGES[@]}"; do docker image inspect "$img" >/dev/null 2>&1 || fail "image $img is missing after the build"; done
[ -f "$REPO/index.yaml" ] || fail "no $REPO/index.yaml after the build"
state >"$STAMP"
log "all built in $((SECONDS - t0)) s"
[ "$logged" = 1 ] || emit
