"""Render a plan into a stack directory that plain `docker compose` can run.

Files only, no Docker. The layout:
  compose.yaml          generated: includes the selected services' Compose files, declares the networks
  compose/<svc>.yaml    the shipped Compose files, verbatim (readable; sized values come from .env)
  .env                  every sized value, image, port and secret (0600); Compose reads it by itself
  config/...            generated service configs (server.properties, redis.conf, ClickHouse XML, ...)
  k3d/cluster.yaml      the k3d cluster config, when the plan runs Seldon
  plan.json             the plan this was rendered from
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from devstack import __version__, cluster_metrics
from devstack.catalog import CATALOG, Runtime, exporters_for
from devstack.pipeline import MLFLOW_BUCKET
from devstack.plan import Plan, ServicePlan
from devstack.resources import compose_dir, k3d_dir, model_runtime_file
from devstack.state import (
    COMPOSE_FILE,
    MARKER,
    START_INTERVAL_FILE,
    check_target_dir,
    load_or_create_secrets,
    write_atomic,
    write_private,
)

NETWORKS = {
    "stream": "the data plane: Kafka, Spark, ClickHouse, MinIO, Redis and their clients",
    "store": "metadata and artifacts: PostgreSQL, MLflow, MinIO, Redis, ClickHouse and their clients",
}


@dataclass(frozen=True)
class Rendered:
    directory: Path
    project: str
    files: tuple[Path, ...]


def _tpl(name: str, **values: object) -> str:
    text = (compose_dir() / "templates" / name).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def _raw(name: str) -> str:
    return (compose_dir() / "templates" / name).read_text(encoding="utf-8")


def _env_key(*parts: str) -> str:
    return "_".join(["DEVSTACK", *(p.upper().replace("-", "_").replace(".", "_") for p in parts)])


def _mem(mib: int) -> str:
    return f"{mib}m"


def env_values(plan: Plan, project: str, secrets: dict[str, str], notebooks: Path | None) -> dict[str, str]:
    """Everything Compose interpolates, in a stable order: a diff of two renders reads like the plan's diff."""
    env: dict[str, str] = {
        "COMPOSE_PROJECT_NAME": project,
        "DEVSTACK_PROFILE": plan.profile,
        "DEVSTACK_BUDGET": _mem(plan.budget_mib),
        "DEVSTACK_BIND": plan.bind,
    }
    names = plan.names()
    for s in plan.services:
        for key, ref in s.images.items():
            env[_env_key("image", key)] = ref
        for port_name, hosts in s.ports.items():
            if port_name == "broker":
                for i, h in enumerate(hosts, 1):
                    env[_env_key(s.name, "port", str(i))] = str(h)
            else:
                env[_env_key(s.name, "port", port_name)] = str(h := hosts[0])
        if s.runtime == Runtime.K3D.value:
            continue
        env.update(_service_env(s))
    profiles = compose_profiles(plan)
    if profiles:
        env["COMPOSE_PROFILES"] = ",".join(profiles)
    if "kafka" in names:
        k = plan.service("kafka")
        env["DEVSTACK_KAFKA_INTERNAL_BOOTSTRAP"] = ",".join(f"kafka-{i}:19092" for i in range(1, k.replicas + 1))
        env["DEVSTACK_KAFKA_CLUSTER_ID"] = secrets["kafka_cluster_id"]
    if notebooks is not None:
        env["DEVSTACK_NOTEBOOKS"] = str(notebooks)
    env["DEVSTACK_MLFLOW_BUCKET"] = MLFLOW_BUCKET
    for name in ("postgres", "mlflow_db", "airflow_db", "airflow_admin", "clickhouse", "minio", "redis"):
        env[_env_key(name, "password")] = secrets[f"{name}_password"]
    env["DEVSTACK_AIRFLOW_FERNET_KEY"] = secrets["airflow_fernet_key"]
    env["DEVSTACK_AIRFLOW_JWT_SECRET"] = secrets["airflow_jwt_secret"]
    env["DEVSTACK_JUPYTER_TOKEN"] = secrets["jupyter_token"]
    return env


