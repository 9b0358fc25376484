"""The rendered stack: sized knobs land in the service configs, ports bind loopback, secrets are private and
random, re-rendering keeps them, and plain `docker compose config` accepts every profile."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from devstack.planning.catalog import SERVICE_NAMES
from devstack.planning.config import plan_request, select
from devstack.planning.plan import PlanRequest, make_plan
from devstack.planning.profiles import profile_names
from devstack.render.project import render
from tests.conftest import run_cli

WELL_KNOWN = {"admin", "password", "minioadmin", "airflow", "postgres", "changeme", "secret", "default", "mlflow", ""}


def full_plan(budget: int = 20 * 1024):
    return make_plan(PlanRequest("full", SERVICE_NAMES, budget_mib=budget))


def env_of(d: Path) -> dict[str, str]:
    out = {}
    for line in (d / ".env").read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v.strip("'")
    return out


def test_configs_carry_the_sized_knobs(tmp_path: Path) -> None:
    plan = full_plan()
    d = tmp_path / "s"
    render(plan, d, "devstack-t")
    env = env_of(d)
    kafka = plan.service("kafka")
    assert env["DEVSTACK_KAFKA_HEAP_OPTS"] == kafka.knobs["KAFKA_HEAP_OPTS"]
    assert env["DEVSTACK_KAFKA_MEM"] == f"{kafka.containers['kafka-1']}m"
    props = (d / "config/kafka/kafka-2/server.properties").read_text()
    assert "node.id=2" in props and "controller.quorum.voters=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093" in props
    assert "advertised.listeners=INTERNAL://kafka-2:19092,HOST://127.0.0.1:9093" in props
    assert "min.insync.replicas=2" in props and "default.replication.factor=3" in props
    redis = (d / "config/redis/redis.conf").read_text()
    assert f"maxmemory {plan.service('redis').knobs['maxmemory']}" in redis and "appendonly yes" in redis
    ch = plan.service("clickhouse").knobs
    xml = (d / "config/clickhouse/config.d/devstack.xml").read_text()
    assert f"<max_server_memory_usage>{ch['max_server_memory_usage']}</max_server_memory_usage>" in xml
    users = (d / "config/clickhouse/users.d/devstack.xml").read_text()
    assert f"<max_memory_usage>{ch['max_memory_usage']}</max_memory_usage>" in users
    spark = (d / "config/spark/spark-defaults.conf").read_text()
    assert re.search(rf"spark.executor.memory\s+{plan.service('spark').knobs['spark.executor.memory']}", spark)
    assert re.search(rf"spark.driver.memory\s+{plan.service('jupyter').knobs['spark.driver.memory']}", spark)
    assert env["DEVSTACK_SPARK_WORKER_MEMORY"] == plan.service("spark").knobs["SPARK_WORKER_MEMORY"]
    prom = yaml.safe_load((d / "config/prometheus/prometheus.yml").read_text())
    assert {j["job_name"] for j in prom["scrape_configs"]} >= {"clickhouse", "minio", "spark-master"}
    k3d = yaml.safe_load((d / "k3d/cluster.yaml").read_text())
    assert k3d["apiVersion"] == "k3d.io/v1alpha5" and k3d["agents"] == 2 and k3d["servers"] == 1
    assert json.loads((d / "plan.json").read_text())["budget_mib"] == plan.budget_mib


def test_one_broker_plan_renders_one_broker(tmp_path: Path) -> None:
    plan = make_plan(PlanRequest("minimal", ("kafka", "redis"), budget_mib=1300))
    assert plan.service("kafka").replicas == 1
    render(plan, tmp_path / "s", "devstack-t")
    props = (tmp_path / "s/config/kafka/kafka-1/server.properties").read_text()
    assert "controller.quorum.voters=1@kafka-1:9093\n" in props and "min.insync.replicas=1" in props
    assert not (tmp_path / "s/config/kafka/kafka-2").exists()
    assert "COMPOSE_PROFILES" not in env_of(tmp_path / "s")


def test_secrets_are_random_private_and_stable(tmp_path: Path) -> None:
    d1, d2 = tmp_path / "a", tmp_path / "b"
    render(full_plan(), d1, "p1")
    render(full_plan(), d2, "p2")
    e1, e2 = env_of(d1), env_of(d2)
    secret_keys = [k for k in e1 if k.endswith(("_PASSWORD", "_TOKEN", "_SECRET", "_FERNET_KEY"))]
    assert len(secret_keys) >= 9
    for k in secret_keys:
        assert e1[k].lower() not in WELL_KNOWN and len(e1[k]) >= 20, k
        assert e1[k] != e2[k], f"{k} is the same in two stacks"
    for f in (d1 / ".env", d1 / "secrets.json"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(d1.stat().st_mode) == 0o700
    # the ClickHouse password is stored hashed, never in clear, in the mounted config
    assert e1["DEVSTACK_CLICKHOUSE_PASSWORD"] not in (d1 / "config/clickhouse/users.d/devstack.xml").read_text()
    render(full_plan(24 * 1024), d1, "p1")  # a new budget: new sizes, same passwords
    assert {k: env_of(d1)[k] for k in secret_keys} == {k: e1[k] for k in secret_keys}


def test_rerender_drops_files_of_removed_services(tmp_path: Path) -> None:
    d = tmp_path / "s"
    render(full_plan(), d, "p")
    render(make_plan(PlanRequest("minimal", ("redis",), budget_mib=2048)), d, "p")
    assert sorted(p.name for p in (d / "compose").iterdir()) == ["redis.yaml"]
    assert not (d / "config/kafka").exists()


@pytest.mark.compose
@pytest.mark.parametrize("profile", profile_names())
def test_every_profile_passes_docker_compose_config(
    profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    sel = select(profile=profile, services=None, budget="28g", config=None, stack=None, cwd=tmp_path)
    plan = make_plan(plan_request(sel, engine_mib=None, host_mib=None, arch="amd64"))
    d = tmp_path / "stack"
    render(plan, d, "devstack-t")
    # from another directory, as the issue asks; and from inside, as a user would
    r = subprocess.run(
        ["docker", "compose", "--project-directory", str(d), "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    inside = subprocess.run(["docker", "compose", "config", "--services"], capture_output=True, text=True, cwd=d)
    assert inside.returncode == 0, inside.stderr
    assert set(inside.stdout.split()) == set(cfg["services"])
    containers = {c for s in plan.services for c in s.containers}
    assert set(cfg["services"]) == containers - {"k3d-server-0", "k3d-agent-0", "k3d-agent-1"}
    for name, svc in cfg["services"].items():
        for p in svc.get("ports", []):
            assert p["host_ip"] == "127.0.0.1", (name, p)
        limit = svc.get("mem_limit")
        assert limit is not None, f"{name} has no memory limit"
        planned = next(s.containers[name] for s in plan.services if name in s.containers)
        assert int(limit) == planned * 1024 * 1024, name


@pytest.mark.compose
def test_render_cli_ejects_a_runnable_project(tmp_path: Path) -> None:
    out = tmp_path / "eject"
    r = run_cli("render", "--profile", "streaming", "--budget", "12g", "--out", str(out), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["directory"] == str(out)
    ps = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=out, capture_output=True, text=True)
    assert ps.returncode == 0, ps.stderr


def test_kafka_cluster_ids_never_start_with_a_dash() -> None:
    from devstack.render.state import _new_secret

    ids = [_new_secret("kafka_cluster_id") for _ in range(2000)]  # ~1 in 64 would without the guard
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)


@pytest.mark.compose
def test_engines_with_start_interval_get_it_on_every_healthcheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered for Docker Engine 25+: plain `docker compose` inside the directory (COMPOSE_FILE in .env) merges
    the start-interval file over every included service's healthcheck; rendered again for an older engine, the
    file and the COMPOSE_FILE line are gone, since Compose refuses the key there."""
    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    d = tmp_path / "s"
    render(full_plan(), d, "devstack-t", start_interval=True)
    assert env_of(d)["COMPOSE_FILE"] == "compose.yaml:compose.start-interval.yaml"
    r = subprocess.run(["docker", "compose", "config", "--format", "json"], capture_output=True, text=True, cwd=d)
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    checked = {n: s["healthcheck"] for n, s in services.items() if "healthcheck" in s}
    assert {"kafka-1", "postgres", "airflow-apiserver", "airflow-dag-processor"} <= set(checked)
    seconds = {"2s": 2, "3s": 3, "5s": 5, "10s": 10, "30s": 30}
    for name, hc in checked.items():
        assert hc.get("start_interval") in ("2s", "3s", "10s"), (name, hc)
        # faster while starting than the steady-state cadence, which stays the service file's own
        assert seconds[hc["start_interval"]] < seconds[hc["interval"]], (name, hc)
        assert hc.get("start_period"), (name, hc)  # start_interval applies only within it
    render(full_plan(), d, "devstack-t")
    assert not (d / "compose.start-interval.yaml").exists() and "COMPOSE_FILE" not in env_of(d)
    r = subprocess.run(["docker", "compose", "config", "--format", "json"], capture_output=True, text=True, cwd=d)
    assert r.returncode == 0, r.stderr
    assert not any("start_interval" in s.get("healthcheck", {}) for s in json.loads(r.stdout)["services"].values())


