"""Bootstrap on a real stack (the test images), through the CLI: `up` creates the pipeline's topics, versioned
buckets, ClickHouse tables and views, today's MLflow experiment and the registered model, and the feature TTL;
a second run changes nothing; whatever is removed by hand comes back on the next run, and only that."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import pipeline
from devstack.services import minio
from devstack.services.kafka import ADMIN, Login, login
from tests.conftest import kafka_conf, run_cli, up_failed
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-boot"
SERVICES = "kafka,clickhouse,minio,redis,postgres,mlflow"
SHIFT = 23000  # every published port moved by a devstack.yaml: no other stack's ports are needed


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        ["KAFKA", "REDIS", "MINIO", "CLICKHOUSE", "POSTGRES", "MLFLOW"],
    )
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def first_up(env: dict[str, str]) -> dict[str, Any]:
    config = config_path(env)
    r = run_cli("up", "--services", SERVICES, "--budget", "8g", "--stack", STACK, "--config", config, "--json", env=env)
    assert r.returncode == 0, up_failed(r)
    return dict(json.loads(r.stdout))


@pytest.fixture(scope="module")
def stack_env(env: dict[str, str], first_up: dict[str, Any]) -> dict[str, str]:
    r = run_cli("env", "--stack", STACK, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _secrets(env: dict[str, str]) -> dict[str, str]:
    return dict(json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text()))


def _bootstrap(env: dict[str, str]) -> dict[str, Any]:
    r = run_cli("bootstrap", "--stack", STACK, "--json", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return dict(json.loads(r.stdout))


def _actions(items: list[dict[str, str]]) -> dict[str, str]:
    return {f"{i['system']} {i['item']}": i["action"] for i in items}


def _ch(e: dict[str, str], sql: str) -> str:
    req = urllib.request.Request(
        e["CLICKHOUSE_URL"] + "/",
        data=sql.encode(),
        headers={"X-ClickHouse-User": e["CLICKHOUSE_USER"], "X-ClickHouse-Key": e["CLICKHOUSE_PASSWORD"]},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(r.read().decode())


def _s3(e: dict[str, str], env: dict[str, str] | None = None, user: str = "") -> Any:
    """MinIO as a client user (`devstack env`'s, the notebooks user, unless named) or, with `env` and no user, as
    the root user, which alone may create and delete buckets."""
    from devstack.lifecycle.bootstrap.buckets import client
    from devstack.services import minio

    if env is None:
        return client(e["AWS_ENDPOINT_URL"], e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"])
    key = minio.password_key(user) if user else "minio_password"
    return client(e["AWS_ENDPOINT_URL"], user or minio.USER, _secrets(env)[key])


def _admin(e: dict[str, str], env: dict[str, str], servers: str = "") -> Any:
    """The stack's admin principal (the brokers ask for SASL; the topics' ACLs are its to read)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_conf(servers or e["KAFKA_BOOTSTRAP_SERVERS"], env, STACK))


def test_up_bootstraps_everything_the_pipeline_expects(first_up: dict[str, Any], stack_env: dict[str, str]) -> None:
    actions = _actions(first_up["bootstrap"])
    experiment = pipeline.experiment_name(dt.datetime.now(dt.UTC).date())
    for t in pipeline.TOPICS:
        assert actions[f"kafka topic {t}"] == "created"
    for b in pipeline.BUCKETS:
        assert actions[f"minio bucket {b}"] == "created"
    for user in minio.CLIENTS:
        assert actions[f"minio user {user}"] == "created"
    for obj in ("table market.ticks", "materialized view market.bars_1m_mv", "table market.signals"):
        assert actions[f"clickhouse {obj}"] == "created"
    assert actions[f"mlflow experiment {experiment}"] == "created"
    assert actions[f"mlflow registered model {pipeline.MODEL_NAME}"] == "created"
    assert actions[f"redis {pipeline.FEATURE_TTL_KEY}"] == "updated"
    print(f"\nfirst up: {len(actions)} bootstrap items, {sum(a != 'ok' for a in actions.values())} changed")


def _brokers(e: dict[str, str]) -> list[str]:
    return e["KAFKA_BOOTSTRAP_SERVERS"].split(",")