def compose_profiles(plan: Plan) -> list[str]:
    """Compose profiles that switch on the optional containers the plan runs: Kafka brokers 2 and 3, and the
    exporters beside Prometheus (only for services that are planned too)."""
    out: list[str] = []
    if "kafka" in plan.names():
        out += [f"kafka-brokers-{i}" for i in range(2, plan.service("kafka").replicas + 1)]
    for s in plan.services:
        out += [e.container for e in exporters_for(s.name, plan.names())]
    return out


def _service_env(s: ServicePlan) -> dict[str, str]:
    k, c = s.knobs, s.containers
    if s.name == "kafka":
        return {"DEVSTACK_KAFKA_MEM": _mem(c["kafka-1"]), "DEVSTACK_KAFKA_HEAP_OPTS": k["KAFKA_HEAP_OPTS"]}
    if s.name == "spark":
        return {
            "DEVSTACK_SPARK_MASTER_MEM": _mem(c["spark-master"]),
            "DEVSTACK_SPARK_WORKER_MEM": _mem(c["spark-worker"]),
            "DEVSTACK_SPARK_MASTER_DAEMON_MEMORY": k["SPARK_MASTER_DAEMON_MEMORY"],
            "DEVSTACK_SPARK_WORKER_DAEMON_MEMORY": k["SPARK_WORKER_DAEMON_MEMORY"],
            "DEVSTACK_SPARK_WORKER_MEMORY": k["SPARK_WORKER_MEMORY"],
        }
    if s.name == "postgres":
        return {"DEVSTACK_POSTGRES_MEM": _mem(c["postgres"])} | {
            _env_key("postgres", knob): k[knob]
            for knob in (
                "shared_buffers",
                "effective_cache_size",
                "maintenance_work_mem",
                "work_mem",
                "max_connections",
            )
        }
    if s.name == "airflow":
        return {
            "DEVSTACK_AIRFLOW_APISERVER_MEM": _mem(c["airflow-apiserver"]),
            "DEVSTACK_AIRFLOW_SCHEDULER_MEM": _mem(c["airflow-scheduler"]),
            "DEVSTACK_AIRFLOW_DAG_PROCESSOR_MEM": _mem(c["airflow-dag-processor"]),
            "DEVSTACK_AIRFLOW_TRIGGERER_MEM": _mem(c["airflow-triggerer"]),
            "DEVSTACK_AIRFLOW_PARALLELISM": k["AIRFLOW__CORE__PARALLELISM"],
            "DEVSTACK_AIRFLOW_API_WORKERS": k["AIRFLOW__API__WORKERS"],
            "DEVSTACK_AIRFLOW_PARSING_PROCESSES": k["AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES"],
        }
    out = {_env_key(s.name, "mem"): _mem(c[s.name])}
    if s.name in ("minio", "prometheus"):
        out[_env_key(s.name, "gomemlimit")] = k["GOMEMLIMIT"]
    if s.name == "prometheus":
        out["DEVSTACK_PROMETHEUS_RETENTION"] = k["retention"]
    for e in CATALOG[s.name].exporters:
        if e.container in c:
            out[_env_key(e.container, "mem")] = _mem(c[e.container])
            out[_env_key(e.container, "gomemlimit")] = k[f"{e.container}.GOMEMLIMIT"]
    if s.name == "mlflow":
        out["DEVSTACK_MLFLOW_WORKERS"] = k["MLFLOW_WORKERS"]
        out["DEVSTACK_MLFLOW_JOBS"] = k["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]
    return out


def _env_file(env: dict[str, str], plan: Plan) -> str:
    lines = [
        f"# Generated by devstack {__version__}: profile {plan.profile}, "
        f"budget {plan.budget_mib}m ({plan.budget_source}).",
        "# Compose reads this file by itself: `docker compose ps`, `logs`, `up -d`, `down` work in this directory.",
        "# It holds this stack's passwords: keep it private (mode 0600).",
    ]
    for key, value in env.items():
        if any(ch in value for ch in " #\"'$"):
            value = "'" + value.replace("'", "") + "'"
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


PIPELINE_FILE = "pipeline.yaml"
PIPELINE_NEEDS = ("kafka", "spark", "clickhouse", "jupyter")


def has_pipeline(plan: Plan) -> bool:
    """The demo's streaming job needs Kafka, Spark, ClickHouse and JupyterLab's image (its driver)."""
    return all(n in plan.names() for n in PIPELINE_NEEDS)


def compose_files(plan: Plan) -> list[str]:
    files = [f for n in plan.names() if (f := CATALOG[n].compose_file)]
    return [*files, PIPELINE_FILE] if has_pipeline(plan) else files


# During a container's start_period, an engine that has start_interval (Docker Engine 25+, API 1.44) runs its
# healthcheck at that cadence instead of `interval`: a service is marked healthy within seconds of being ready,
# while the steady-state cadence stays as cheap as each Compose file sets it. Compose
# refuses the key on older engines, so it lives in a file of its own that only such engines get.
START_INTERVAL = "2s"


def _start_interval_yaml(plan: Plan) -> str:
    services: dict[str, object] = {}
    for f in compose_files(plan):
        doc = yaml.safe_load((compose_dir() / f).read_text(encoding="utf-8"))
        for name, svc in (doc.get("services") or {}).items():
            if isinstance(svc, dict) and "healthcheck" in svc and not svc["healthcheck"].get("disable"):
                services[name] = {"healthcheck": {"start_interval": START_INTERVAL}}
    header = (
        f"# Generated by devstack {__version__}: healthchecks every {START_INTERVAL} while a container\n"
        "# starts (its start_period), then at the interval its own file sets. Docker Engine 25+ only: .env's\n"
        "# COMPOSE_FILE lists this file after compose.yaml, and devstack leaves it out for older engines.\n"
    )
    return header + yaml.safe_dump({"services": services}, sort_keys=True)


def _compose_yaml(plan: Plan, project: str) -> str:
    files = [f"compose/{f}" for f in compose_files(plan)]
    header = (
        f"# Generated by devstack {__version__} for the {plan.profile} profile. Plain Compose works here:\n"
        "#   docker compose ps | docker compose logs -f kafka-1 | docker compose down\n"
        "# Sized values, images and ports come from .env; each included file is one service, readable on its own.\n"
    )
    doc = {
        "name": project,
        "include": files,
        "networks": {n: {"name": f"{project}_{n}"} for n in NETWORKS},
    }
    body = yaml.safe_dump(doc, sort_keys=False)
    comments = "".join(f"# network {n}: {what}\n" for n, what in NETWORKS.items())
    return header + comments + body


def _kafka_configs(s: ServicePlan, bind: str) -> dict[str, str]:
    n = s.replicas
    voters = ",".join(f"{i}@kafka-{i}:9093" for i in range(1, n + 1))
    host_address = bind if bind not in ("0.0.0.0", "::") else "127.0.0.1"
    out = {}
    for i, port in enumerate(s.ports["broker"], 1):
        out[f"config/kafka/kafka-{i}/server.properties"] = _tpl(
            "kafka-server.properties",
            node_id=i,
            brokers=n,
            voters=voters,
            host_address=host_address,
            host_port=port,
            replication=min(3, n),
            min_isr=2 if n >= 3 else 1,
        )
        out[f"config/kafka/kafka-{i}/log4j2.yaml"] = _raw("kafka-log4j2.yaml")
    return out


def scrape_jobs(plan: Plan, cluster: str | None = None) -> list[dict[str, object]]:
    """Prometheus's scrape jobs for the plan, one per metrics endpoint, named after what they watch: the services'
    native endpoints (ClickHouse, MinIO, Spark, Prometheus itself) and the exporters for Kafka and Redis. Each
    target carries a `service` label with the devstack service it belongs to, so dashboards can group by it.
    `cluster`: the k3d cluster whose model servers Prometheus may scrape, once its credentials exist
    (cluster_metrics.py); None leaves that job out."""
    names = plan.names()

    def job(name: str, service: str, target: str, path: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {"job_name": name}
        if path:
            out["metrics_path"] = path
        out["static_configs"] = [{"targets": [target], "labels": {"service": service}}]
        return out

    jobs = [job("prometheus", "prometheus", "localhost:9090")]
    if "clickhouse" in names:  # config.d/devstack.xml turns on <prometheus> on 9363
        jobs.append(job("clickhouse", "clickhouse", "clickhouse:9363", "/metrics"))
    if "minio" in names:  # MINIO_PROMETHEUS_AUTH_TYPE=public in compose/minio.yaml
        jobs.append(job("minio", "minio", "minio:9000", "/minio/v2/metrics/cluster"))
    if "spark" in names:  # PrometheusServlet sinks in config/spark/metrics.properties
        jobs.append(job("spark-master", "spark", "spark-master:8080", "/metrics/master/prometheus"))
        jobs.append(job("spark-worker", "spark", "spark-worker:8081", "/metrics/prometheus"))
    if "prometheus" in names:
        for e in exporters_for("prometheus", names):
            jobs.append(job(e.watches, e.watches, f"{e.container}:{e.port}"))
    if "prometheus" in names and has_pipeline(plan):
        # the demo's MLServer (model monitoring: request counts and latencies per model), found by DNS: while
        # `devstack demo` has not started it there is no target at all rather than one that is down
        jobs.append(
            {
                "job_name": MODEL_SERVER_JOB,
                "dns_sd_configs": [{"names": ["model-server"], "type": "A", "port": 8082, "refresh_interval": "15s"}],
                "relabel_configs": [{"target_label": "service", "replacement": "pipeline"}],
            }
        )
    if "prometheus" in names and "seldon" in names and cluster is not None:
        jobs.append(cluster_metrics.scrape_job(cluster))
    return jobs


MODEL_SERVER_JOB = "model-server"
# jobs whose targets exist only while something optional runs: the demo's model server, models served on k3d
ON_DEMAND_JOBS = frozenset({MODEL_SERVER_JOB, cluster_metrics.JOB})


def _prometheus_yml(plan: Plan, cluster: str | None = None) -> str:
    doc = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": scrape_jobs(plan, cluster),
    }
    return "# Generated by devstack: the services' native metrics endpoints and exporters.\n" + yaml.safe_dump(
        doc, sort_keys=False
    )


def _kafka_exporter_args(plan: Plan) -> str:
    """kafka_exporter's flags, one a line (its flag parser, kingpin, reads `@file`): every broker as a bootstrap
    server, so it starts whichever broker is up; Kafka 4's protocol version rather than its 2.0.0 default, as Kafka
    4 dropped many old request versions (KIP-896); verified against the 4.1.1 brokers of the test bed."""
    brokers = [f"--kafka.server=kafka-{i}:19092" for i in range(1, plan.service("kafka").replicas + 1)]
    return (
        "# Generated by devstack: kafka_exporter's flags (compose/prometheus.yaml passes @this file).\n"
        + "\n".join([*brokers, "--kafka.version=4.0.0", "--refresh.metadata=30s"])
        + "\n"
    )


def _k3d_config(s: ServicePlan, project: str, bind: str = "127.0.0.1") -> str:
    """The k3d cluster config. Its network is the stack's `store` (MinIO, MLflow); `devstack up` connects the
    nodes to `stream` too (Kafka), since k3d joins one network at creation (see devstack/k3d.py)."""
    template = (k3d_dir() / "cluster.yaml.tmpl").read_text(encoding="utf-8")
    api = s.ports["api"][0]
    return Template(template).substitute(
        name=project,
        k3s_image=s.images["k3s"],
        api_port=api,
        bind=bind,
        ingress_port=s.ports["ingress"][0],
        registry_port=s.ports["registry"][0],
        images_port=s.ports["images"][0] if "images" in s.ports else 5501,
        registry_image=s.images.get("registry", "registry:2"),
        servers_memory=s.knobs["serversMemory"],
        agents_memory=s.knobs["agentsMemory"],
        network=f"{project}_store",
    )


def k3d_cluster_config(plan: Plan, project: str) -> str:
    """The rendered k3d config of a plan that runs seldon (what `up` compares with the running cluster's)."""
    return _k3d_config(plan.service("seldon"), project, plan.bind)


def config_files(
    plan: Plan, secrets: dict[str, str], project: str, cluster_metrics: bool = False, start_interval: bool = False
) -> dict[str, str]:
    """Every generated file (path relative to the stack dir -> text), secrets aside. `start_interval`: the engine
    takes healthcheck start_interval (Docker Engine 25+), so the start-interval file is rendered too."""
    names = plan.names()
    files: dict[str, str] = {COMPOSE_FILE: _compose_yaml(plan, project)}
    if start_interval:
        files[START_INTERVAL_FILE] = _start_interval_yaml(plan)
    if has_pipeline(plan):  # the demo's model server: compose/pipeline.yaml builds it from this copy when absent
        recipe = k3d_dir() / "images" / "mlserver"
        files |= {f"images/mlserver/{f.name}": f.read_text(encoding="utf-8") for f in sorted(recipe.iterdir())}
    driver = plan.service("jupyter").knobs["spark.driver.memory"] if "jupyter" in names else "1g"
    executor = plan.service("spark").knobs["spark.executor.memory"] if "spark" in names else "1g"
    for s in plan.services:
        k = s.knobs
        if s.name == "kafka":
            files.update(_kafka_configs(s, plan.bind))
        elif s.name == "redis":
            files["config/redis/redis.conf"] = _tpl(
                "redis.conf", maxmemory=k["maxmemory"], maxmemory_policy=k["maxmemory-policy"]
            )
        elif s.name == "clickhouse":
            files["config/clickhouse/config.d/devstack.xml"] = _tpl("clickhouse-config.xml", **k)
            digest = hashlib.sha256(secrets["clickhouse_password"].encode()).hexdigest()
            files["config/clickhouse/users.d/devstack.xml"] = _tpl(
                "clickhouse-users.xml", max_memory_usage=k["max_memory_usage"], password_sha256_hex=digest
            )
        elif s.name == "spark":
            files["config/spark/spark-defaults.conf"] = _tpl(
                "spark-defaults.conf", executor_memory=executor, driver_memory=driver
            )
            files["config/spark/metrics.properties"] = _raw("spark-metrics.properties")
            files["config/spark/spark-env.sh"] = "# Generated by devstack: sizing comes from the environment.\n"
        elif s.name == "jupyter":
            files["config/jupyter/spark-defaults.conf"] = _tpl(
                "jupyter-spark-defaults.conf", driver_memory=driver, executor_memory=executor
            )
            files |= _shipped("jobs", "config/pipeline")
        elif s.name == "postgres":
            files["config/postgres/initdb/10-devstack.sh"] = _raw("postgres-initdb.sh")
        elif s.name == "prometheus":
            files["config/prometheus/prometheus.yml"] = _prometheus_yml(plan, project if cluster_metrics else None)
            if "kafka-exporter" in s.containers:
                files["config/prometheus/kafka-exporter/args"] = _kafka_exporter_args(plan)
        elif s.name == "airflow":
            files["config/airflow/dags/.keep"] = ""
            files |= _shipped("dags", "config/airflow/dags")
            # the training DAG's venv pins: the same file devstack's MLServer image is built from
            files["config/airflow/dags/model-runtime.txt"] = model_runtime_file().read_text(encoding="utf-8")
        elif s.name == "seldon":
            files["k3d/cluster.yaml"] = _k3d_config(s, project, plan.bind)
    files["plan.json"] = json.dumps(plan.to_dict(), indent=2) + "\n"
    return files


def _shipped(kind: str, target: str) -> dict[str, str]:
    """The reference pipeline's code that runs inside containers (Airflow DAGs, the Spark job), copied into the
    stack dir so the rendered project mounts its own copy and stays runnable without devstack."""
    src = Path(__file__).parent / "pipeline" / kind
    return {f"{target}/{f.name}": f.read_text(encoding="utf-8") for f in sorted(src.glob("*.py"))}


def _remove_stale(directory: Path, wanted: set[str]) -> None:
    """Remove generated files of services no longer planned. Directories that stay are kept as they are:
    a running container's bind mount points at the directory itself, and a new one would leave it blind."""
    for owned in ("compose", "config", "k3d"):
        root = directory / owned
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*"), reverse=True):
            rel = path.relative_to(directory).as_posix()
            if path.is_file() and rel not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def render(
    plan: Plan, directory: Path, project: str, notebooks: Path | None = None, start_interval: bool = False
) -> Rendered:
    """Write the stack dir. Re-rendering keeps the stack's secrets and replaces only what devstack generates.
    `start_interval`: the engine the stack runs on takes healthcheck start_interval (EngineFacts)."""
    check_target_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    secrets = load_or_create_secrets(directory)
    # the k3d cluster's credentials for Prometheus, written by `up` once the cluster exists, stay while seldon is
    # planned (a plan without it drops them with the job)
    kept = cluster_metrics.credential_files(directory) if "seldon" in plan.names() else set()
    files = config_files(
        plan, secrets, project, cluster_metrics=_scrapes_cluster(plan, directory), start_interval=start_interval
    )
    wanted = {f"compose/{f}" for f in compose_files(plan)} | set(files) | kept
    _remove_stale(directory, wanted)
    if START_INTERVAL_FILE not in files:  # rendered again for an engine without start_interval
        (directory / START_INTERVAL_FILE).unlink(missing_ok=True)
    written = []
    for f in compose_files(plan):
        write_atomic(directory / "compose" / f, (compose_dir() / f).read_text(encoding="utf-8"))
        written.append(directory / "compose" / f)
    for rel, text in files.items():
        mode = 0o755 if rel.endswith(".sh") else 0o644
        write_atomic(directory / rel, text, mode)
        written.append(directory / rel)
    env = env_values(plan, project, secrets, notebooks)
    if START_INTERVAL_FILE in files:  # plain `docker compose` in the directory merges the same files devstack does
        env = {"COMPOSE_FILE": f"{COMPOSE_FILE}:{START_INTERVAL_FILE}", **env}
    write_private(directory / ".env", _env_file(env, plan))
    (directory / MARKER).write_text(f"devstack {__version__}\n", encoding="utf-8")
    return Rendered(directory, project, (directory / ".env", *written))


def _scrapes_cluster(plan: Plan, directory: Path) -> bool:
    """Whether prometheus.yml gets the k3d cluster's job: seldon planned and its credentials written."""
    return "seldon" in plan.names() and cluster_metrics.credentials_present(directory)


def write_prometheus_config(plan: Plan, directory: Path, project: str) -> bool:
    """Rewrite prometheus.yml alone (the k3d cluster's job appears once its credentials exist); True when it
    changed, so the caller reloads Prometheus. compose/prometheus.yaml mounts the directory, not the file, so
    the running container sees the new file (a bind-mounted file would keep showing the replaced one)."""
    if "prometheus" not in plan.names():
        return False
    path = directory / "config/prometheus/prometheus.yml"
    text = _prometheus_yml(plan, project if _scrapes_cluster(plan, directory) else None)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text)
    return True
