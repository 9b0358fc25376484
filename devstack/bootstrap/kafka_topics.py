"""Topics with the plan's partitions, replication and min.insync.replicas, through Kafka's admin API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devstack.bootstrap.report import CREATED, DIFFERS, OK, UPDATED, Change
from devstack.bootstrap.spec import TopicSpec
from devstack.errors import EnvironmentProblem

TIMEOUT_S = 30.0


def client_conf(bootstrap_servers: str, **extra: Any) -> dict[str, Any]:
    """librdkafka logs to stderr by itself (broker retries, purged queues): devstack reports errors its own way."""
    return {"bootstrap.servers": bootstrap_servers, "log_level": 0, "logger": lambda *a: None, **extra}


def apply(topics: Sequence[TopicSpec], bootstrap_servers: str) -> list[Change]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
    )

    admin = AdminClient(client_conf(bootstrap_servers, **{"socket.timeout.ms": 10000}))
    try:
        meta = admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as e:
        raise EnvironmentProblem(
            f"Kafka did not answer at {bootstrap_servers}: {e}", "run `devstack status`."
        ) from None
    out: list[Change] = []
    missing = [t for t in topics if t.name not in meta.topics]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(t.name, t.partitions, t.replication, config={"min.insync.replicas": str(t.min_insync)})
                for t in missing
            ],
            operation_timeout=TIMEOUT_S,
            request_timeout=TIMEOUT_S,
        )
        for t in missing:
            try:
                futures[t.name].result()
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise EnvironmentProblem(f"Kafka refused to create topic {t.name}: {e}", "") from None
            detail = f"{t.partitions} partitions, replication {t.replication}, min.insync.replicas {t.min_insync}"
            out.append(Change("kafka", f"topic {t.name}", CREATED, detail))
    present = [t for t in topics if t.name in meta.topics]
    if not present:
        return out
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in present]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources, request_timeout=TIMEOUT_S).items()}
    for t in present:
        tm = meta.topics[t.name]
        notes, action = [], OK
        have_rf = len(next(iter(tm.partitions.values())).replicas) if tm.partitions else 0
        if len(tm.partitions) < t.partitions:
            admin.create_partitions([NewPartitions(t.name, t.partitions)], request_timeout=TIMEOUT_S)[t.name].result()
            notes.append(f"partitions {len(tm.partitions)} -> {t.partitions}")
            action = UPDATED
        misr = configs[t.name].get("min.insync.replicas")
        if misr is None or misr.value != str(t.min_insync):
            entry = ConfigEntry("min.insync.replicas", str(t.min_insync), incremental_operation=AlterConfigOpType.SET)
            res = ConfigResource(ConfigResource.Type.TOPIC, t.name, incremental_configs=[entry])
            admin.incremental_alter_configs([res], request_timeout=TIMEOUT_S)[res].result()
            notes.append(f"min.insync.replicas {misr.value if misr else '?'} -> {t.min_insync}")
            action = UPDATED
        if have_rf != t.replication:
            # moving replicas is a reassignment with its own risks: say so, do not do it behind the user's back
            notes.append(f"replication {have_rf}, plan wants {t.replication}: reassign with kafka-reassign-partitions")
            action = action if action == UPDATED else DIFFERS
        if action == OK:
            notes.append(f"{len(tm.partitions)} partitions, replication {have_rf}, min.insync.replicas {t.min_insync}")
        out.append(Change("kafka", f"topic {t.name}", action, "; ".join(notes)))
    return out