def test_compose_files_default_to_the_catalogs_images() -> None:
    """An ejected Compose file run without devstack's .env pulls what devstack would: each `${DEVSTACK_IMAGE_X:-ref}`
    default is the catalog's pin (devstack's own build where the catalog says so)."""
    from tests.fidelity_images import run_refs

    pins = {f"DEVSTACK_IMAGE_{key.upper()}": ref for (_, key), ref in run_refs().items()}
    compose = Path(__file__).resolve().parents[2] / "compose"
    found = {
        (m[1], m[2], f.name)
        for f in sorted(compose.glob("*.yaml"))
        for m in re.finditer(r"\$\{(DEVSTACK_IMAGE_[A-Z0-9_]+):-([^}]+)\}", f.read_text())
    }
    assert {var for var, _, _ in found} >= {"DEVSTACK_IMAGE_SPARK", "DEVSTACK_IMAGE_JUPYTER", "DEVSTACK_IMAGE_KAFKA"}
    for var, default, name in found:
        assert pins.get(var) == default, f"{name}: {var} defaults to {default}, the catalog pins {pins.get(var)}"


def test_write_atomic_sets_the_mode_from_the_start_and_leaves_no_tmp(tmp_path: Path) -> None:
    import os

    from devstack.core.files import write_atomic, write_private

    old = os.umask(0)
    try:
        write_private(tmp_path / "secret", "s3cret")
        write_atomic(tmp_path / "sub" / "public", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "sub" / "public").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "secret").read_text() == "s3cret"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # no temporary file left behind


def test_write_atomic_from_two_threads_at_once_never_fails_or_mixes(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from devstack.core.files import write_atomic

    texts = [str(i) * 50_000 for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: write_atomic(tmp_path / "peaks.json", t), texts * 4))
    assert (tmp_path / "peaks.json").read_text() in texts
