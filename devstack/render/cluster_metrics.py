"""Model monitoring inside the k3d cluster: the stack's Prometheus (a Compose container) scrapes the model
servers Seldon runs as pods.

Prometheus cannot reach pod IPs (10.42.x.x live inside the k3d nodes), so it goes through the Kubernetes API
server, which the Compose network reaches by the server node's container name: `kubernetes_sd_configs` lists the
pods of the models' namespace, and each scrape is a GET on the API server's pod proxy
(`/api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics`), signed with a ServiceAccount token that may do exactly
that: list and watch pods, and proxy to them, in that one namespace. Which pods and which port come from the
`prometheus.io/*` annotations devstack puts on every model server (seldon.py), so a pod without them is never
scraped.

The token and the cluster's CA exist only once the cluster does, and a Prometheus job whose CA file is missing is
refused when the config loads; so the job is rendered only when `config/prometheus/k3d/` holds both, and
`devstack up` writes them, rewrites prometheus.yml and reloads Prometheus after Seldon is installed. `down`
removes them with the cluster.

Pure parts (manifests, the scrape job) are apart from the credential files at the bottom; the kubectl side (the grant,
the token Secret) is k3d.py's, which runs every cluster command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack.core.files import write_atomic
from devstack.planning.seldon import MANAGED_BY, NAMESPACE

JOB = "seldon-models"
ACCOUNT = "devstack-prometheus"
TOKEN_SECRET = f"{ACCOUNT}-token"
CREDENTIALS_DIR = "config/prometheus/k3d"  # in the stack dir; compose/prometheus.yaml mounts config/prometheus
IN_CONTAINER = "/etc/prometheus/k3d"
API_PORT = 6443  # k3s's API server inside the server node
# The API server's serving certificate names the node by its own hostname and IPs, and always the in-cluster
# names; the scrape connects to the node's container name and checks the certificate against the latter.
API_SERVER_NAME = "kubernetes.default.svc"


def api_host(cluster: str) -> str:
    """The server node's container name, which k3d gives it and Docker's DNS resolves on the stack's network."""
    return f"k3d-{cluster}-server-0"


def rbac_manifests(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """What Prometheus's token may do, and the token itself: a ServiceAccount, a Role that lists and watches the
    namespace's pods and proxies to them (nothing else: no secrets, no exec), its RoleBinding, and a
    `kubernetes.io/service-account-token` Secret, which the token controller fills with a token that does not
    expire (Prometheus reads it from a file on every request, so one that rotated would need devstack again)."""
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
    meta = {"name": ACCOUNT, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": TOKEN_SECRET,
                "namespace": namespace,
                "labels": labels,
                "annotations": {"kubernetes.io/service-account.name": ACCOUNT},
            },
        },
    ]


def scrape_job(cluster: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """The Prometheus job for the model servers: pods found through the API server, scraped through its pod
    proxy, one target per annotated pod, labelled with the model, its version and the pod."""
    address = f"{api_host(cluster)}:{API_PORT}"
    auth = {"credentials_file": f"{IN_CONTAINER}/token"}
    tls = {"ca_file": f"{IN_CONTAINER}/ca.crt", "server_name": API_SERVER_NAME}
    pod = "__meta_kubernetes_pod_"
    return {
        "job_name": JOB,
        "scheme": "https",
        "authorization": dict(auth),  # copies: the same dict twice would be written as a YAML alias
        "tls_config": dict(tls),
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "api_server": f"https://{address}",
                "namespaces": {"names": [namespace]},
                "authorization": dict(auth),
                "tls_config": dict(tls),
            }
        ],
        "relabel_configs": [
            # only the model servers devstack annotated, running, and not their init containers (rclone)
            {"source_labels": [f"{pod}annotation_prometheus_io_scrape"], "regex": "true", "action": "keep"},
            {"source_labels": [f"{pod}phase"], "regex": "Running", "action": "keep"},
            {"source_labels": [f"{pod}container_init"], "regex": "true", "action": "drop"},
            {
                "source_labels": [
                    "__meta_kubernetes_namespace",
                    f"{pod}name",
                    f"{pod}annotation_prometheus_io_port",
                    f"{pod}annotation_prometheus_io_path",
                ],
                "regex": "(.+);(.+);(.+);(.*)",
                "target_label": "__metrics_path__",
                "replacement": "/api/v1/namespaces/$1/pods/$2:$3/proxy$4",
            },
            {"target_label": "__address__", "replacement": address},
            {"source_labels": [f"{pod}name"], "target_label": "instance"},
            {"source_labels": [f"{pod}name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": [f"{pod}label_devstack_dev_model"], "target_label": "model"},
            {"source_labels": [f"{pod}label_devstack_dev_model_version"], "target_label": "model_version"},
            {"target_label": "service", "replacement": "seldon"},
        ],
    }


def credentials_present(directory: Path) -> bool:
    d = directory / CREDENTIALS_DIR
    return (d / "token").is_file() and (d / "ca.crt").is_file()


def credential_files(directory: Path) -> set[str]:
    """The credential files present, relative to the stack dir (render keeps them while seldon is planned)."""
    return {f"{CREDENTIALS_DIR}/{n}" for n in ("token", "ca.crt") if (directory / CREDENTIALS_DIR / n).is_file()}


def install_credentials(directory: Path, token: str, ca_pem: str) -> None:
    """Write the token and the CA where Prometheus's container reads them. World-readable: Prometheus runs as
    `nobody` in its container and reads through a bind mount; the token can only list and proxy to the models'
    pods in a cluster that listens on 127.0.0.1, and the stack dir itself is 0700."""
    for name, text in (("ca.crt", ca_pem), ("token", token.strip())):
        write_atomic(directory / CREDENTIALS_DIR / name, text, 0o644)


def forget_credentials(directory: Path) -> None:
    for name in ("token", "ca.crt"):
        (directory / CREDENTIALS_DIR / name).unlink(missing_ok=True)
