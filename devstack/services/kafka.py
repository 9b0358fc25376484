"""Apache Kafka: KRaft brokers (combined broker+controller), one to three, and kafka_exporter for Prometheus.

Every listener asks for SASL (issue 15.3): the brokers' and clients' listeners SCRAM-SHA-512, the controllers'
PLAIN (KRaft keeps SCRAM credentials in the metadata log, which the controllers must reach before they could
check one). One principal per client, each with ACLs for its own topics (lifecycle/bootstrap/kafka_access.py):
ACLs are enforced (StandardAuthorizer), and a resource that has none, as the health probe's topic and a
notebook's scratch topic, is open to every signed-in principal (`allow.everyone.if.no.acl.found`), so the health
probe and a user's experiments work before and without bootstrap while the pipeline's topics are each client's
alone. The listeners are plaintext on loopback and on the stack's own network; with the TLS proxy planned
(services/tls.py) each broker gets one more, which the proxy forwards its TLS twin to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devstack.core.knobs import Sized, clamp, down
from devstack.core.templates import raw, template
from devstack.services.base import (
    TLS_SUFFIX,
    AlertSpec,
    Ctx,
    Endpoint,
    Exporter,
    Group,
    Image,
    Memory,
    Port,
    Secret,
    Service,
    ServiceSpec,
    mem,
)
from devstack.services.probes import KafkaRoundTrip

NAME = "kafka"
KAFKA_VERSION = "4.1.1"
# Docker Hub tag of the exporter; the repository publishes linux/amd64 and linux/arm64 (its Makefile's
# DOCKER_PLATFORMS)
KAFKA_EXPORTER_VERSION = "v1.9.0"
# consumer-group lag (records) above which an alert fires: a job that stopped keeping up, not a burst
CONSUMER_LAG_ALERT = 10_000
# the topic the health probe writes a record to and reads it back from
HEALTH_TOPIC = "_devstack_health"

SASL_MECHANISM = "SCRAM-SHA-512"
# with the TLS proxy planned, each broker's listener for TLS clients: SASL over plain TCP inside, as the proxy ends
# TLS; it advertises the broker's TLS twin, so a client that bootstrapped over TLS reconnects over TLS
TLS_LISTENER = "TLS"
TLS_LISTENER_PORT = 9095
ADMIN = "admin"  # the brokers' own principal (inter-broker and controller), super user; bootstrap's DDL and ACLs


# consumer groups, by prefix
SPARK_GROUPS = ("spark-kafka-source-",)  # Spark's Kafka source names its groups so, one per query
SCORER_GROUP = "devstack-demo-scorer"
COUNTER_GROUP = "devstack-demo-counter"
NOTEBOOK_GROUPS = "notebook"  # the shipped notebooks' groups: notebook-01-..., notebook-02


@dataclass(frozen=True)
class Principal:
    """A Kafka client of the stack and what its ACLs allow: topics it reads and writes, consumer-group prefixes
    it reads with (exact topic names; group names by prefix, as Spark names its groups per query)."""

    name: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    describes: tuple[str, ...] = ()  # topic-name prefixes it may only describe (offsets, metadata)


def principals(topics: Mapping[str, str]) -> tuple[Principal, ...]:
    """The stack's Kafka clients, for the pipeline's `topics` (role -> topic name: ticks, signals, predictions).
    From the reference pipeline: the Spark job turns ticks into signals, the scorer signals into predictions,
    the demo feeds ticks and counts every topic, notebooks explore all three; kafka_exporter describes them all
    for Prometheus (offsets, lag), the health probe has only its own topic."""
    ticks, signals, predictions = topics["ticks"], topics["signals"], topics["predictions"]
    return (
        Principal("pipeline", reads=(ticks,), writes=(signals,), groups=SPARK_GROUPS),
        Principal("scorer", reads=(signals,), writes=(predictions,), groups=(SCORER_GROUP,)),
        Principal("demo", writes=(ticks,), groups=(COUNTER_GROUP,), describes=(signals, predictions)),
        Principal(
            # notebook 02 runs the Spark job itself: it writes signals as the job does
            "notebooks",
            reads=(ticks, signals, predictions),
            writes=(ticks, signals),
            groups=(NOTEBOOK_GROUPS, *SPARK_GROUPS),
        ),
        # the groups above, and no wider prefix: a group with an ACL is closed to everyone else (the health probe's)
        Principal(
            "exporter",
            describes=(ticks, signals, predictions),
            groups=(*SPARK_GROUPS, SCORER_GROUP, COUNTER_GROUP, NOTEBOOK_GROUPS),
        ),
        Principal("probe"),
    )


# every principal, for its secret (the names alone: bootstrap gives the pipeline's topics for the ACLs)
USERS = (ADMIN, *(p.name for p in principals({"ticks": "", "signals": "", "predictions": ""})))
NOTEBOOKS = "notebooks"


IN_CONTAINERS = ("pipeline", NOTEBOOKS)  # principals whose clients run in the stack's containers


def _env_key(user: str) -> str:
    return f"DEVSTACK_KAFKA_{user.upper()}_PASSWORD"


def password_key(user: str) -> str:
    """The secret (secrets.json) holding a principal's password."""
    return f"kafka_{user}_password"