def test_topics_have_the_plans_replication(env: dict[str, str], stack_env: dict[str, str]) -> None:
    """Read back through a client bootstrapped to each broker (librdkafka then asks whichever broker it picks): a
    client may ask any of them, so once bootstrap has reported, every answer must list the topics and their
    configs (two CI runs saw answers without them: brokers that had not applied the controller's metadata yet)."""
    from confluent_kafka.admin import ConfigResource

    brokers = _brokers(stack_env)
    assert len(brokers) == 3
    for b in brokers:
        admin = _admin(stack_env, env, b)
        meta = admin.list_topics(timeout=20)
        for t in pipeline.TOPICS:
            assert t in meta.topics, (b, meta.orig_broker_id, sorted(meta.topics))
            parts = meta.topics[t].partitions
            assert len(parts) == 3 and {len(p.replicas) for p in parts.values()} == {3}, (b, t)
        res = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in pipeline.TOPICS]
        for r, f in admin.describe_configs(res).items():
            assert f.result()["min.insync.replicas"].value == "2", (b, r.name)


def test_a_topic_a_lagging_broker_does_not_list_is_reported_as_there(
    env: dict[str, str], stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real cluster, with the first broker asked answering as one that has not applied the topics yet (the
    metadata without them): Kafka then answers TOPIC_ALREADY_EXISTS, and the report must say the topic was
    already there, not that bootstrap created it."""
    from devstack.lifecycle.bootstrap import kafka_topics
    from devstack.lifecycle.bootstrap.spec import topics_for

    real = kafka_topics.admin_client

    class Lagging:
        def __init__(self, admin: Any) -> None:
            self.admin, self.first = admin, True

        def list_topics(self, **kw: Any) -> Any:
            meta = self.admin.list_topics(**kw)
            if self.first:
                self.first = False
                for t in pipeline.TOPICS:
                    meta.topics.pop(t, None)
            return meta

        def __getattr__(self, name: str) -> Any:
            return getattr(self.admin, name)

    first = [True]

    def admin(login: Login) -> Any:
        a = real(login)
        if first[0]:  # bootstrap's own client; the per-broker checks after it get plain ones
            first[0] = False
            return Lagging(a)
        return a

    monkeypatch.setattr(kafka_topics, "admin_client", admin)
    changes = kafka_topics.apply(topics_for(3), login(stack_env["KAFKA_BOOTSTRAP_SERVERS"], ADMIN, _secrets(env)))
    by_item = {c.item: c for c in changes}
    for t in pipeline.TOPICS:
        c = by_item[f"topic {t}"]
        assert c.action == "ok" and "already there" in c.detail, c


def test_buckets_are_versioned(stack_env: dict[str, str]) -> None:
    s3 = _s3(stack_env)
    for b in pipeline.BUCKETS:
        assert s3.get_bucket_versioning(Bucket=b).get("Status") == "Enabled"
    s3.put_object(Bucket=pipeline.DATASETS_BUCKET, Key="v.txt", Body=b"one")
    s3.put_object(Bucket=pipeline.DATASETS_BUCKET, Key="v.txt", Body=b"two")
    versions = s3.list_object_versions(Bucket=pipeline.DATASETS_BUCKET, Prefix="v.txt")["Versions"]
    assert len(versions) == 2
    for v in versions:
        s3.delete_object(Bucket=pipeline.DATASETS_BUCKET, Key="v.txt", VersionId=v["VersionId"])


def test_materialized_views_aggregate_ticks(stack_env: dict[str, str]) -> None:
    _ch(
        stack_env,
        "INSERT INTO market.ticks VALUES ('T', toDateTime(1732380000), 1732380000000, 10, 5, 1),"
        " ('T', toDateTime(1732380030), 1732380030000, 12, 7, 2)",
    )
    assert _ch(stack_env, "SELECT open, high, low, close, volume, trades FROM market.ohlcv_1m WHERE symbol = 'T'")
    row = _ch(stack_env, "SELECT open, high, low, close, volume, trades FROM market.ohlcv_1m WHERE symbol = 'T'")
    assert row.split() == ["10", "12", "10", "12", "12", "2"]


def test_second_run_changes_nothing(env: dict[str, str], stack_env: dict[str, str]) -> None:
    out = _bootstrap(env)
    assert out["changed"] == 0, [i for i in out["items"] if i["action"] != "ok"]
    r = run_cli("bootstrap", "--stack", STACK, env=env)
    assert r.returncode == 0 and "nothing changed" in r.stdout, r.stdout


def _first_error(conf: dict[str, Any], topic: str, group: str) -> str:
    """Subscribe as `conf` and poll: the first error's name, or "" once the group has handed the consumer its
    partitions and two more seconds of fetching brought none (a refused topic or group errs before that)."""
    from confluent_kafka import Consumer

    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    try:
        deadline, quiet_until = time.monotonic() + 60, None
        while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
            m = c.poll(0.5)
            if m is not None and m.error():
                return str(m.error().name())
            if quiet_until is None and c.assignment():
                quiet_until = time.monotonic() + 2
        assert quiet_until is not None, f"no error and no partitions of {topic} within 60 s"
        return ""
    finally:
        c.close()


def test_kafka_refuses_a_client_that_does_not_sign_in(stack_env: dict[str, str]) -> None:
    """Issue 15.3: every listener asks for SASL SCRAM; a client without credentials, or with a wrong password, gets
    no metadata at all."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    quiet = {"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"], "log_level": 0, "logger": lambda *a: None}
    wrong = {
        **quiet,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": stack_env["KAFKA_USERNAME"],
        "sasl.password": "not-" + stack_env["KAFKA_PASSWORD"],
    }
    for conf in (quiet, wrong):
        with pytest.raises(KafkaException):
            AdminClient(conf).list_topics(timeout=8)


def test_each_kafka_principal_reads_only_its_topics(env: dict[str, str], stack_env: dict[str, str]) -> None:
    """Issue 15.3: one principal per client with ACLs for its own topics: the scorer reads signals, not the ticks;
    the Spark job's principal reads ticks, not predictions; notebooks (devstack env's) read all three."""
    from devstack.services.kafka import SCORER_GROUP, SPARK_GROUPS

    servers = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    scorer, pipeline_job = (kafka_conf(servers, env, STACK, who) for who in ("scorer", "pipeline"))
    notebooks = {
        **kafka_conf(servers, env, STACK, "notebooks"),
        "sasl.username": stack_env["KAFKA_USERNAME"],
        "sasl.password": stack_env["KAFKA_PASSWORD"],
    }
    spark_group = f"{SPARK_GROUPS[0]}t"
    assert _first_error(scorer, pipeline.TICKS_TOPIC, SCORER_GROUP) == "TOPIC_AUTHORIZATION_FAILED"
    assert _first_error(pipeline_job, pipeline.PREDICTIONS_TOPIC, spark_group) == "TOPIC_AUTHORIZATION_FAILED"
    assert _first_error(scorer, pipeline.SIGNALS_TOPIC, SCORER_GROUP) == ""
    assert _first_error(pipeline_job, pipeline.TICKS_TOPIC, spark_group) == ""
    for t in pipeline.TOPICS:
        assert _first_error(notebooks, t, "notebook-t") == "", t
    # a group another principal's ACLs name is closed to the rest: the scorer's group, joined by the job
    assert _first_error(pipeline_job, pipeline.TICKS_TOPIC, SCORER_GROUP) == "GROUP_AUTHORIZATION_FAILED"


def _s3_error(call: Any) -> str:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return ""


def test_each_minio_user_reaches_only_its_buckets(env: dict[str, str], stack_env: dict[str, str]) -> None:
    # devstack env hands the host's tools the notebooks user, not the root user
    assert stack_env["AWS_ACCESS_KEY_ID"] == minio.NOTEBOOKS
    notebooks, serving, mlflow = (_s3(stack_env, env, u) for u in (minio.NOTEBOOKS, minio.SERVING, "mlflow"))
    art, data = pipeline.MLFLOW_BUCKET, pipeline.DATASETS_BUCKET
    # MLflow's server writes its artifacts (clients log them through its proxy); serving and notebooks read them
    assert _s3_error(lambda: mlflow.put_object(Bucket=art, Key="acl/m.txt", Body=b"m")) == ""
    assert serving.get_object(Bucket=art, Key="acl/m.txt")["Body"].read() == b"m"
    assert notebooks.get_object(Bucket=art, Key="acl/m.txt")["Body"].read() == b"m"
    assert _s3_error(lambda: serving.put_object(Bucket=art, Key="acl/s.txt", Body=b"s")) == "AccessDenied"
    assert _s3_error(lambda: notebooks.delete_object(Bucket=art, Key="acl/m.txt")) == "AccessDenied"
    # notebooks own the datasets; the others may not even list them
    assert _s3_error(lambda: notebooks.put_object(Bucket=data, Key="acl/n.txt", Body=b"n")) == ""
    assert _s3_error(lambda: serving.list_objects_v2(Bucket=data)) == "AccessDenied"
    assert _s3_error(lambda: mlflow.get_object(Bucket=data, Key="acl/n.txt")) == "AccessDenied"
    # no client may make or remove a bucket, nor sign in with a wrong secret
    assert _s3_error(lambda: notebooks.create_bucket(Bucket="not-mine")) == "AccessDenied"
    assert _s3_error(lambda: notebooks.delete_bucket(Bucket=pipeline.MODELS_BUCKET)) == "AccessDenied"
    from devstack.lifecycle.bootstrap.buckets import client

    wrong = client(stack_env["AWS_ENDPOINT_URL"], minio.SERVING, "not-the-password")
    assert _s3_error(lambda: wrong.list_objects_v2(Bucket=art)) in ("SignatureDoesNotMatch", "InvalidAccessKeyId")
    root = _s3(stack_env, env)
    for bucket, key in ((art, "acl/m.txt"), (data, "acl/n.txt")):
        for v in root.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
            root.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])


