"""The service registry (issue 14.1): one module per service, the same contract for each, and what crosses services
(exporters, alert rules, alert receivers) wired by data rather than by names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devstack.planning.context import context
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import config_files
from devstack.render.state import SECRET_NAMES
from devstack.services import BUILT_IN, SERVICES, assemble
from devstack.services.base import TLS, Endpoint, Runtime

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
SECRETS = {n: f"secret-{n}" for n in SECRET_NAMES}


def _plan(*names: str, budget_gib: int = 40):  # type: ignore[no-untyped-def]
    return make_plan(PlanRequest("test", names, budget_mib=budget_gib * 1024))


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_keeps_the_same_contract(name: str) -> None:
    service = SERVICES[name]
    module = __import__(f"devstack.services.{name}", fromlist=["SERVICE"])
    assert module.SERVICE.name == name == module.NAME, "one module per service, named after it"
    plan = _plan(name)
    ctx = context(plan, name, secrets=SECRETS, project="devstack-t")
    # the TLS proxy has no endpoint of its own: it publishes the others' TLS twins (their endpoints, via_tls)
    assert isinstance(service.endpoint(ctx), Endpoint) or (name == TLS and service.endpoint(ctx) is None)
    if service.spec.runtime == Runtime.K3D:
        assert service.probe is None  # k3d's own readiness and the cluster job stand in for it
        return
    assert service.probe is not None and service.deadline_s > 0
    service.probe(ctx)  # data only: building it touches nothing
    # its Compose file runs every container its sizer gives memory to, each labelled with the service
    generated = service.files(ctx).get(f"compose/{service.spec.compose_file}")  # from the plan (the TLS proxy's)
    doc = yaml.safe_load(generated or (COMPOSE / str(service.spec.compose_file)).read_text())
    me = plan.service(name)
    for container in me.containers:
        assert container in doc["services"], f"{service.spec.compose_file} has no {container}"
        assert doc["services"][container]["labels"]["dev.devstack.service"] == name
    # every memory limit its Compose file reads from .env is rendered
    env = service.env(ctx)
    for container in me.containers:
        text = yaml.safe_dump(doc["services"][container])
        for var in {v for v in env if v.endswith("_MEM")}:
            if var in text:
                break
        else:
            pytest.fail(f"{container}: no rendered _MEM variable of {sorted(env)} is in its Compose service")


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="two services are named 'redis'"):
        assemble([*BUILT_IN, SERVICES["redis"]])


def test_the_exporters_the_services_declare_run_inside_the_scraper() -> None:
    prom = SERVICES["prometheus"].spec
    assert {e.watches for e in prom.exporters} == {s.name for s in BUILT_IN if s.exporter}
    assert {e.image_key for e in prom.exporters} <= set(prom.images)


def test_alerts_go_to_alertmanager_only_when_it_is_planned() -> None:
    with_am = config_files(_plan("redis", "prometheus", "alertmanager"), SECRETS, "devstack-t")
    doc = yaml.safe_load(with_am["config/prometheus/prometheus.yml"])
    assert doc["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]}
    assert doc["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    rules = yaml.safe_load(with_am["config/prometheus/rules/devstack.yml"])
    assert {g["name"]: [r["alert"] for r in g["rules"]] for g in rules["groups"]} == {
        "redis": ["RedisMemoryNearMax"],
        "prometheus": [
            "TargetDown",
            "ContainerMemoryNearLimit",
            "ContainerOOMKilled",
            "ContainerRestartLoop",
            "VolumeDiskNearFull",
        ],
    }
    # the container rules select this stack's containers by its Compose project: cAdvisor sees the whole engine
    (prom,) = [g for g in rules["groups"] if g["name"] == "prometheus"]
    for rule in prom["rules"][1:]:
        assert 'container_label_com_docker_compose_project="devstack-t"' in rule["expr"], rule
    assert "config/alertmanager/alertmanager.yml" in with_am
    # rules still evaluate without Alertmanager (Prometheus's own alerts page shows them); nothing is sent
    without = yaml.safe_load(
        config_files(_plan("redis", "prometheus"), SECRETS, "devstack-t")["config/prometheus/prometheus.yml"]
    )
    assert "alerting" not in without and without["rule_files"]
    # and without Prometheus there is nothing to evaluate them
    alone = config_files(_plan("redis", "alertmanager"), SECRETS, "devstack-t")
    assert not any(f.startswith("config/prometheus/") for f in alone)


def test_devstack_yaml_alert_settings_reach_the_rendered_rules() -> None:
    plan = make_plan(
        PlanRequest(
            "test",
            ("kafka", "redis", "prometheus"),
            budget_mib=8 * 1024,
            alerts={
                "KafkaConsumerGroupLag": {"threshold": 500, "for": "30s"},
                "RedisMemoryNearMax": {"enabled": False},
            },
        )
    )
    assert plan.alerts["KafkaConsumerGroupLag"] == {"threshold": 500, "for": "30s"}  # kept in plan.json
    files = config_files(plan, SECRETS, "devstack-t")
    rules = {
        r["alert"]: r
        for g in yaml.safe_load(files["config/prometheus/rules/devstack.yml"])["groups"]
        for r in g["rules"]
    }
    assert rules["KafkaConsumerGroupLag"]["expr"].endswith("> 500") and rules["KafkaConsumerGroupLag"]["for"] == "30s"
    assert rules["KafkaUnderReplicatedPartitions"]["for"] == "2m"  # not set: the service's own
    assert "RedisMemoryNearMax" not in rules  # switched off


def test_redis_has_a_user_per_client_and_no_password_in_its_config() -> None:
    import hashlib

    files = config_files(_plan("redis", "prometheus"), SECRETS, "devstack-t")
    conf = files["config/redis/redis.conf"]
    users = {line.split()[1]: line for line in conf.splitlines() if line.startswith("user ")}
    assert set(users) == {"features", "exporter", "probe"}
    for user, line in users.items():
        secret = SECRETS[f"redis_{user}_password"]
        assert f"#{hashlib.sha256(secret.encode()).hexdigest()}" in line and secret not in conf
    assert "~features:*" in users["features"] and "-@dangerous" in users["features"]
    assert users["probe"].endswith("resetkeys -@all +ping")


def test_clickhouse_has_a_user_per_client_on_the_pipelines_database_only() -> None:
    import hashlib
    import xml.etree.ElementTree as ET

    files = config_files(_plan("clickhouse"), SECRETS, "devstack-t")
    text = files["config/clickhouse/users.d/devstack.xml"]
    users = ET.fromstring(text[text.index("<yandex>") :]).find("users")
    assert users is not None
    clients = {u.tag: u for u in users if u.tag != "default"}
    assert set(clients) == {"pipeline", "notebooks", "airflow", "probe"}
    for name, u in clients.items():
        secret = SECRETS[f"clickhouse_{name}_password"]
        assert u.findtext("password_sha256_hex") == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in text
        assert [d.text for d in u.iter("database")] == ["market"]
    assert {n for n, u in clients.items() if u.findtext("profile") == "devstack_readonly"} == {"airflow", "probe"}


def test_each_minio_user_gets_only_its_buckets() -> None:
    from devstack import pipeline
    from devstack.services import minio

    by_name = {c.name: c for c in minio.clients(pipeline.BUCKET_ROLES)}
    assert set(by_name) == set(minio.CLIENTS) == {"mlflow", "serving", "notebooks"}

    def grants(name: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for st in minio.policy(by_name[name])["Statement"]:  # type: ignore[attr-defined]
            assert st["Effect"] == "Allow"
            for r in st["Resource"]:
                out.setdefault(r.removeprefix("arn:aws:s3:::"), set()).update(st["Action"])
        return out

    art, data, models = pipeline.MLFLOW_BUCKET, pipeline.DATASETS_BUCKET, pipeline.MODELS_BUCKET
    assert set(grants("serving")) == {art, f"{art}/*"} and "s3:PutObject" not in grants("serving")[f"{art}/*"]
    assert "s3:PutObject" in grants("mlflow")[f"{art}/*"] and set(grants("mlflow")) == {art, f"{art}/*"}
    nb = grants("notebooks")
    assert set(nb) == {art, f"{art}/*", data, f"{data}/*", models, f"{models}/*"}
    assert "s3:PutObject" not in nb[f"{art}/*"] and "s3:PutObject" in nb[f"{data}/*"]
    # nobody may create, delete or configure a bucket, nor use MinIO's admin API
    every = {a for c in minio.CLIENTS for acts in grants(c).values() for a in acts}
    assert not {a for a in every if a.startswith(("s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucket", "admin:"))}
    # each has its own secret, handed to Compose for the ones whose clients run there
    names = {s.name: s.env for s in minio.SERVICE.secrets}
    assert names[minio.password_key("mlflow")] == "DEVSTACK_MINIO_MLFLOW_PASSWORD"
    assert names[minio.password_key("notebooks")] == "DEVSTACK_MINIO_NOTEBOOKS_PASSWORD"