@dataclass(frozen=True)
class Login:
    """One principal's way into the cluster, as devstack's own clients (probe, bootstrap, demo) sign in."""

    bootstrap: str
    user: str
    password: str

    def config(self, **extra: Any) -> dict[str, Any]:  # librdkafka takes strings, numbers and a logger callable
        """librdkafka's (confluent-kafka's) settings. librdkafka logs to stderr by itself (broker retries, purged
        queues): devstack reports errors its own way, so it is silenced."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": SASL_MECHANISM,
            "sasl.username": self.user,
            "sasl.password": self.password,
            "log_level": 0,
            "logger": lambda *a: None,
            **extra,
        }


def login(bootstrap: str, user: str, secrets: Mapping[str, str]) -> Login:
    return Login(bootstrap, user, secrets[password_key(user)])


def jaas(user: str, password: str) -> str:
    """A Java client's `sasl.jaas.config` (Spark's `kafka.sasl.jaas.config`) for one principal."""
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'


SPEC = ServiceSpec(
    name=NAME,
    title="Apache Kafka",
    group=Group.DATA_PROCESSING,
    priority=1,
    memory=Memory(floor=768, target=4096, ceiling=8192),
    images={"kafka": Image(f"apache/kafka:{KAFKA_VERSION}")},
    ports=(
        Port("broker", 9092, 9092, "kafka"),
        # its TLS twin: the proxy forwards to each broker's TLS listener, which advertises the twin (TLS_LISTENER)
        Port("broker-tls", TLS_LISTENER_PORT, 8445, "kafka", "broker", "kafka-{i}"),
    ),
    compose_file="kafka.yaml",
    replicas=3,
    min_replicas=1,
    max_replicas=3,
    summary="KRaft brokers (combined broker+controller), no ZooKeeper",
)


def size(total: int, replicas: int) -> Sized:
    per = total // replicas
    heap = clamp(down(per * 0.5, 64), 256, 6144)
    containers = {f"kafka-{i}": per for i in range(1, replicas + 1)}
    return Sized(
        containers,
        {"KAFKA_HEAP_OPTS": f"-Xmx{heap}m -Xms{heap}m", "kafka.heap": f"{heap}m", "kafka.brokers": str(replicas)},
        {"kafka.heap": ("kafka-1", heap)},
    )


def internal_bootstrap(replicas: int) -> str:
    """The brokers' addresses on the Compose network, as containers (Spark, the exporter) dial them."""
    return ",".join(f"kafka-{i}:19092" for i in range(1, replicas + 1))


