#!/usr/bin/env bash
# Smoke test of the k3s stand-in under the real k3d (v5.9.0): create a cluster, see its nodes Ready with the
# memory k3d gave them, import a local image with `k3d image import`, run a pod from it, resolve a Service name
# from the pod (CoreDNS and kube-proxy), delete the cluster. Exits non-zero on any failure.
#
#   smoke.sh                          # one server, no agent, serversMemory 2g, no load balancer
#   DEVSTACK_K3S_AGENTS=1 smoke.sh    # ... and one agent (agentsMemory 1g)
#   DEVSTACK_K3S_LB=1 smoke.sh        # with k3d's load balancer (the k3d-proxy stand-in) instead of --no-lb
#   DEVSTACK_K3S_REGISTRY=1 smoke.sh  # and a k3d-created registry (the test bed's registry image): push, pod pulls
#   DEVSTACK_K3S_KEEP=1 smoke.sh      # leave the cluster up (delete it with: k3d cluster delete devstack-smoke)
#
# Needs: ./build.sh's images, and a Docker engine that can start privileged containers (./engine_capfix.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="${DEVSTACK_K3S_CLUSTER:-devstack-smoke}"
IMAGE=rancher/k3s:v1.33.5-k3s1
AGENTS="${DEVSTACK_K3S_AGENTS:-0}"
LB="${DEVSTACK_K3S_LB:-0}"
REGISTRY="${DEVSTACK_K3S_REGISTRY:-0}"
SERVER_MEM=2g AGENT_MEM=1g
log() { printf '[k3s-smoke] %s\n' "$*" >&2; }
die() { printf '[k3s-smoke] FAIL: %s\n' "$*" >&2; exit 1; }

helpers=(ghcr.io/k3d-io/k3d-tools:5.9.0); [ "$LB" = 1 ] && helpers+=(ghcr.io/k3d-io/k3d-proxy:5.9.0)
for img in "$IMAGE" "${helpers[@]}"; do
    docker image inspect "$img" >/dev/null 2>&1 || die "no image $img: run $HERE/build.sh"
done
"$HERE/engine_capfix.sh" --check \
    || die "this Docker engine cannot start privileged containers (k3d's nodes are): run $HERE/engine_capfix.sh --default"
TEST_IMAGE="$(sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$HERE/../images.env" 2>/dev/null)"
[ -n "$TEST_IMAGE" ] && docker image inspect "$TEST_IMAGE" >/dev/null 2>&1 || die "no test-bed base image (tests/testbed/build_images.sh base)"

REGISTRY_IMAGE="$(sed -n 's/^DEVSTACK_IMAGE_REGISTRY=//p' "$HERE/../images.env" 2>/dev/null)"
if [ "$REGISTRY" = 1 ]; then
    [ -n "$REGISTRY_IMAGE" ] && docker image inspect "$REGISTRY_IMAGE" >/dev/null 2>&1 || die "no test-bed registry image (tests/testbed/build_images.sh registry)"
