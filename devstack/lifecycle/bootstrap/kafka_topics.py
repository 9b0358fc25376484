"""Topics with the plan's partitions, replication and min.insync.replicas, through Kafka's admin API.

Why every broker is asked: a KRaft controller answers CreateTopics once the topic is committed to the metadata
log, and each broker then applies that log on its own. Until it has, a broker's metadata does not list the topic
and DescribeConfigs on it answers UNKNOWN_TOPIC_OR_PART, although nothing is lost. A client (a test, a notebook,
the next bootstrap) may ask any broker, so bootstrap reports a topic only once every metadata answer lists it
with a leader for each partition, asked through a client bootstrapped to each broker (see `lagging`). And a
report says what happened: a topic that the broker asked first did not list, but that Kafka says exists, is
reported as already there."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import CREATED, DIFFERS, OK, UPDATED, Change
from devstack.lifecycle.bootstrap.spec import TopicSpec
from devstack.services.kafka import NAME as KAFKA
from devstack.services.kafka import Login

TIMEOUT_S = 30.0
# how long every broker gets to list a topic the controller has committed (seconds; it takes milliseconds when
# the machine is quiet, and seconds when two cores are saturated)
VISIBLE_TIMEOUT_S = 120.0


def admin_client(login: Login) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(login.config(**{"socket.timeout.ms": 10000}))


def lagging(names: Sequence[str], brokers: dict[int, str], login: Login) -> dict[str, list[str]]:
    """Which of `names` the brokers ({node id: host:port}) that answered do not list yet with a leader for every
    partition; {} when every answer lists them all. librdkafka sends a metadata request to whichever broker it
    picks (a client bootstrapped to broker 1 was seen answered only by 2 and 3), so no broker can be made to
    answer: each broker's address gets a client of its own, asked three times, and every answer counts against
    the broker that gave it (`orig_broker_id`; -1 is the bootstrap connection, before it knows its node id)."""
    from confluent_kafka import KafkaException

    lacking: dict[int, list[str]] = {}  # node -> topics an answer from it lacked
    for node, address in sorted(brokers.items()):
        admin = admin_client(replace(login, bootstrap=address))
        for _ in range(3):
            try:
                m = admin.list_topics(timeout=TIMEOUT_S)
            except KafkaException:
                lacking.setdefault(node, []).extend(names)
                break
            who = node if m.orig_broker_id == -1 else m.orig_broker_id
            lacks = lacking.setdefault(who, [])
            lacks += [n for n in names if not _led(m.topics.get(n)) and n not in lacks]
    return {brokers.get(n, f"node {n}"): sorted(set(t)) for n, t in lacking.items() if t}


def _led(tm: Any) -> bool:
    """A topic's metadata as one broker has it: listed, no error, and a leader for every partition."""
    return (
        tm is not None
        and tm.error is None
        and bool(tm.partitions)
        and all(p.leader >= 0 for p in tm.partitions.values())
    )


def wait_visible(
    names: Sequence[str], brokers: dict[int, str], login: Login, timeout_s: float = VISIBLE_TIMEOUT_S
) -> float:
    """Return the seconds it took every broker to list every topic; raise with what is still missing where after
    `timeout_s`."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while True:
        behind = lagging(names, brokers, login)
        if not behind:
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            where = "; ".join(f"broker {b} lacks {', '.join(t)}" for b, t in sorted(behind.items()))
            raise EnvironmentProblem(
                f"Kafka committed the topics but not every broker lists them after {timeout_s:.0f}s: {where}",
                "a broker that does not catch up is stuck or restarting: see `devstack logs kafka`.",
            )
        time.sleep(0.5)


def apply(topics: Sequence[TopicSpec], login: Login) -> list[Change]:
    """The topics, signed in as the stack's admin principal (`login`)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
    )

    admin = admin_client(login)
    try:
        meta = admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as e:
        raise EnvironmentProblem(f"Kafka did not answer at {login.bootstrap}: {e}", "run `devstack status`.") from None
    brokers = {node: f"{b.host}:{b.port}" for node, b in meta.brokers.items()}
    out: list[Change] = []
    missing = [t for t in topics if t.name not in meta.topics]
    existed: set[str] = set()  # not listed by the broker asked, but Kafka says they exist
    created: list[TopicSpec] = []
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
                existed.add(t.name)
                continue
            created.append(t)
    if missing:  # created or already there: read back only once every broker has them (the module's docstring)
        lag = wait_visible([t.name for t in missing], brokers, login)
        for t in created:
            detail = f"{t.partitions} partitions, replication {t.replication}, min.insync.replicas {t.min_insync}"
            out.append(
                Change(KAFKA, f"topic {t.name}", CREATED, f"{detail}; every broker that answered lists it ({lag:.1f}s)")
            )
    if existed:
        meta = admin.list_topics(timeout=TIMEOUT_S)
    present = [t for t in topics if t not in created]
    if not present:
        return out
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in present]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources, request_timeout=TIMEOUT_S).items()}
    for t in present:
        tm = meta.topics[t.name]
        notes, action = [], OK
        if t.name in existed:
            notes.append("already there (the broker asked first had not listed it yet)")
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
        out.append(Change(KAFKA, f"topic {t.name}", action, "; ".join(notes)))
    return out
