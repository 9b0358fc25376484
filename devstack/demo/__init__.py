"""`devstack demo`: the reference pipeline end to end on a running stack.

ticks (host) -> Kafka market.ticks -> Spark Structured Streaming (stream-features) -> ClickHouse ticks/bars/signals
and Kafka market.signals -> Airflow trains and registers a model in MLflow (artifacts in MinIO) -> MLServer serves
it (model-server) -> the scorer caches features in Redis (TTL) and writes predictions to Kafka model.predictions.

Each step checks before it acts (a running job is left running, a served version is not reloaded), so running the
demo again continues the same pipeline with new ticks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import pipeline
from devstack.core.errors import EnvironmentProblem, UsageError
from devstack.demo.counts import Counts, clickhouse_counts, redis_features, topic_records
from devstack.planning.plan import Plan
from devstack.runtime.engine.compose import ComposeEngine
from devstack.runtime.engine.docker import DockerFailed, image_exists, pull
from devstack.services.airflow import NAME as AIRFLOW
from devstack.services.clickhouse import NAME as CLICKHOUSE
from devstack.services.jupyter import NAME as JUPYTER
from devstack.services.kafka import NAME as KAFKA
from devstack.services.kafka import Login, login
from devstack.services.minio import NAME as MINIO
from devstack.services.mlflow import NAME as MLFLOW
from devstack.services.postgres import NAME as POSTGRES
from devstack.services.redis import NAME as REDIS
from devstack.services.spark import NAME as SPARK

# the services of the reference pipeline
NEEDS = (
    KAFKA,
    SPARK,
    CLICKHOUSE,
    JUPYTER,
    POSTGRES,
    MINIO,
    MLFLOW,
    AIRFLOW,
    REDIS,
)
PROFILE = "demo"


@dataclass(frozen=True)
class DemoOptions:
    ticks: int = 4000
    spacing_ms: int = 1000
    train: bool = True  # trigger the training DAG (when False, the newest registered version is served)
    timeout_s: float = 900
    # build args for devstack's MLServer image when the demo builds it (a private index: PIP_INDEX_URL=...)
    build_args: dict[str, str] = field(default_factory=dict)


def model_server_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('DEVSTACK_MODEL_SERVER_PORT', '18080')}"


def check_plan(plan: Plan, stack: str) -> None:
    missing = [n for n in NEEDS if n not in plan.names()]
    if missing:
        flag = "" if stack == "default" else f" --stack {stack}"
        raise UsageError(
            f"the demo needs {', '.join(missing)}, which stack {stack!r} does not run.",
            f"bring them up: devstack up{flag} --services {','.join(NEEDS)} (or the full profile).",
        )


def _engine(directory: Path, project: str) -> ComposeEngine:
    return ComposeEngine(directory, project, profiles=(PROFILE,))


def start_service(directory: Path, project: str, service: str, *, recreate: bool = False) -> None:
    _engine(directory, project).start([service], recreate=recreate)


def stop(directory: Path, project: str) -> list[str]:
    """Stop and remove the demo's containers (the stack and its data stay)."""
    return _engine(directory, project).remove(["stream-features", "model-server"])


