"""How a memory limit becomes each service's own knobs.

Pure functions: a service's total memory (and replica count) in, the per-container limits and the knobs that
keep each process inside its container out. JVM heaps and caches take a fraction of the container and leave
headroom for off-heap memory, thread stacks and the page cache, so the kernel's OOM killer is not what sizes
them. Every value here is written into the stack's `.env` or a generated config file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MiB = 1024 * 1024


def _down(mib: float, step: int = 32) -> int:
    """Round down to a step, so derived values never exceed what they were derived from."""
    return int(mib // step) * step


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


@dataclass(frozen=True)
class Sized:
    """Per-container memory limits and the knobs derived from them."""

    containers: dict[str, int]  # compose service -> limit MiB
    knobs: dict[str, str]  # knob name -> value as written into the stack
    # knob name -> MiB that knob pins inside which container, so tests can check knobs fit their limits
    inside: dict[str, tuple[str, int]]


def kafka(total: int, replicas: int) -> Sized:
    per = total // replicas
    heap = _clamp(_down(per * 0.5, 64), 256, 6144)
    containers = {f"kafka-{i}": per for i in range(1, replicas + 1)}
    return Sized(
        containers,
        {"KAFKA_HEAP_OPTS": f"-Xmx{heap}m -Xms{heap}m", "kafka.heap": f"{heap}m", "kafka.brokers": str(replicas)},
        {"kafka.heap": ("kafka-1", heap)},
    )


# Spark refuses a driver or an executor whose heap is under 450 MiB ("System memory ... must be at least
# 471859200"): 512 MiB is the least either is given, and the master makes room for it at the floor.
SPARK_MIN_HEAP = 512


def spark(total: int, replicas: int = 1) -> Sized:
    master = _clamp(_down(total * 0.15, 64), 384, 1024)
    worker = total - master
    master_daemon = _down(master * 0.6, 32)
    worker_daemon = 256 if worker < 2048 else 512
    # executor heap + its off-heap overhead (max(384m, 10 %)) must fit beside the worker daemon
    usable = worker - worker_daemon
    executor = _down(min(usable / 1.1, usable - 384), 64)
    executor = max(executor, SPARK_MIN_HEAP)
    return Sized(
        {"spark-master": master, "spark-worker": worker},
        {
            "SPARK_MASTER_DAEMON_MEMORY": f"{master_daemon}m",
            "SPARK_WORKER_DAEMON_MEMORY": f"{worker_daemon}m",
            "SPARK_WORKER_MEMORY": f"{executor}m",
            "spark.executor.memory": f"{executor}m",
        },
        {
            "SPARK_MASTER_DAEMON_MEMORY": ("spark-master", master_daemon),
            "spark.executor.memory": ("spark-worker", executor + worker_daemon + max(384, executor // 10)),
        },
    )


def clickhouse(total: int, replicas: int = 1) -> Sized:
    server = _down(total * 0.85, 32)
    query = _down(total * 0.6, 32)
    cache = _clamp(_down(total / 8, 32), 64, 5120)
    return Sized(
        {"clickhouse": total},
        {
            "max_server_memory_usage": str(server * MiB),
            "max_memory_usage": str(query * MiB),
            "mark_cache_size": str(cache * MiB),
            "uncompressed_cache_size": str(cache * MiB),
        },
        {"max_server_memory_usage": ("clickhouse", server)},
    )


def postgres(total: int, replicas: int = 1) -> Sized:
    shared = _down(total * 0.25, 16)
    maint = _clamp(_down(total / 16, 16), 16, 512)
    return Sized(
        {"postgres": total},
        {
            "shared_buffers": f"{shared}MB",
            "effective_cache_size": f"{_down(total * 0.5, 16)}MB",
            "maintenance_work_mem": f"{maint}MB",
            "work_mem": "4MB",
            "max_connections": "100",
        },
        {"shared_buffers": ("postgres", shared + maint)},
    )


def minio(total: int, replicas: int = 1) -> Sized:
    # GOMEMLIMIT makes Go's collector work harder before the container limit, instead of being killed at it
    soft = _down(total * 0.8, 32)
    return Sized({"minio": total}, {"GOMEMLIMIT": f"{soft}MiB"}, {"GOMEMLIMIT": ("minio", soft)})


def redis(total: int, replicas: int = 1) -> Sized:
    # an AOF rewrite forks: leave copy-on-write headroom above maxmemory
    maxmem = _down(total * 0.7, 16)
    return Sized(
        {"redis": total},
        {"maxmemory": f"{maxmem}mb", "maxmemory-policy": "volatile-lru"},
        {"maxmemory": ("redis", maxmem)},
    )


def mlflow(total: int, replicas: int = 1) -> Sized:
    # measured on MLflow 3.10: server + one uvicorn worker ~300 MiB; each more worker ~190 MiB; the job runner
    # (GenAI jobs: a runner and five Huey consumers) ~1 GiB more, so it runs only when the limit holds it
    jobs = total >= 2048
    base = 320 + (1024 if jobs else 0)
    workers = _clamp((total - base - 128) // 192, 1, 4)
    return Sized(
        {"mlflow": total},
        {"MLFLOW_WORKERS": str(workers), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if jobs else "false"},
        {"MLFLOW_WORKERS": ("mlflow", base + workers * 192)},
    )


# measured on Airflow 3.1.8: an idle triggerer is two processes of 150 and 127 MiB RSS
AIRFLOW_TRIGGERER_MIN = 320


def airflow(total: int, replicas: int = 1) -> Sized:
    # the triggerer first (deferred operators and sensors resume only through it), then the split of old
    trig = _clamp(_down(total * 0.15, 32), AIRFLOW_TRIGGERER_MIN, 512)
    rest = total - trig
    api = _down(rest * 0.35, 32)
    dagp = _down(rest * 0.20, 32)
    sched = rest - api - dagp
    # LocalExecutor runs each task as a child of the scheduler: ~200 MiB a task beside a ~400 MiB scheduler
    parallelism = _clamp((sched - 384) // 192, 1, 32)
    return Sized(
        {
            "airflow-apiserver": api,
            "airflow-scheduler": sched,
            "airflow-dag-processor": dagp,
            "airflow-triggerer": trig,
            "airflow-init": api,
        },
        {
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__API__WORKERS": "1" if api < 1536 else "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1" if dagp < 768 else "2",
        },
        {"AIRFLOW__CORE__PARALLELISM": ("airflow-scheduler", 384 + parallelism * 192)},
    )


def jupyter(total: int, replicas: int = 1) -> Sized:
    # the kernel is the Spark driver in client mode: its heap takes what the notebook server leaves
    driver = _clamp(_down(min((total - 768) / 1.1, total - 768 - 384), 64), SPARK_MIN_HEAP, 8192)
    return Sized(
        {"jupyter": total},
        {"spark.driver.memory": f"{driver}m"},
        {"spark.driver.memory": ("jupyter", driver + max(384, driver // 10))},
    )


def prometheus(total: int, replicas: int = 1) -> Sized:
    soft = _down(total * 0.8, 32)
    return Sized(
        {"prometheus": total},
        {"GOMEMLIMIT": f"{soft}MiB", "retention": "7d"},
        {"GOMEMLIMIT": ("prometheus", soft)},
    )


def with_exporters(sized: Sized, exporters: dict[str, int]) -> Sized:
    """A service's sizing with exporter containers beside it, each at its fixed limit (catalog.Exporter).

    The planner hands the service's own sizer what is left after them, so the containers still add up to the
    service's limit. Each Go exporter gets a GOMEMLIMIT a little under its limit, as MinIO and Prometheus do."""
    if not exporters:
        return sized
    knobs = dict(sized.knobs)
    inside = dict(sized.inside)
    for name, mib in exporters.items():
        soft = _down(mib * 0.75, 8)
        knobs[f"{name}.GOMEMLIMIT"] = f"{soft}MiB"
        inside[f"{name}.GOMEMLIMIT"] = (name, soft)
    return Sized({**sized.containers, **exporters}, knobs, inside)


def seldon(total: int, replicas: int = 1) -> Sized:
    server = _clamp(_down(total * 0.3, 64), 1024, 4096)
    agent = _down((total - server) / 2, 64)
    # each agent hosts model servers of up to the seed's 2 GB, after ~512 MiB for kubelet and Seldon's pods
    model = _clamp(_down(agent - 512, 64), 512, 2048)
    per_agent = max(1, (agent - 512) // model)
    return Sized(
        {"k3d-server-0": server, "k3d-agent-0": agent, "k3d-agent-1": agent},
        {
            "serversMemory": f"{server}m",
            "agentsMemory": f"{agent}m",
            "model_server_memory": f"{model}Mi",
            "model_servers": str(per_agent * 2),
        },
        {"model_server_memory": ("k3d-agent-0", model + 512)},
    )


SIZERS: dict[str, Callable[[int, int], Sized]] = {
    "kafka": kafka,
    "spark": spark,
    "clickhouse": clickhouse,
    "postgres": postgres,
    "minio": minio,
    "redis": redis,
    "mlflow": mlflow,
    "airflow": airflow,
    "jupyter": jupyter,
    "prometheus": prometheus,
    "seldon": seldon,
}
