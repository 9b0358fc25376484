"""Snapshots and restore on a real stack (issue 15.1): data written to every stateful service, a snapshot, more
written and some deleted, a restore, and exactly the snapshot's data is back (0 records lost, none extra): Kafka's
records and a consumer group's committed offset, Redis keys, PostgreSQL rows, ClickHouse rows, MinIO objects with
their versions. A snapshot cut short by Ctrl-C is never listed, and bad input gets one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.planning.catalog import CATALOG
from tests.conftest import REPO, kafka_conf, run_cli, up_failed
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-snap"
PROJECT = f"devstack-{STACK}"
SERVICES = "kafka,redis,postgres,minio,clickhouse"
SHIFT = 28000  # every published port moved by a devstack.yaml: no other stack's ports are needed
N = 100  # records written before the snapshot
TOPIC, GROUP, BUCKET = "snap-records", "snap-readers", "snap-objects"


def port(service: str, name: str) -> int:
    return next(p.host for p in CATALOG[service].ports if p.name == name) + SHIFT


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        ["KAFKA", "REDIS", "POSTGRES", "MINIO", "CLICKHOUSE"],
        extra={"kafka": {"replicas": 1}},
    )
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


def _up(env: dict[str, str]) -> None:
    r = run_cli(
        "up",
        "--services",
        SERVICES,
        "--budget",
        "5g",
        "--stack",
        STACK,
        "--config",
        config_path(env),
        "--json",
        env=env,
    )
    assert r.returncode == 0, up_failed(r)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict[str, str]:
    _up(env)
    return env


def _secrets(env: dict[str, str]) -> dict[str, str]:
    return dict(json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text()))


class Data:
    """The same records in every stateful service, by id; `ids()` reads back which ids each service holds."""

    def __init__(self, env: dict[str, str]) -> None:
        import boto3

        self.sec = _secrets(env)
        self.kafka = kafka_conf(f"127.0.0.1:{port('kafka', 'broker')}", env, STACK)
        self.s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port('minio', 's3')}",
            aws_access_key_id="devstack",
            aws_secret_access_key=self.sec["minio_password"],
            region_name="us-east-1",
        )
        q = urllib.parse.urlencode({"user": "default", "password": self.sec["clickhouse_password"]})
        self.ch = f"http://127.0.0.1:{port('clickhouse', 'http')}/?{q}"

    def chq(self, sql: str) -> str:
        return urllib.request.urlopen(urllib.request.Request(self.ch, data=sql.encode()), timeout=30).read().decode()

    def pg(self, sql: str) -> list[Any]:
        import pg8000.native

        c = pg8000.native.Connection(
            "devstack",
            host="127.0.0.1",
            port=port("postgres", "sql"),
            database="devstack",
            password=self.sec["postgres_password"],
        )
        try:
            return list(c.run(sql) or [])
        finally:
            c.close()

    def redis(self, *args: str) -> bytes:
        from devstack.runtime.health import resp_command

        return resp_command("127.0.0.1", port("redis", "redis"), self.sec["redis_password"], *args)

    def create(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(dict(self.kafka))  # kept while the future resolves: a dropped client cancels it
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(timeout=30)
        self.chq("CREATE TABLE snap (id UInt32) ENGINE = MergeTree ORDER BY id")
        self.pg("CREATE TABLE snap (id int PRIMARY KEY)")
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

    def write(self, ids: range) -> None:
        from confluent_kafka import Producer

        p = Producer({**self.kafka, "acks": "all"})
        for i in ids:
            p.produce(TOPIC, str(i).encode())
        assert p.flush(30) == 0
        for i in ids:
            self.redis("SET", f"snap:{i}", str(i))
            self.s3.put_object(Bucket=BUCKET, Key=f"o/{i}", Body=str(i).encode())
        self.chq(f"INSERT INTO snap SELECT number FROM system.numbers WHERE number >= {ids.start} LIMIT {len(ids)}")
        self.pg(f"INSERT INTO snap SELECT generate_series({ids.start}, {ids.stop - 1})")

    def delete(self, ids: range) -> None:
        for i in ids:
            self.redis("DEL", f"snap:{i}")
            self.s3.delete_object(Bucket=BUCKET, Key=f"o/{i}")  # versioned: a delete marker on top
        self.chq(f"ALTER TABLE snap DELETE WHERE id < {ids.stop}")
        self.pg(f"DELETE FROM snap WHERE id < {ids.stop}")

    def commit(self, offset: int) -> None:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({**self.kafka, "group.id": GROUP, "enable.auto.commit": False})
        try:
            parts = c.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
            assert len(parts) == 1, "the test commits one offset: its topic needs one partition"
            c.commit(offsets=[TopicPartition(TOPIC, 0, offset)], asynchronous=False)
        finally:
            c.close()

    def committed(self) -> int:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({**self.kafka, "group.id": GROUP, "enable.auto.commit": False})
        try:
            return int(c.committed([TopicPartition(TOPIC, 0)], timeout=10)[0].offset)
        finally:
            c.close()

    def kafka_ids(self) -> list[int]:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({**self.kafka, "group.id": "snap-check", "enable.auto.commit": False})
        try:
            low, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
            c.assign([TopicPartition(TOPIC, 0, low)])
            out: list[int] = []
            deadline = time.monotonic() + 60
            while len(out) < high - low and time.monotonic() < deadline:
                m = c.poll(1)
                if m is not None and not m.error():
                    out.append(int(m.value()))
            return out
        finally:
            c.close()

    def ids(self) -> dict[str, list[int]]:
        keys = [k.decode() for k in self.redis_keys()]
        objects = [
            o["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])
        ]
        return {
            "kafka": sorted(self.kafka_ids()),
            "redis": sorted(int(k.split(":")[1]) for k in keys),
            "postgres": sorted(r[0] for r in self.pg("SELECT id FROM snap")),
            "clickhouse": sorted(int(x) for x in self.chq("SELECT id FROM snap").split()),
            "minio": sorted(int(k.split("/")[1]) for k in objects),
        }

    def redis_keys(self) -> list[bytes]:
        answer = self.redis("KEYS", "snap:*")
        return [ln for ln in answer.split(b"\r\n") if ln.startswith(b"snap:")]

    def versions(self) -> int:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET)
        return sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", [])) for p in pages)


def test_restore_brings_back_exactly_the_snapshots_data(up: dict[str, str]) -> None:
    env = up
    d = Data(env)
    d.create()
    d.write(range(N))
    d.commit(40)
    versions = d.versions()
    r = run_cli("snapshot", "s1", "--stack", STACK, "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    snap = json.loads(r.stdout)
    assert snap["healthy"] and snap["bytes"] > 0 and {v["service"] for v in snap["volumes"]} == set(SERVICES.split(","))
    # after the snapshot: more written, some deleted, the group moves on
    d.write(range(N, N + 50))
    d.delete(range(20))
    d.commit(120)
    assert d.ids()["postgres"] == list(range(20, N + 50))
    # into a running stack: refused, nothing changed
    r = run_cli("restore", "s1", "--yes", "--stack", STACK, env=env)
    assert r.returncode == 2 and "is running" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert run_cli("down", "--stack", STACK, env=env).returncode == 0
    r = run_cli("restore", "s1", "--yes", "--stack", STACK, "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["healthy"]
    got = d.ids()
    print("\nafter restore: " + ", ".join(f"{k} {len(v)} records" for k, v in got.items()))
    assert got == {k: list(range(N)) for k in got}  # 0 lost, the deleted back, the later gone
    assert d.committed() == 40
    assert d.versions() == versions  # MinIO's versions as they were, delete markers gone


def test_list_shows_whole_snapshots_and_a_cut_short_one_leaves_nothing(up: dict[str, str]) -> None:
    env = up
    # Ctrl-C while the volumes are copied: the partial copy goes, the stack comes back
    cmd = [sys.executable, "-m", "devstack", "snapshot", "cut", "--stack", STACK]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    snapshots = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "snapshots"
    while time.monotonic() < deadline and not (snapshots / ".partial-cut" / "volumes").is_dir():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert not (snapshots / ".partial-cut").exists() and not (snapshots / "cut").exists()
    r = run_cli("snapshot", "list", "--stack", STACK, "--json", env=env)
    assert [s["name"] for s in json.loads(r.stdout)] == ["s1"]
    r = run_cli("snapshot", "list", "--stack", STACK, env=env)
    assert "s1" in r.stdout and "cut" not in r.stdout
    _up(env)  # the stack came back healthy from the interrupted snapshot, or comes back now


@pytest.mark.parametrize(
    "args, expect",
    [
        (["snapshot", "Bad Name"], "is not a snapshot name"),
        (["snapshot", "s1"], "already has a snapshot 's1'"),
        (["snapshot", "--keep", "3"], "--keep goes with --every"),
        (["snapshot", "--every", "soon"], "is not a period"),
        (["snapshot", "--every", "1h", "--keep", "0"], "would keep nothing"),
        (["snapshot", "named", "--every", "1h"], "leave the name out"),
        (["restore", "nope", "--yes"], "has no snapshot 'nope'"),
        (["restore", "s1"], "add --yes"),
        (["restore", "../s1", "--yes"], "is not a snapshot name"),
        (["snapshot", "--stack", "never-up"], "no stack 'never-up'"),
        (["snapshot", "--delete"], "--delete needs the snapshot's name"),
        (["snapshot", "nope", "--delete", "--yes"], "has no snapshot 'nope'"),
        (["snapshot", "s1", "--delete"], "add --yes"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_bad_snapshot_input_is_one_line(up: dict[str, str], args: list[str], expect: str) -> None:
    stack = [] if "--stack" in args else ["--stack", STACK]
    r = run_cli(*args, *stack, env=up)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr and "Fix:" in r.stderr, r.stderr


def test_a_damaged_snapshot_is_refused_before_anything_changes(up: dict[str, str]) -> None:
    env = up
    snapshots = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "snapshots"
    assert run_cli("snapshot", "s2", "--stack", STACK, env=env).returncode == 0
    tar = next((snapshots / "s2" / "volumes").glob("redis*.tar"))
    tar.write_bytes(tar.read_bytes()[:-1024])
    assert run_cli("down", "--stack", STACK, env=env).returncode == 0
    r = run_cli("restore", "s2", "--yes", "--stack", STACK, env=env)
    assert r.returncode == 2 and "is damaged" in r.stderr and tar.name in r.stderr, r.stderr
    _up(env)
    assert Data(env).ids()["redis"] == list(range(N))  # the stack's data untouched by the refused restore


def test_delete_removes_one_snapshot_and_keeps_the_others(up: dict[str, str]) -> None:
    env = up
    assert run_cli("snapshot", "gone", "--stack", STACK, env=env).returncode == 0
    r = run_cli("snapshot", "gone", "--delete", "--yes", "--stack", STACK, env=env)
    assert r.returncode == 0 and "Deleted snapshot 'gone'" in r.stdout, r.stdout + r.stderr
    names = [s["name"] for s in json.loads(run_cli("snapshot", "list", "--stack", STACK, "--json", env=env).stdout)]
    assert "gone" not in names and "s1" in names
    assert not (Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "snapshots" / "gone").exists()


def test_each_clickhouse_client_has_only_its_rights(up: dict[str, str]) -> None:
    # issue 15.3: one user per client on the pipeline's database; the admin (default) keeps the DDL
    sec = _secrets(up)

    def q(user: str, sql: str) -> str:
        pw = sec["clickhouse_password"] if user == "default" else sec[f"clickhouse_{user}_password"]
        url = f"http://127.0.0.1:{port('clickhouse', 'http')}/?" + urllib.parse.urlencode(
            {"user": user, "password": pw}
        )
        try:
            return urllib.request.urlopen(urllib.request.Request(url, data=sql.encode()), timeout=30).read().decode()
        except urllib.error.HTTPError as e:
            return "refused: " + e.read().decode()

    q("default", "CREATE DATABASE IF NOT EXISTS market")
    q("default", "CREATE TABLE IF NOT EXISTS market.acl (i UInt32) ENGINE = MergeTree ORDER BY i")
    assert q("pipeline", "INSERT INTO market.acl VALUES (1)") == ""
    assert q("notebooks", "INSERT INTO market.acl VALUES (2)") == ""
    assert q("airflow", "SELECT count() FROM market.acl").strip() == "2"
    assert q("probe", "SELECT 1").strip() == "1"
    for user, sql in (
        ("airflow", "INSERT INTO market.acl VALUES (3)"),  # read-only
        ("probe", "INSERT INTO market.acl VALUES (3)"),
        ("pipeline", "CREATE DATABASE other"),  # the pipeline's database only
        ("notebooks", "SELECT count() FROM default.snap"),
    ):
        assert q(user, sql).startswith("refused: "), (user, sql)
    r = run_cli("env", "--stack", STACK, "--format", "json", env=up)
    assert json.loads(r.stdout)["CLICKHOUSE_USER"] == "notebooks"
