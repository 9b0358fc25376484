"""The service catalog: every service of the platform, as data.

One entry per service a user selects. An entry says which image runs it (pinned to a release that publishes
linux/arm64), which ports it publishes, what it needs, which group of the seed's budget it belongs to, and its
memory floor / seed target / ceiling. How a memory limit becomes the service's own knobs lives in `knobs.py`.

Image pins: each tag is a published upstream release whose repository is multi-arch (linux/amd64 and
linux/arm64), as researched in DESIGN.md ("Service facts"); the release numbers were checked against the
package registries this project can reach (PyPI for mlflow/pyspark/apache-airflow/jupyterlab, Maven Central
for Kafka), since no container registry answers from these machines. The exceptions, Seldon's images, are
recorded with the platforms they really publish so `doctor` can warn about emulation on Apple Silicon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Group(StrEnum):
    """The seed's four budget groups ("Resource Management": 12 / 8 / 4 / 4 GB of a 28 GB peak)."""

    DATA_PROCESSING = "data-processing"
    MODEL_TRAINING = "model-training"
    STORAGE = "storage"
    ORCHESTRATION = "orchestration"


# The seed's split of its 28 GB peak, used to report each group's share next to what the plan gives it.
SEED_GROUP_SHARE_MIB: dict[Group, int] = {
    Group.DATA_PROCESSING: 12 * 1024,
    Group.MODEL_TRAINING: 8 * 1024,
    Group.STORAGE: 4 * 1024,
    Group.ORCHESTRATION: 4 * 1024,
}
SEED_PEAK_MIB = 28 * 1024

MULTI_ARCH = ("linux/amd64", "linux/arm64")
AMD64_ONLY = ("linux/amd64",)


class Runtime(StrEnum):
    COMPOSE = "compose"
    K3D = "k3d"


@dataclass(frozen=True)
class Image:
    """An image reference with the platforms its publisher builds, so arm64 hosts can be warned."""

    ref: str
    platforms: tuple[str, ...] = MULTI_ARCH
    note: str = ""
    # devstack runs its own build of it (k3d/images/<recipe>) on every architecture, never the publisher's: the
    # publisher's build differs where it matters (MLServer: numpy 1.26 cannot load the DAG's numpy 2 pickles)
    devstack_build: bool = False


@dataclass(frozen=True)
class Port:
    """A port published on the host (127.0.0.1 by default)."""

    name: str
    container: int
    host: int
    scheme: str = "http"  # how to print a URL: http, tcp, kafka, postgresql, redis, spark


@dataclass(frozen=True)
class Memory:
    """Per-replica memory in MiB: below `floor` the service does not start or falls over; `target` is the seed's
    figure; `ceiling` is where more memory stops helping on a laptop."""

    floor: int
    target: int
    ceiling: int


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter for a service that exposes no metrics of its own (Kafka, Redis).

    It is a container of the service that scrapes it (Prometheus), not of the service it watches: it runs only when
    both are planned, and its fixed, small limit is part of Prometheus's memory, so every container stays inside the
    plan. A Go exporter's footprint does not grow with the budget, hence a fixed figure rather than a share."""

    container: str  # Compose service name, also the Compose profile that switches it on
    watches: str  # the catalog service it exports
    image_key: str  # key into the owning service's images (DEVSTACK_IMAGE_<KEY>)
    port: int  # where Prometheus scrapes it on the Compose network (not published on the host)
    memory_mib: int  # its container's limit


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    group: Group
    priority: int  # 1 = the platform is useless without it, 3 = nice to have; higher priority fills first
    memory: Memory
    images: dict[str, Image]  # image key (DEVSTACK_IMAGE_<KEY>) -> image
    ports: tuple[Port, ...] = ()
    depends_on: tuple[str, ...] = ()
    runtime: Runtime = Runtime.COMPOSE
    compose_file: str | None = None
    replicas: int = 1  # the seed's count
    min_replicas: int = 1
    max_replicas: int = 1
    # Compose services (containers) this catalog service runs, with the share of its memory each gets.
    containers: dict[str, float] = field(default_factory=dict)
    user: str | None = None  # the user name devstack creates for it, shown in the endpoint table
    summary: str = ""
    exporters: tuple[Exporter, ...] = ()  # run beside it for services planned alongside it