def test_removed_by_hand_comes_back(env: dict[str, str], stack_env: dict[str, str]) -> None:
    import redis

    e = stack_env
    s3 = _s3(e, env)  # buckets are the root user's to delete
    s3.delete_bucket(Bucket=pipeline.MODELS_BUCKET)
    admin = _admin(e, env)
    admin.delete_topics([pipeline.SIGNALS_TOPIC])[pipeline.SIGNALS_TOPIC].result()
    deadline = time.monotonic() + 60
    while pipeline.SIGNALS_TOPIC in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(1)
    _ch(e, "DROP TABLE market.signals")
    _ch(e, "DROP TABLE market.bars_1m_mv")
    r = redis.Redis.from_url(e["REDIS_URL"])
    r.delete(pipeline.FEATURE_TTL_KEY)
    r.hset(pipeline.feature_key("LOST"), mapping={"ret": 0.1})  # a writer forgot EXPIRE

    out = _bootstrap(env)
    changed = {k: a for k, a in _actions(out["items"]).items() if a != "ok"}
    assert changed == {
        f"minio bucket {pipeline.MODELS_BUCKET}": "created",
        f"kafka topic {pipeline.SIGNALS_TOPIC}": "created",
        "clickhouse table market.signals": "created",
        "clickhouse materialized view market.bars_1m_mv": "created",
        f"redis {pipeline.FEATURE_TTL_KEY}": "updated",
        f"redis {pipeline.FEATURE_KEY_PREFIX}*": "updated",
    }, changed
    assert 0 < r.ttl(pipeline.feature_key("LOST")) <= pipeline.FEATURE_TTL_SECONDS
    assert s3.get_bucket_versioning(Bucket=pipeline.MODELS_BUCKET).get("Status") == "Enabled"
    # the recreated view feeds the bars again
    _ch(e, "INSERT INTO market.ticks VALUES ('U', toDateTime(1732380000), 1732380000000, 3, 1, 1)")
    assert _ch(e, "SELECT trades FROM market.ohlcv_1m WHERE symbol = 'U'").split() == ["1"]
    assert _bootstrap(env)["changed"] == 0
    print(f"\nrecreated by the next bootstrap: {', '.join(sorted(changed))}")


def test_a_missing_stack_is_one_clear_line(env: dict[str, str]) -> None:
    r = run_cli("bootstrap", "--stack", "never-made", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "devstack up --stack never-made" in r.stderr


def test_demo_names_the_services_this_stack_lacks(env: dict[str, str], first_up: dict[str, Any]) -> None:
    r = run_cli("demo", "--stack", STACK, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "the demo needs spark" in r.stderr and f"devstack up --stack {STACK} --services" in r.stderr