def produce_ticks(kafka: Login, count: int, spacing_ms: int, seq0: int) -> int:
    """`count` ticks ending now in event time (history backfilled), keyed by symbol, acknowledged by all replicas."""
    from confluent_kafka import Producer

    from devstack.pipeline.ticks import SYMBOLS, ticks

    per_symbol = -(-count // len(SYMBOLS))
    start_ms = int(time.time() * 1000) - per_symbol * spacing_ms
    p = Producer(kafka.config(acks="all", **{"linger.ms": 20, "enable.idempotence": True}))
    failed: list[str] = []

    def delivered(err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            failed.append(str(err))

    for t in ticks(count, start_ms=start_ms, spacing_ms=spacing_ms, seed=seq0 or 7, first_seq=seq0):
        p.produce(pipeline.TICKS_TOPIC, key=t.symbol, value=t.to_json(), on_delivery=delivered)
        p.poll(0)
    left = p.flush(60)
    if left or failed:
        raise EnvironmentProblem(f"{left + len(failed)} ticks were not acknowledged by Kafka: {failed[:1]}", "")
    return count


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, hint: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise EnvironmentProblem(f"{what} did not happen within {timeout_s:.0f}s.", hint)
        time.sleep(2)


def serve_model(directory: Path, project: str, env: dict[str, str], version_hint: int | None = None) -> int:
    """Copy the newest registered version out of MinIO into the stack dir and (re)start MLServer on it."""
    import shutil

    from devstack.lifecycle.bootstrap.buckets import client
    from devstack.lifecycle.serving import resolve_model
    from devstack.planning.seldon import ModelRef, artifact_s3_uri

    version, source = resolve_model(env["MLFLOW_TRACKING_URI"], ModelRef(pipeline.MODEL_NAME, version_hint))
    target = directory / "models" / pipeline.MODEL_NAME
    stamp = target / ".version"
    if stamp.exists() and stamp.read_text().strip() == str(version) and _ready(model_server_url()):
        return version
    uri = artifact_s3_uri(source, pipeline.MLFLOW_BUCKET)
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = client(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
        for o in page.get("Contents", [])
    ]
    if not any(k.endswith("/MLmodel") for k in keys):
        raise EnvironmentProblem(f"version {version} of {pipeline.MODEL_NAME} has no MLmodel under {uri}.", "")
    for key in keys:
        dest = target / key[len(prefix) + 1 :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(dest))
    for p in [target, *target.rglob("*")]:  # MLServer runs as a non-root user
        p.chmod(0o755 if p.is_dir() else 0o644)
    stamp.write_text(f"{version}\n")
    start_service(directory, project, "model-server", recreate=True)
    return version


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/v2/models/{pipeline.MODEL_NAME}/ready", timeout=3) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def default_mlserver_image() -> str:
    """devstack's own MLServer build (compose/pipeline.yaml's default): it has the model runtime the DAG trains
    with, which Seldon's seldonio/mlserver has not (k3d/images/mlserver/model-runtime.txt)."""
    from devstack.planning.catalog import CATALOG
    from devstack.planning.seldon import devstack_ref

    return devstack_ref(CATALOG["seldon"].images["mlserver"].ref)


def mlserver_override(directory: Path) -> str | None:
    """As Compose resolves ${DEVSTACK_IMAGE_MLSERVER}: the environment, then the stack's .env; None: the default
    (devstack's own build, which .env names when Seldon is planned: built from its recipe, never pulled)."""
    ref = os.environ.get("DEVSTACK_IMAGE_MLSERVER")
    env_file = directory / ".env"
    for line in env_file.read_text(encoding="utf-8").splitlines() if not ref and env_file.exists() else []:
        if line.startswith("DEVSTACK_IMAGE_MLSERVER="):
            ref = line.split("=", 1)[1].strip().strip("'\"")
    return None if not ref or ref == default_mlserver_image() else ref


def ensure_mlserver_image(directory: Path, build_args: dict[str, str], step: Callable[[str], None]) -> str:
    """The model server's image, there before it starts: an override is pulled when absent; devstack's own build
    is built from its recipe when absent or built from an older one."""
    if override := mlserver_override(directory):
        if not _image_present(override):
            step(f"pulling the model server's image {override} (once)")
            _pull(override)
        return override
    from devstack.runtime.image_builds import ensure_local

    return ensure_local("mlserver", default_mlserver_image(), build_args=build_args, progress=step).ref


def _image_present(ref: str) -> bool:
    return image_exists(ref)


def _pull(ref: str) -> None:
    try:
        pull(ref)
    except DockerFailed as e:
        raise EnvironmentProblem(
            f"could not pull {ref}: {e.last_line[:200]}",
            "check the network, or point DEVSTACK_IMAGE_MLSERVER at an image that has MLServer and mlserver-mlflow.",
        ) from None


def _logs_hint(directory: Path, service: str) -> str:
    return f"see its logs: docker compose --project-directory {directory} --profile demo logs {service}"


def counts(env: dict[str, str], c: Counts, demo: Login) -> Counts:
    """`demo`: the demo's Kafka principal, which may describe every pipeline topic."""
    kafka = demo.config()
    c.ticks_topic = topic_records(kafka, pipeline.TICKS_TOPIC)
    c.signals_topic = topic_records(kafka, pipeline.SIGNALS_TOPIC)
    c.predictions_topic = topic_records(kafka, pipeline.PREDICTIONS_TOPIC)
    c.ticks_clickhouse, c.bars_1m, c.signals_clickhouse = clickhouse_counts(env)
    c.features_redis, c.features_ttl_s = redis_features(env["REDIS_URL"])
    return c


def run(stack: str, opts: DemoOptions, *, step: Callable[[str], None] = lambda s: None) -> Counts:
    from devstack.demo.scorer import score
    from devstack.lifecycle.bootstrap import run as bootstrap
    from devstack.lifecycle.stack import compose_services, open_stack
    from devstack.planning.endpoints import environment
    from devstack.render.state import read_secrets
    from devstack.runtime.airflow_api import Airflow
    from devstack.runtime.health import probe_once

    directory, project, plan = open_stack(stack)
    check_plan(plan, stack)
    secrets = read_secrets(directory)
    env = environment(plan, secrets)
    demo, scorer = (login(env["KAFKA_BOOTSTRAP_SERVERS"], who, secrets) for who in ("demo", "scorer"))
    step("checking the stack")
    running = {c.service for c in ComposeEngine(directory, project).containers() if c.state == "running"}
    if not running:  # Docker down raises above; nothing running is a stack that was stopped
        raise EnvironmentProblem(
            f"stack {stack!r} is not running.",
            f"run `devstack up{'' if stack == 'default' else ' --stack ' + stack}` first.",
        )
    sick = {n: p.detail for n, p in probe_once(plan, secrets, compose_services(plan)).items() if not p.ok}
    if sick:
        name, detail = next(iter(sick.items()))
        raise EnvironmentProblem(
            f"{name} is not healthy ({detail}); the demo needs the whole stack.",
            f"run `devstack up{'' if stack == 'default' else ' --stack ' + stack}` and try again.",
        )
    step("bootstrap")
    bootstrap(plan, secrets, project=project)
    c = Counts()
    before = counts(env, Counts(), demo)
    step("starting the streaming job (stream-features: up to 1.25 GiB, outside the plan's budget)")
    start_service(directory, project, "stream-features")
    step(f"producing {opts.ticks} ticks to {pipeline.TICKS_TOPIC}")
    c.ticks_produced = produce_ticks(demo, opts.ticks, opts.spacing_ms, before.ticks_topic)
    want = before.ticks_clickhouse + opts.ticks

    def landed() -> bool:
        counts(env, c, demo)
        step(
            f"Spark: {c.ticks_clickhouse - before.ticks_clickhouse}/{opts.ticks} ticks in ClickHouse, "
            f"{c.signals_clickhouse} signal windows"
        )
        return c.ticks_clickhouse >= want and c.signals_topic > before.signals_topic

    wait_until(
        landed,
        opts.timeout_s,
        "the ticks reaching ClickHouse through Spark",
        "see `devstack logs pipeline` (the stream-features container) and the Spark UI.",
    )
    if opts.train:
        airflow = Airflow(env["AIRFLOW_URL"], env["AIRFLOW_USER"], env["AIRFLOW_PASSWORD"])
        airflow.wait_for_dag(pipeline.TRAINING_DAG)
        run_id = airflow.trigger(pipeline.TRAINING_DAG)
        step(f"Airflow: training run {run_id}")
        c.dag_run = airflow.wait_run(
            pipeline.TRAINING_DAG,
            run_id,
            opts.timeout_s,
            on_state=lambda s: step(f"Airflow: {pipeline.TRAINING_DAG} {s}"),
        )
        if c.dag_run != "success":
            states = airflow.task_states(pipeline.TRAINING_DAG, run_id)
            raise EnvironmentProblem(
                f"the training run ended {c.dag_run or 'unfinished'} (tasks: {states}).",
                "open Airflow's UI (devstack env: AIRFLOW_URL) for the task logs.",
            )
        # Unpausing the daily DAG makes Airflow schedule the latest day's run beside ours, and it registers a
        # version too: serve what the registry holds once both are done, not a version a minute from stale
        for other in airflow.active_runs(pipeline.TRAINING_DAG):
            step(f"Airflow: waiting for the scheduled run {other} too (it registers a version as well)")
            airflow.wait_run(pipeline.TRAINING_DAG, other, opts.timeout_s)
    ensure_mlserver_image(directory, opts.build_args, step)
    step("serving the newest model version (model-server: up to 1 GiB, outside the plan's budget)")
    c.model_version = serve_model(directory, project, env)
    wait_until(
        lambda: _ready(model_server_url()),
        300,
        "MLServer loading the model",
        "see `devstack logs pipeline` (the model-server container).",
    )
    step("scoring signals: features to Redis, predictions to Kafka")
    score(scorer, env["REDIS_URL"], model_server_url(), model_version=c.model_version)
    return counts(env, c, demo)
