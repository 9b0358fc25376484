"""Prometheus's access to the k3d cluster's model servers, as devstack renders it: what the token may do, when the
job is in prometheus.yml, and how the credentials live and go with the stack. The scrape itself, by the real
Prometheus, is tests/e2e/test_cluster_metrics.py; kubectl running the grant is tests/unit/test_k3d.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack.core.resources import compose_dir
from devstack.planning import seldon
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render import cluster_metrics
from devstack.render.project import ON_DEMAND_JOBS, render, scrape_jobs, write_prometheus_config

PROJECT = "devstack-t"


def _plan(*services: str):  # type: ignore[no-untyped-def]
    return make_plan(PlanRequest("t", services, budget_mib=20 * 1024))


def _jobs(d: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    doc = yaml.safe_load((d / "config/prometheus/prometheus.yml").read_text())
    return {j["job_name"]: j for j in doc["scrape_configs"]}


def test_the_token_may_only_list_watch_and_proxy_to_the_models_pods() -> None:
    by_kind = {m["kind"]: m for m in cluster_metrics.rbac_manifests()}
    assert set(by_kind) == {"Namespace", "ServiceAccount", "Role", "RoleBinding", "Secret"}
    role = by_kind["Role"]
    assert role["metadata"]["namespace"] == seldon.NAMESPACE  # a Role, not a ClusterRole: one namespace
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
    ]
    binding = by_kind["RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": cluster_metrics.ACCOUNT, "namespace": seldon.NAMESPACE}
    ]
    secret = by_kind["Secret"]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": cluster_metrics.ACCOUNT}


def test_the_job_scrapes_the_annotated_pods_through_the_api_servers_pod_proxy() -> None:
    job = cluster_metrics.scrape_job(PROJECT)
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["api_server"] == "https://k3d-devstack-t-server-0:6443"
    assert sd["namespaces"] == {"names": [seldon.NAMESPACE]} and sd["role"] == "pod"
    relabel = {r.get("target_label"): r for r in job["relabel_configs"] if "target_label" in r}
    assert relabel["__address__"]["replacement"] == "k3d-devstack-t-server-0:6443"
    assert relabel["__metrics_path__"]["replacement"] == "/api/v1/namespaces/$1/pods/$2:$3/proxy$4"
    # the annotations it reads are the ones devstack's SeldonDeployment puts on the model server's pod
    keys = [k.removeprefix("__meta_kubernetes_pod_annotation_") for k in relabel["__metrics_path__"]["source_labels"]]
    sdep = seldon.seldon_deployment(
        seldon.ModelRef("iris"), 1, model_uri="s3://b/p", memory_mib=512, server_image="s", initializer_image="i"
    )
    annotations = sdep["spec"]["predictors"][0]["componentSpecs"][0]["metadata"]["annotations"]
    assert {k.replace(".", "_").replace("/", "_") for k in annotations} >= set(keys[2:])
    assert job["tls_config"]["server_name"] == "kubernetes.default.svc"


def test_the_job_is_rendered_only_once_the_cluster_gave_credentials(tmp_path: Path) -> None:
    plan, d = _plan("prometheus", "seldon"), tmp_path / "s"
    render(plan, d, PROJECT)
    assert cluster_metrics.JOB not in _jobs(d)
    cluster_metrics.install_credentials(d, "tok\n", "-----BEGIN CERTIFICATE-----\n")
    assert write_prometheus_config(plan, d, PROJECT) is True
    assert cluster_metrics.JOB in _jobs(d)
    assert write_prometheus_config(plan, d, PROJECT) is False  # unchanged: no reload needed
    assert "&id" not in (d / "config/prometheus/prometheus.yml").read_text()  # no YAML aliases for a reader
    token = d / cluster_metrics.CREDENTIALS_DIR / "token"
    assert token.read_text() == "tok" and oct(token.stat().st_mode & 0o777) == "0o644"  # Prometheus runs as nobody
    render(plan, d, PROJECT)  # a re-render keeps them, and the job
    assert token.is_file() and cluster_metrics.JOB in _jobs(d)
    cluster_metrics.forget_credentials(d)  # `down`, after deleting the cluster
    assert write_prometheus_config(plan, d, PROJECT) is True
    assert cluster_metrics.JOB not in _jobs(d)


def test_a_plan_without_seldon_drops_the_credentials_and_the_job(tmp_path: Path) -> None:
    d = tmp_path / "s"
    render(_plan("prometheus", "seldon"), d, PROJECT)
    cluster_metrics.install_credentials(d, "tok", "ca")
    render(_plan("prometheus", "minio"), d, PROJECT)
    assert not cluster_metrics.credentials_present(d)
    assert cluster_metrics.JOB not in _jobs(d)
    assert cluster_metrics.JOB not in {j["job_name"] for j in scrape_jobs(_plan("prometheus", "minio"), PROJECT)}


def test_status_does_not_expect_targets_while_no_model_is_served() -> None:
    assert cluster_metrics.JOB in ON_DEMAND_JOBS


def test_prometheus_mounts_its_config_directory_so_a_rewritten_file_reaches_it() -> None:
    doc = yaml.safe_load((compose_dir() / "prometheus.yaml").read_text())
    volumes = doc["services"]["prometheus"]["volumes"]
    assert "../config/prometheus:/etc/prometheus:ro" in volumes
    assert not any(v.endswith("prometheus.yml:ro") for v in volumes)