fi
TMP="$(mktemp -d)"
export KUBECONFIG="$TMP/kubeconfig"
cleanup() {
    local rc=$?
    if [ "$rc" != 0 ]; then
        log "failed; the server's last log lines:"
        docker logs --tail 30 "k3d-$CLUSTER-server-0" 2>&1 | sed 's/^/    /' >&2 || true
        [ -s "$KUBECONFIG" ] && { kubectl get nodes,pods -A -o wide 2>&1 | sed 's/^/    /' >&2 || true; }
    fi
    if [ "${DEVSTACK_K3S_KEEP:-0}" != 1 ]; then
        k3d cluster delete "$CLUSTER" >/dev/null 2>&1 || true
        [ "$REGISTRY" = 1 ] && { k3d registry delete "k3d-$CLUSTER-registry" >/dev/null 2>&1 || true; }
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
k3d cluster delete "$CLUSTER" >/dev/null 2>&1 || true

t0=$SECONDS
# a k3d.io/v1alpha5 config file, as devstack drives k3d (`k3d cluster create --config`)
REG_PORT="${DEVSTACK_K3S_REGISTRY_PORT:-5577}"
{
    printf 'apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: %s\nservers: 1\nagents: %s\nimage: %s\n' "$CLUSTER" "$AGENTS" "$IMAGE"
    if [ "$REGISTRY" = 1 ]; then
        printf 'registries:\n  create:\n    name: k3d-%s-registry\n    host: 127.0.0.1\n    hostPort: "%s"\n    image: %s\n' "$CLUSTER" "$REG_PORT" "$REGISTRY_IMAGE"
    fi
    printf 'options:\n  k3d:\n    wait: true\n    timeout: 300s\n    disableLoadbalancer: %s\n' "$([ "$LB" = 1 ] && echo false || echo true)"
    printf '  kubeconfig:\n    updateDefaultKubeconfig: false\n    switchCurrentContext: false\n'
    printf '  runtime:\n    serversMemory: %s\n' "$SERVER_MEM"
    if [ "$AGENTS" -gt 0 ]; then printf "    agentsMemory: %s\n" "$AGENT_MEM"; fi
} >"$TMP/k3d.yaml"
log "k3d cluster create --config (1 server, $AGENTS agents, load balancer: $([ "$LB" = 1 ] && echo yes || echo no), registry: $([ "$REGISTRY" = 1 ] && echo yes || echo no))"
sed 's/^/    /' "$TMP/k3d.yaml" >&2
k3d cluster create --config "$TMP/k3d.yaml"
log "created in $((SECONDS - t0)) s"
k3d kubeconfig get "$CLUSTER" >"$KUBECONFIG"
log "API server at $(kubectl config view -o 'jsonpath={.clusters[0].cluster.server}')$([ "$LB" = 1 ] && echo " (through k3d-$CLUSTER-serverlb)")"
kubectl wait --for=condition=Ready node --all --timeout=180s
kubectl get nodes -o wide
[ "$(kubectl get nodes --no-headers | wc -l)" = $((1 + AGENTS)) ] || die "expected $((1 + AGENTS)) nodes"
log "nodes Ready at $((SECONDS - t0)) s"

# k3d's fake /proc/meminfo: MemTotal = limit / 1000 kB, what the kubelet reports as capacity
want_kib() { local b; b="$(numfmt --from=iec "${1^^}")"; echo "$((b / 1000))Ki"; }
mem="$(kubectl get node "k3d-$CLUSTER-server-0" -o 'jsonpath={.status.capacity.memory}')"
[ "$mem" = "$(want_kib "$SERVER_MEM")" ] || die "server memory capacity $mem, expected $(want_kib "$SERVER_MEM") (serversMemory $SERVER_MEM)"
log "server capacity memory $mem (serversMemory $SERVER_MEM)"
if [ "$AGENTS" -gt 0 ]; then
    mem="$(kubectl get node "k3d-$CLUSTER-agent-0" -o 'jsonpath={.status.capacity.memory}')"
    [ "$mem" = "$(want_kib "$AGENT_MEM")" ] || die "agent memory capacity $mem, expected $(want_kib "$AGENT_MEM")"
    log "agent capacity memory $mem (agentsMemory $AGENT_MEM)"
fi

t1=$SECONDS
k3d image import "$TEST_IMAGE" -c "$CLUSTER"
log "imported $TEST_IMAGE in $((SECONDS - t1)) s"
pods=(smoke-0)
kubectl run smoke-0 --image="$TEST_IMAGE" --image-pull-policy=Never --restart=Never \
    --overrides='{"spec":{"nodeSelector":{"kubernetes.io/hostname":"k3d-'"$CLUSTER"'-server-0"}}}' --command -- sleep 3600
if [ "$AGENTS" -gt 0 ]; then
    pods+=(smoke-1)
    kubectl run smoke-1 --image="$TEST_IMAGE" --image-pull-policy=Never --restart=Never \
        --overrides='{"spec":{"nodeSelector":{"kubernetes.io/hostname":"k3d-'"$CLUSTER"'-agent-0"}}}' --command -- sleep 3600
fi
kubectl wait --for=condition=Ready "${pods[@]/#/pod/}" --timeout=180s
kubectl get pods -o wide
log "pods Running"

kubectl -n kube-system rollout status deployment/coredns --timeout=180s
for p in "${pods[@]}"; do
    out="$(kubectl exec "$p" -- getent hosts kubernetes.default.svc.cluster.local)" || die "$p: no DNS answer for kubernetes.default"
    log "$p resolves kubernetes.default: $out"
done
# what Prometheus does in devstack: a pod's metrics through the API server's proxy; and a pod's logs (kubelet)
dns_pod="$(kubectl -n kube-system get pod -l k8s-app=kube-dns -o 'jsonpath={.items[0].metadata.name}')"
kubectl get --raw "/api/v1/namespaces/kube-system/pods/$dns_pod:9153/proxy/metrics" | grep -q '^coredns_build_info' \
    || die "no CoreDNS metrics through the API server proxy"
log "CoreDNS metrics through the API server proxy ($dns_pod on $(kubectl -n kube-system get pod "$dns_pod" -o 'jsonpath={.spec.nodeName}'))"
for p in "${pods[@]}"; do
    kubectl logs "$p" >/dev/null || die "kubectl logs $p failed"
done
log "kubectl logs answers for the pods on every node"
if [ "$AGENTS" -gt 0 ]; then
    ip1="$(kubectl get pod smoke-1 -o 'jsonpath={.status.podIP}')"
    reached=0
    for _ in 1 2 3 4 5 6; do   # the nodes' routes to each other's pod CIDRs are refreshed every 5 s
        # "Connection refused" is the answer of the pod's own kernel (a time-out would mean no route)
        out="$(kubectl exec smoke-0 -- timeout 5 bash -c "echo > /dev/tcp/$ip1/1" 2>&1 || true)"
        if [[ "$out" == *refused* ]]; then reached=1; break; fi
        sleep 2
    done
    [ "$reached" = 1 ] || die "pod on the server cannot reach the pod on the agent ($ip1)"
    log "pod to pod across nodes: $ip1 answers (connection refused on port 1, as it should)"
    # the API server (on the server node) to a pod on the agent, as for a webhook or a scrape: a CoreDNS
    # serving only its metrics there
    kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: smoke-metrics}