def env(ctx: Ctx) -> dict[str, str]:
    me = ctx.me
    return {
        "DEVSTACK_KAFKA_MEM": mem(me.containers["kafka-1"]),
        "DEVSTACK_KAFKA_HEAP_OPTS": me.knobs["KAFKA_HEAP_OPTS"],
        "DEVSTACK_KAFKA_INTERNAL_BOOTSTRAP": internal_bootstrap(me.replicas),
        "DEVSTACK_KAFKA_CLUSTER_ID": ctx.secrets["kafka_cluster_id"],
    }


def _admin_properties(secrets: Mapping[str, str]) -> str:
    """Kafka's command-line tools as the admin, inside a broker: `kafka-topics.sh --bootstrap-server kafka-1:19092
    --command-config /mnt/devstack/admin.properties --list`."""
    return (
        "# Generated by devstack: the admin principal for Kafka's own tools (--command-config this file).\n"
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={SASL_MECHANISM}\n"
        f"sasl.jaas.config={jaas(ADMIN, secrets[password_key(ADMIN)])}\n"
    )


def _scram_users(secrets: Mapping[str, str]) -> str:
    """`kafka-storage format --add-scram` arguments, one a line: every principal's credential is in the metadata
    log from the first start, so the brokers (admin), the health probe and the exporter sign in before anything
    else has run. bootstrap sets them again (kafka_access.py), which covers a principal added later."""
    return "".join(f"--add-scram\n{SASL_MECHANISM}=[name={u},password={secrets[password_key(u)]}]\n" for u in USERS)


def profiles(ctx: Ctx) -> list[str]:
    """Brokers 2 and 3 are behind Compose profiles, so one Compose file serves one to three brokers."""
    return [f"kafka-brokers-{i}" for i in range(2, ctx.me.replicas + 1)]


def _tls_listener(ctx: Ctx, replica: int) -> dict[str, str]:
    """The template's TLS listener pieces for one broker: empty without the TLS proxy."""
    twins = ctx.me.ports.get(f"broker{TLS_SUFFIX}") if ctx.tls else None
    if not twins:
        return {"tls_listener": "", "tls_advertised": "", "tls_protocol": "", "tls_jaas": ""}
    name = TLS_LISTENER
    return {
        "tls_listener": f",{name}://:{TLS_LISTENER_PORT}",
        "tls_advertised": f",{name}://{ctx.host}:{twins[replica - 1]}",
        "tls_protocol": f",{name}:SASL_PLAINTEXT",
        "tls_jaas": f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;\n",
    }


def files(ctx: Ctx) -> dict[str, str]:
    n = ctx.me.replicas
    voters = ",".join(f"{i}@kafka-{i}:9093" for i in range(1, n + 1))
    out = {}
    for i, port in enumerate(ctx.me.ports["broker"], 1):
        out[f"config/kafka/kafka-{i}/server.properties"] = template(
            "kafka-server.properties",
            node_id=i,
            brokers=n,
            voters=voters,
            host_address=ctx.host,
            host_port=port,
            replication=min(3, n),
            min_isr=2 if n >= 3 else 1,
            admin=ADMIN,
            admin_password=ctx.secrets[password_key(ADMIN)],
            mechanism=SASL_MECHANISM,
            **_tls_listener(ctx, i),
        )
        out[f"config/kafka/kafka-{i}/scram-users"] = _scram_users(ctx.secrets)
        out[f"config/kafka/kafka-{i}/admin.properties"] = _admin_properties(ctx.secrets)
        out[f"config/kafka/kafka-{i}/log4j2.yaml"] = raw("kafka-log4j2.yaml")
    return out


