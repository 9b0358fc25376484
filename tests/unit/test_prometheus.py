"""Prometheus in the plan and the rendered stack: one scrape job per metrics endpoint the planned services have,
exporters for Kafka and Redis only beside Prometheus and only for services that are planned, their memory inside
Prometheus's planned limit, and plain Compose starting exactly the containers the plan counts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from devstack.planning.catalog import CATALOG, SERVICE_NAMES
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import render, scrape_jobs
from tests.conftest import REPO


def _plan(*services: str, budget: int = 16 * 1024):  # type: ignore[no-untyped-def]
    return make_plan(PlanRequest("t", services, budget_mib=budget))


def _env(d: Path) -> dict[str, str]:
    out = {}
    for line in (d / ".env").read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v.strip("'")
    return out


def test_full_plan_scrapes_native_endpoints_and_both_exporters(tmp_path: Path) -> None:
    plan = _plan(*SERVICE_NAMES)
    render(plan, tmp_path / "s", "devstack-t")
    doc = yaml.safe_load((tmp_path / "s/config/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert list(jobs) == [
        "prometheus",
        "clickhouse",
        "minio",
        "spark-master",
        "spark-worker",
        "kafka",
        "redis",
        "containers",
        "model-server",
    ]
    # the demo's MLServer is found by DNS: no target at all (rather than one that is down) until it runs
    assert jobs["model-server"]["dns_sd_configs"] == [
        {"names": ["model-server"], "type": "A", "port": 8082, "refresh_interval": "15s"}
    ]

    def where(job: str) -> tuple[str, str]:
        return jobs[job]["static_configs"][0]["targets"][0], jobs[job].get("metrics_path", "/metrics")

    assert where("clickhouse") == ("clickhouse:9363", "/metrics")
    assert where("minio") == ("minio:9000", "/minio/v2/metrics/cluster")
    assert where("spark-master") == ("spark-master:8080", "/metrics/master/prometheus")
    assert where("spark-worker") == ("spark-worker:8081", "/metrics/prometheus")
    assert where("kafka") == ("kafka-exporter:9308", "/metrics")
    assert where("redis") == ("redis-exporter:9121", "/metrics")
    assert jobs["kafka"]["static_configs"][0]["labels"] == {"service": "kafka"}
    # cAdvisor watches the engine's containers: a container of Prometheus's, its job named for what it measures
    assert where("containers") == ("cadvisor:8080", "/metrics")
    assert jobs["containers"]["static_configs"][0]["labels"] == {"service": "prometheus"}
    assert [str(j["job_name"]) for j in scrape_jobs(plan)] == list(jobs)


def test_native_endpoints_are_switched_on_in_the_services_own_configs(tmp_path: Path) -> None:
    render(_plan(*SERVICE_NAMES), tmp_path / "s", "devstack-t")
    xml = (tmp_path / "s/config/clickhouse/config.d/devstack.xml").read_text()
    assert "<port>9363</port>" in xml and "<endpoint>/metrics</endpoint>" in xml
    minio = yaml.safe_load((tmp_path / "s/compose/minio.yaml").read_text())
    assert minio["services"]["minio"]["environment"]["MINIO_PROMETHEUS_AUTH_TYPE"] == "public"
    spark = (tmp_path / "s/config/spark/metrics.properties").read_text()
    assert "*.sink.prometheusServlet.class=org.apache.spark.metrics.sink.PrometheusServlet" in spark
    assert "master.sink.prometheusServlet.path=/metrics/master/prometheus" in spark


def test_exporters_are_prometheus_containers_inside_its_limit() -> None:
    plan = _plan(*SERVICE_NAMES)
    prom = plan.service("prometheus")
    fixed = {e.container: e.memory_mib for e in CATALOG["prometheus"].exporters}
    assert (
        {c: prom.containers[c] for c in fixed} == fixed == {"kafka-exporter": 64, "redis-exporter": 32, "cadvisor": 64}
    )
    assert sum(prom.containers.values()) == prom.limit_mib
    assert prom.floor_mib == CATALOG["prometheus"].memory.floor + sum(fixed.values())
    for name, mib in fixed.items():
        assert int(prom.knobs[f"{name}.GOMEMLIMIT"].removesuffix("MiB")) < mib
    assert plan.total_mib <= plan.budget_mib


@pytest.mark.parametrize(
    ("services", "exporters"),
    [
        (("prometheus", "minio"), {"cadvisor"}),  # cAdvisor watches the containers: it runs with Prometheus
        (("prometheus", "kafka"), {"kafka-exporter", "cadvisor"}),
        (("prometheus", "redis"), {"redis-exporter", "cadvisor"}),
        (("kafka", "redis"), set()),  # no Prometheus, nothing to export to
    ],
)
def test_an_exporter_runs_only_when_its_service_and_prometheus_are_planned(
    tmp_path: Path, services: tuple[str, ...], exporters: set[str]
) -> None:
    plan = _plan(*services, budget=8 * 1024)
    containers = {c for s in plan.services for c in s.containers}
    assert containers & {"kafka-exporter", "redis-exporter", "cadvisor"} == exporters
    render(plan, tmp_path / "s", "devstack-t")
    env = _env(tmp_path / "s")
    profiles = set(env.get("COMPOSE_PROFILES", "").split(",")) - {""}
    assert profiles & {"kafka-exporter", "redis-exporter", "cadvisor"} == exporters
    images = {k for k in env if k.endswith(("_EXPORTER", "_CADVISOR")) and k.startswith("DEVSTACK_IMAGE_")}
    assert images == {f"DEVSTACK_IMAGE_{e.upper().replace('-', '_')}" for e in exporters}
    assert (tmp_path / "s/config/prometheus/kafka-exporter/args").exists() == ("kafka-exporter" in exporters)
    if "prometheus" in services:
        jobs = {j["job_name"] for j in scrape_jobs(plan)}
        named = {"kafka-exporter": "kafka", "redis-exporter": "redis", "cadvisor": "containers"}
        assert {"kafka", "redis", "containers"} & jobs == {named[e] for e in exporters}


@pytest.mark.parametrize("brokers", [1, 3])
def test_kafka_exporter_bootstraps_from_every_planned_broker(tmp_path: Path, brokers: int) -> None:
    budget = 16 * 1024 if brokers == 3 else 1600
    plan = _plan("kafka", "prometheus", budget=budget)
    assert plan.service("kafka").replicas == brokers
    render(plan, tmp_path / "s", "devstack-t")
    args = (tmp_path / "s/config/prometheus/kafka-exporter/args").read_text().splitlines()
    flags = [a for a in args if not a.startswith("#")]
    assert [a for a in flags if a.startswith("--kafka.server=")] == [
        f"--kafka.server=kafka-{i}:19092" for i in range(1, brokers + 1)
    ]
    assert "--kafka.version=4.0.0" in flags  # not the 2.0.0 default: Kafka 4 dropped old request versions


def test_exporter_sizes_reach_compose(tmp_path: Path) -> None:
    plan = _plan(*SERVICE_NAMES)
    render(plan, tmp_path / "s", "devstack-t")
    env = _env(tmp_path / "s")
    prom = plan.service("prometheus")
    assert env["DEVSTACK_PROMETHEUS_MEM"] == f"{prom.containers['prometheus']}m"
    assert env["DEVSTACK_KAFKA_EXPORTER_MEM"] == "64m" and env["DEVSTACK_REDIS_EXPORTER_MEM"] == "32m"
    assert env["DEVSTACK_KAFKA_EXPORTER_GOMEMLIMIT"] == prom.knobs["kafka-exporter.GOMEMLIMIT"]
    assert env["DEVSTACK_IMAGE_KAFKA_EXPORTER"] == "danielqsj/kafka-exporter:v1.9.0"
    assert env["DEVSTACK_IMAGE_REDIS_EXPORTER"] == "oliver006/redis_exporter:v1.74.0"


def test_pinned_prometheus_memory_holds_its_exporters() -> None:
    from devstack.planning.settings import ServiceSettings

    req = PlanRequest(
        "t", ("prometheus", "kafka", "redis"), {"prometheus": ServiceSettings(memory="512m")}, budget_mib=8 * 1024
    )
    prom = make_plan(req).service("prometheus")
    assert prom.limit_mib == 512 and sum(prom.containers.values()) == 512


@pytest.mark.compose
@pytest.mark.parametrize(
    "services", [SERVICE_NAMES, ("prometheus", "minio"), ("prometheus", "kafka"), ("prometheus", "redis")]
)
def test_compose_runs_exactly_the_planned_containers(tmp_path: Path, services: tuple[str, ...]) -> None:
    plan = _plan(*services)
    render(plan, tmp_path / "s", "devstack-t")
    out = subprocess.run(
        ["docker", "compose", "config", "--services"], cwd=tmp_path / "s", capture_output=True, text=True, check=True
    ).stdout.split()
    planned = {c for s in plan.services if s.runtime == "compose" for c in s.containers}
    assert set(out) == planned


def test_cadvisor_lets_through_the_labels_the_container_rules_select_by() -> None:
    """The rules name cAdvisor's label for a Docker label; compose/prometheus.yaml's whitelist decides which Docker
    labels cAdvisor keeps. A label the rules use and the whitelist drops would leave every container rule empty."""
    import re

    from devstack.runtime.engine.containers import CATALOG_LABEL
    from devstack.services import prometheus

    doc = yaml.safe_load((REPO / "compose" / "prometheus.yaml").read_text())
    (flag,) = [a for a in doc["services"]["cadvisor"]["command"] if a.startswith("--whitelisted_container_labels=")]
    kept = {"container_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", x) for x in flag.split("=", 1)[1].split(",")}
    assert {prometheus.PROJECT_LABEL, prometheus.SERVICE_LABEL} <= kept
    assert "container_label_" + CATALOG_LABEL.replace(".", "_") == prometheus.SERVICE_LABEL
    rules = [a.rule(project="p")["expr"] for a in prometheus.ALERTS if a.name != "TargetDown"]
    assert all(prometheus.PROJECT_LABEL in str(r) for r in rules), rules