data:
  Corefile: |
    .:1053 {
        prometheus :9153
        whoami
    }
---
apiVersion: v1
kind: Pod
metadata: {name: smoke-metrics}
spec:
  nodeSelector: {kubernetes.io/hostname: k3d-$CLUSTER-agent-0}
  containers:
  - name: coredns
    image: rancher/mirrored-coredns-coredns:1.12.3
    imagePullPolicy: Never
    args: [-conf, /etc/smoke/Corefile]
    volumeMounts: [{name: conf, mountPath: /etc/smoke}]
  volumes: [{name: conf, configMap: {name: smoke-metrics}}]
YAML
    kubectl wait --for=condition=Ready pod/smoke-metrics --timeout=120s >/dev/null
    ok=0
    for _ in 1 2 3 4 5; do
        if kubectl get --raw "/api/v1/namespaces/default/pods/smoke-metrics:9153/proxy/metrics" 2>/dev/null | grep -q '^coredns_build_info'; then ok=1; break; fi
        sleep 2
    done
    [ "$ok" = 1 ] || die "no metrics from a pod on the agent through the API server proxy"
    log "API server to a pod on the agent: metrics through the API server proxy"
fi
if [ "$REGISTRY" = 1 ]; then
    docker tag "$TEST_IMAGE" "127.0.0.1:$REG_PORT/smoke:1"
    docker push -q "127.0.0.1:$REG_PORT/smoke:1" >/dev/null
    docker rmi "127.0.0.1:$REG_PORT/smoke:1" >/dev/null
    kubectl run smoke-reg --image="k3d-$CLUSTER-registry:5000/smoke:1" --image-pull-policy=Always --restart=Never --command -- sleep 3600
    kubectl wait --for=condition=Ready pod/smoke-reg --timeout=180s
    log "pod pulled k3d-$CLUSTER-registry:5000/smoke:1 through the node's registries.yaml"
fi
log "OK in $((SECONDS - t0)) s"