# a Compose service named so runs once and exits (Airflow's migration): `up` waits for it to complete, status does
# not count it as down, restart leaves it alone
ONE_SHOT_SUFFIX = "-init"


def is_one_shot(container: str) -> bool:
    return container.endswith(ONE_SHOT_SUFFIX)


KAFKA_VERSION = "4.1.1"
SPARK_VERSION = "4.0.1"
# JupyterLab's image, which Spark's master and worker run as well: executors then have the driver's Python minor
# (3.13) and libraries, without which a Python UDF fails; apache/spark:4.0.1 is Ubuntu's Python 3.10
PYSPARK_NOTEBOOK = Image(f"quay.io/jupyter/pyspark-notebook:spark-{SPARK_VERSION}")
MLFLOW_VERSION = "3.10.1"
AIRFLOW_VERSION = "3.1.8"
# Airflow's image for one Python minor (its plain tag is 3.12): the DAG trains in a venv of the scheduler's Python,
# and devstack's MLServer serves the model under 3.11, so training and serving share the minor as they share the
# model-runtime pins (k3d/images/mlserver/model-runtime.txt)
AIRFLOW_PYTHON = "3.11"
MINIO_RELEASE = "RELEASE.2025-09-06T17-38-46Z"
# Docker Hub tags of the exporters; both repositories publish linux/amd64 and linux/arm64 (their release
# workflows: kafka_exporter's Makefile DOCKER_PLATFORMS, redis_exporter's release.yml `platforms:`).
KAFKA_EXPORTER_VERSION = "v1.9.0"
REDIS_EXPORTER_VERSION = "v1.74.0"