def endpoint(ctx: Ctx) -> Endpoint:
    servers = ",".join(ctx.addresses("broker"))
    return Endpoint(NAME, servers, NOTEBOOKS, password_key(NOTEBOOKS))


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    """The notebooks' principal, in the names Kafka clients' settings use (librdkafka and Java alike)."""
    out = {
        "KAFKA_BOOTSTRAP_SERVERS": ep.url,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL" if ep.ca else "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": SASL_MECHANISM,
        "KAFKA_USERNAME": NOTEBOOKS,
        "KAFKA_PASSWORD": secrets[password_key(NOTEBOOKS)],
    }
    if ep.ca:  # librdkafka's ssl.ca.location
        out["KAFKA_SSL_CA_LOCATION"] = ep.ca
    return out


def probe(ctx: Ctx) -> KafkaRoundTrip:
    return KafkaRoundTrip(endpoint(ctx).url, ctx.me.replicas, HEALTH_TOPIC, "probe", ctx.secrets[password_key("probe")])


def exporter_args(ctx: Ctx) -> dict[str, str]:
    """kafka_exporter's flags, one a line (its flag parser, kingpin, reads `@file`): every broker as a bootstrap
    server, so it starts whichever broker is up; Kafka 4's protocol version rather than its 2.0.0 default, as Kafka
    4 dropped many old request versions (KIP-896); verified against the 4.1.1 brokers of the test bed."""
    brokers = [f"--kafka.server={b}" for b in internal_bootstrap(ctx.me.replicas).split(",")]
    text = (
        "# Generated by devstack: kafka_exporter's flags (compose/prometheus.yaml passes @this file).\n"
        + "\n".join(
            [
                *brokers,
                "--kafka.version=4.0.0",
                "--refresh.metadata=30s",
                "--sasl.enabled",
                "--sasl.mechanism=scram-sha512",
                "--sasl.username=exporter",
                f"--sasl.password={ctx.secrets[password_key('exporter')]}",
            ]
        )
        + "\n"
    )
    return {"config/prometheus/kafka-exporter/args": text}


# kafka_exporter's metrics: only there when Prometheus runs it beside Kafka
ALERTS = (
    AlertSpec(
        "KafkaUnderReplicatedPartitions",
        "sum by (topic) (kafka_topic_partition_under_replicated_partition) > 0",
        "topic {{ $labels.topic }} has partitions with fewer in-sync replicas than replicas",
        wait="2m",
    ),
    AlertSpec(
        "KafkaConsumerGroupLag",
        "sum by (consumergroup, topic) (kafka_consumergroup_lag) > {threshold}",
        "consumer group {{ $labels.consumergroup }} is {{ $value }} records behind on {{ $labels.topic }}",
        wait="5m",
        threshold=CONSUMER_LAG_ALERT,
        measures="records a consumer group is behind on a topic",
    ),
)


SERVICE = Service(
    spec=SPEC,
    secrets=(
        Secret("kafka_cluster_id", kind="uuid"),
        # the Spark job's and JupyterLab's reach their containers through .env; the others are read by devstack
        *(
            Secret(password_key(u), f"DEVSTACK_KAFKA_{u.upper()}_PASSWORD" if u in ("pipeline", NOTEBOOKS) else None)
            for u in USERS
        ),
    ),
    size=size,
    deadline_s=180,
    hint=(
        "Kafka needs its three brokers to agree on a controller: check that no broker exited (OOM?). A stack made "
        "before Kafka asked for SASL has no principals in its cluster: `devstack down --volumes`, then `up`."
    ),
    env=env,
    files=files,
    profiles=profiles,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    alerts=ALERTS,
    # kafka_exporter rather than the JMX agent: one small container instead of an agent jar in every broker JVM
    # (which the official image does not ship), and it reports what pipelines need: topics, partitions, offsets
    # and consumer-group lag. Limit: measured on the test bed after 3 minutes (21 MiB RSS, 8 MiB charged to its
    # cgroup), with headroom.
    exporter=Exporter(
        "kafka-exporter",
        NAME,
        "kafka_exporter",
        9308,
        64,
        Image(f"danielqsj/kafka-exporter:{KAFKA_EXPORTER_VERSION}"),
        exporter_args,
    ),
)
