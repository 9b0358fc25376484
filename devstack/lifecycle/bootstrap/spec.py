"""What bootstrap wants to exist, from the plan alone (pure): the same plan always asks for the same things."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from devstack import pipeline
from devstack.planning.plan import Plan
from devstack.services.clickhouse import NAME as CLICKHOUSE
from devstack.services.kafka import NAME as KAFKA
from devstack.services.kafka import Principal, principals
from devstack.services.minio import NAME as MINIO
from devstack.services.minio import Client as MinioClient
from devstack.services.minio import clients as minio_clients
from devstack.services.mlflow import NAME as MLFLOW
from devstack.services.redis import NAME as REDIS

SCHEMA_FILE = Path(pipeline.__file__).parent / "clickhouse.sql"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    min_insync: int


@dataclass(frozen=True)
class SchemaObject:
    kind: str  # DATABASE, TABLE, MATERIALIZED VIEW, VIEW
    name: str  # db or db.table
    statement: str


@dataclass(frozen=True)
class Spec:
    topics: tuple[TopicSpec, ...] = ()
    principals: tuple[Principal, ...] = ()  # Kafka's clients and their ACLs
    buckets: tuple[str, ...] = ()
    minio_clients: tuple[MinioClient, ...] = ()  # MinIO's users and the buckets their policies open
    schema: tuple[SchemaObject, ...] = ()
    experiment: str = ""
    registered_model: str = ""
    feature_ttl_s: int = 0

    def systems(self) -> list[str]:
        return [
            name
            for name, wanted in (
                (KAFKA, self.topics),
                (MINIO, self.buckets),
                (CLICKHOUSE, self.schema),
                (MLFLOW, self.experiment),
                (REDIS, self.feature_ttl_s),
            )
            if wanted
        ]


def topics_for(brokers: int) -> tuple[TopicSpec, ...]:
    """One partition per broker (each broker leads one); replication 3 and min.insync.replicas 2 with three
    brokers, so one broker can be down without losing an acknowledged write; fewer brokers get what they can hold."""
    rf = min(3, brokers)
    min_insync = max(1, rf - 1)
    return tuple(TopicSpec(t, brokers, rf, min_insync) for t in pipeline.TOPICS)


_CREATE = re.compile(r"^CREATE\s+(DATABASE|TABLE|MATERIALIZED VIEW|VIEW)\s+IF NOT EXISTS\s+([\w.]+)", re.I)


def parse_schema(text: str) -> tuple[SchemaObject, ...]:
    """Statements of clickhouse.sql, in order: each ends with a semicolon at a line's end; -- comments dropped."""
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    out = []
    for raw in re.split(r";\s*$", body, flags=re.M):
        statement = raw.strip()
        if not statement:
            continue
        m = _CREATE.match(statement)
        if not m:
            raise ValueError(f"clickhouse.sql: every statement must be CREATE ... IF NOT EXISTS: {statement[:60]!r}")
        out.append(SchemaObject(m.group(1).upper(), m.group(2), statement))
    return tuple(out)


def spec_for(plan: Plan, today: dt.date) -> Spec:
    """Only for services in the plan: a stack without MLflow gets no experiment, and so on."""
    names = set(plan.names())
    return Spec(
        topics=topics_for(plan.service(KAFKA).replicas) if KAFKA in names else (),
        principals=principals(pipeline.KAFKA_TOPICS) if KAFKA in names else (),
        buckets=pipeline.BUCKETS if MINIO in names else (),
        minio_clients=minio_clients(pipeline.BUCKET_ROLES) if MINIO in names else (),
        schema=parse_schema(SCHEMA_FILE.read_text(encoding="utf-8")) if CLICKHOUSE in names else (),
        experiment=pipeline.experiment_name(today) if MLFLOW in names else "",
        registered_model=pipeline.MODEL_NAME if MLFLOW in names else "",
        feature_ttl_s=pipeline.FEATURE_TTL_SECONDS if REDIS in names else 0,
    )