CATALOG: dict[str, ServiceSpec] = {
    s.name: s
    for s in (
        ServiceSpec(
            name="kafka",
            title="Apache Kafka",
            group=Group.DATA_PROCESSING,
            priority=1,
            memory=Memory(floor=768, target=4096, ceiling=8192),
            images={"kafka": Image(f"apache/kafka:{KAFKA_VERSION}")},
            ports=(Port("broker", 9092, 9092, "kafka"),),
            compose_file="kafka.yaml",
            replicas=3,
            min_replicas=1,
            max_replicas=3,
            summary="KRaft brokers (combined broker+controller), no ZooKeeper",
        ),
        ServiceSpec(
            name="spark",
            title="Apache Spark",
            group=Group.DATA_PROCESSING,
            priority=2,
            # master daemon + one worker whose executor gets the seed's 4 GB at target
            memory=Memory(floor=1536, target=6144, ceiling=12288),
            images={"spark": PYSPARK_NOTEBOOK},
            ports=(
                Port("master", 7077, 7077, "spark"),
                Port("master-ui", 8080, 8080),
                Port("worker-ui", 8081, 8081),
            ),
            compose_file="spark.yaml",
            containers={"spark-master": 0.0, "spark-worker": 1.0},  # master sized by knobs.spark_split
            summary="standalone master + worker",
        ),
        ServiceSpec(
            name="clickhouse",
            title="ClickHouse",
            group=Group.STORAGE,
            priority=1,
            # ClickHouse throws MEMORY_LIMIT_EXCEEDED below ~1-2 GB (ClickHouse#41959)
            memory=Memory(floor=1536, target=8192, ceiling=16384),
            images={"clickhouse": Image("clickhouse/clickhouse-server:25.8")},
            ports=(Port("http", 8123, 8123), Port("native", 9000, 19000, "tcp")),
            compose_file="clickhouse.yaml",
            user="default",
            summary="single node, time-series tables",
        ),
        ServiceSpec(
            name="postgres",
            title="PostgreSQL",
            group=Group.STORAGE,
            priority=1,
            memory=Memory(floor=256, target=1024, ceiling=2048),
            images={"postgres": Image("postgres:16.10")},
            ports=(Port("sql", 5432, 5432, "postgresql"),),
            compose_file="postgres.yaml",
            user="devstack",
            summary="metadata store for MLflow and Airflow",
        ),
        ServiceSpec(
            name="minio",
            title="MinIO",
            group=Group.STORAGE,
            priority=1,
            memory=Memory(floor=512, target=2048, ceiling=4096),
            images={
                "minio": Image(
                    f"quay.io/minio/minio:{MINIO_RELEASE}",
                    note="community image is frozen; the object store is a role any S3-compatible server can fill",
                )
            },
            ports=(Port("s3", 9000, 9000), Port("console", 9001, 9001)),
            compose_file="minio.yaml",
            user="devstack",
            summary="S3 object store for datasets, models and MLflow artifacts",
        ),
        ServiceSpec(
            name="redis",
            title="Redis",
            group=Group.STORAGE,
            priority=1,
            memory=Memory(floor=256, target=2048, ceiling=8192),
            images={"redis": Image("redis:7.4.6")},
            ports=(Port("redis", 6379, 6379, "redis"),),
            compose_file="redis.yaml",
            summary="feature cache with AOF persistence and key expiry",
        ),
        ServiceSpec(
            name="mlflow",
            title="MLflow",
            group=Group.MODEL_TRAINING,
            priority=2,
            memory=Memory(floor=512, target=2048, ceiling=4096),
            # plain tags lack boto3 and psycopg; -full carries them (>= 3.9)
            images={"mlflow": Image(f"ghcr.io/mlflow/mlflow:v{MLFLOW_VERSION}-full")},
            # host 5050, not 5000: macOS's AirPlay Receiver holds 5000 on Macs
            ports=(Port("http", 5000, 5050),),
            depends_on=("postgres", "minio"),
            compose_file="mlflow.yaml",
            summary="tracking server + model registry, artifacts in MinIO",
        ),
        ServiceSpec(
            name="airflow",
            title="Apache Airflow",
            group=Group.ORCHESTRATION,
            priority=2,
            # floor: 1536 for the API server, scheduler and DAG processor, plus the triggerer's 320
            memory=Memory(floor=1856, target=4096, ceiling=8192),
            images={"airflow": Image(f"apache/airflow:{AIRFLOW_VERSION}-python{AIRFLOW_PYTHON}")},
            ports=(Port("http", 8080, 8088),),
            depends_on=("postgres",),
            compose_file="airflow.yaml",
            containers={
                "airflow-apiserver": 0.30,
                "airflow-scheduler": 0.38,
                "airflow-dag-processor": 0.17,
                "airflow-triggerer": 0.15,
            },
            user="admin",
            summary="LocalExecutor: API server, scheduler, DAG processor, triggerer",
        ),
        ServiceSpec(
            name="jupyter",
            title="JupyterLab",
            group=Group.MODEL_TRAINING,
            priority=2,
            # the notebook kernel is the Spark driver (client mode): the seed's 8 GB driver lives here
            memory=Memory(floor=1536, target=9216, ceiling=12288),
            images={"jupyter": PYSPARK_NOTEBOOK},
            ports=(Port("http", 8888, 8888), Port("spark-ui", 4040, 4040)),
            compose_file="jupyter.yaml",
            summary="notebooks/ mounted; its kernel is the Spark driver",
        ),
        ServiceSpec(
            name="prometheus",
            title="Prometheus",
            group=Group.ORCHESTRATION,
            priority=3,
            # Prometheus's own figures; its exporters' fixed limits come on top (256 MiB at the floor with both)
            memory=Memory(floor=160, target=1024, ceiling=2048),
            images={
                "prometheus": Image("prom/prometheus:v3.7.3"),
                "kafka_exporter": Image(f"danielqsj/kafka-exporter:{KAFKA_EXPORTER_VERSION}"),
                "redis_exporter": Image(f"oliver006/redis_exporter:{REDIS_EXPORTER_VERSION}"),
            },
            ports=(Port("http", 9090, 9090),),
            compose_file="prometheus.yaml",
            summary="scrapes the services' native metrics, and exporters for Kafka and Redis",
            # kafka_exporter rather than the JMX agent: one small container instead of an agent jar in every broker
            # JVM (which the official image does not ship), and it reports what pipelines need: topics,
            # partitions, offsets and consumer-group lag. Limits: measured on the test bed after 3 minutes
            # (Kafka's 21 MiB RSS / 8 MiB charged to its cgroup, Redis's 18 / 10), with headroom.
            exporters=(
                Exporter("kafka-exporter", "kafka", "kafka_exporter", 9308, 64),
                Exporter("redis-exporter", "redis", "redis_exporter", 9121, 32),
            ),
        ),
        ServiceSpec(
            name="seldon",
            title="Seldon Core on k3d",
            group=Group.MODEL_TRAINING,
            priority=3,
            # the whole k3d cluster: 1 server + 2 agents, Seldon's control plane and 2 GB per model server
            memory=Memory(floor=3072, target=12288, ceiling=16384),
            images={
                "k3s": Image("rancher/k3s:v1.33.5-k3s1"),
                # the k3d registries (Docker Hub's cache, devstack's builds); k3d's default, multi-arch
                "registry": Image("registry:2"),
                # Seldon publishes amd64 only (SeldonIO/seldon-core#4438); see README "Seldon on k3d"
                "seldon_operator": Image(
                    "seldonio/seldon-core-operator:1.17.1",
                    AMD64_ONLY,
                    note="runs under emulation; it is Go: an arm64 build from the v1.17.1 tag's operator/ is the fix",
                ),
                "seldon_executor": Image(
                    "seldonio/seldon-core-executor:1.17.1",
                    AMD64_ONLY,
                    note="not started: devstack's graphs are single MLServer models (seldon.io/no-engine)",
                ),
                "storage_initializer": Image(
                    "seldonio/rclone-storage-initializer:1.17.1",
                    AMD64_ONLY,
                    note="built for arm64 by devstack (k3d/images/storage-initializer: rclone's image + rclone copy)",
                ),
                "mlserver": Image(
                    "seldonio/mlserver:1.7.1",
                    AMD64_ONLY,
                    note="built by devstack from PyPI on every architecture (k3d/images/mlserver): Seldon's image "
                    "has numpy 1.26.4 and scikit-learn 1.5.2, which cannot load a model the DAG trained",
                    devstack_build=True,
                ),
            },
            ports=(
                Port("ingress", 80, 8085),
                Port("api", 6443, 6550, "https"),
                Port("registry", 5000, 5500),
                Port("images", 5000, 5501),
            ),
            runtime=Runtime.K3D,
            summary="k3d cluster (1 server, 2 agents, local registry) serving models over REST",
        ),
    )
}

SERVICE_NAMES = tuple(CATALOG)


def upstream_platforms(service: str) -> dict[str, tuple[str, ...]]:
    """Per image key of `service`, the platforms where devstack runs the publisher's own image: none for an image
    devstack always builds itself, so every architecture gets devstack's build of it."""
    return {k: () if i.devstack_build else i.platforms for k, i in CATALOG[service].images.items()}


def closure(names: list[str] | tuple[str, ...]) -> list[str]:
    """The services named plus everything they depend on, in catalog order (stable output)."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in wanted:
            continue
        wanted.add(n)
        stack.extend(CATALOG[n].depends_on)
    return [n for n in SERVICE_NAMES if n in wanted]


def exporters_for(name: str, among: list[str] | tuple[str, ...]) -> tuple[Exporter, ...]:
    """The exporters `name` runs in a plan of `among`: those whose watched service is planned too."""
    return tuple(e for e in CATALOG[name].exporters if e.watches in among)


def dependents(name: str, among: list[str] | tuple[str, ...]) -> list[str]:
    """Services among `among` that need `name`."""
    return [n for n in among if name in CATALOG[n].depends_on]
