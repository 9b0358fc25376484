"""The reference pipeline end to end on the test images, through the CLI as a user runs it: `devstack up`
(bootstrap included), then `devstack demo`: ticks -> Kafka -> Spark Structured Streaming -> ClickHouse (ticks,
1-minute bars, signals) and the signals topic -> Airflow trains from ClickHouse, logs to MLflow with the model in
the versioned MinIO bucket, registers it -> MLServer serves it -> predictions on the predictions topic and the
latest features in Redis with a TTL. The counts at each stage are printed."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import pipeline
from devstack.demo import NEEDS
from devstack.render.state import project_name
from tests.conftest import run_cli
from tests.recipe_standins import mlserver_build_args
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-pipe"
SHIFT = 24000  # every published port moved by a devstack.yaml: no other stack's ports are needed
TICKS = 4000
SERVICES = ",".join((*NEEDS, "prometheus"))
# no DEVSTACK_IMAGE_MLSERVER: the demo serves with devstack's own MLServer build, as a user's does, built here
# from its recipe on a python:3.11-slim stand-in (tests/recipe_standins.py)
IMAGES = ["KAFKA", "SPARK", "CLICKHOUSE", "JUPYTER", "POSTGRES", "MINIO", "MLFLOW", "AIRFLOW", "REDIS"]
IMAGES += ["PROMETHEUS", "KAFKA_EXPORTER", "REDIS_EXPORTER"]  # Prometheus too: it watches the demo's model server


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(tmp_path_factory.mktemp("state"), SERVICES, SHIFT, IMAGES)
    e["DEVSTACK_MODEL_SERVER_PORT"] = str(18080 + SHIFT)
    e.pop("DEVSTACK_IMAGE_MLSERVER", None)  # shifted_env hands over every test image: not this one
    yield e
    run_cli("demo", "--stack", STACK, "--stop", env=e)
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def stack_env(env: dict[str, str]) -> dict[str, str]:
    config = config_path(env)
    r = run_cli("up", "--services", SERVICES, "--budget", "14g", "--stack", STACK, "--config", config, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    r = run_cli("env", "--stack", STACK, "--format", "json", env=env)
    return dict(json.loads(r.stdout))


@pytest.fixture(scope="module")
def demo(env: dict[str, str], stack_env: dict[str, str]) -> dict[str, Any]:
    r = run_cli("demo", "--stack", STACK, "--ticks", str(TICKS), "--json", *mlserver_build_args(), env=env)
    if r.returncode != 0:
        directory = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK
        logs = subprocess.run(
            [
                "docker",
                "compose",
                "--project-directory",
                str(directory),
                "--profile",
                "demo",
                "logs",
                "--tail",
                "60",
                "stream-features",
                "model-server",
            ],
            capture_output=True,
            text=True,
        )
        pytest.fail(f"demo failed: {r.stderr[-2000:]}\n{r.stdout[-2000:]}\n{logs.stdout[-6000:]}")
    counts = dict(json.loads(r.stdout))
    print("\npipeline counts, stage by stage:")
    for k, v in counts.items():
        print(f"  {k:22} {v}")
    return counts


def test_every_tick_reaches_clickhouse_and_its_views(demo: dict[str, Any]) -> None:
    assert demo["ticks_produced"] == TICKS
    assert demo["ticks_topic"] == TICKS
    assert demo["ticks_clickhouse"] == TICKS
    # 1000 ticks per symbol, one a second: about 17 minutes of bars for each of the 4 symbols
    assert 4 * 16 <= demo["bars_1m"] <= 4 * 18
    assert demo["signals_clickhouse"] >= 4 * 95  # 10-second windows over 1000 s per symbol
    assert demo["signals_topic"] >= demo["signals_clickhouse"]


def test_the_dag_trained_and_registered_a_model_stored_in_the_versioned_bucket(
    demo: dict[str, Any], stack_env: dict[str, str]
) -> None:
    from devstack.lifecycle.bootstrap.buckets import client

    assert demo["dag_run"] == "success"
    assert demo["model_version"] >= 1
    s3 = client(stack_env["AWS_ENDPOINT_URL"], stack_env["AWS_ACCESS_KEY_ID"], stack_env["AWS_SECRET_ACCESS_KEY"])
    assert s3.get_bucket_versioning(Bucket=pipeline.MLFLOW_BUCKET)["Status"] == "Enabled"
    versions = s3.list_object_versions(Bucket=pipeline.MLFLOW_BUCKET).get("Versions", [])
    models = [v for v in versions if v["Key"].endswith("/MLmodel")]
    assert models and all(v["VersionId"] not in ("", "null") for v in models), models
    print(f"\nMLmodel objects in {pipeline.MLFLOW_BUCKET}: {[(v['Key'], v['VersionId']) for v in models]}")


def test_the_model_is_served_by_devstacks_own_mlserver_build(demo: dict[str, Any], env: dict[str, str]) -> None:
    """The DAG's model loads where users serve it: devstack's MLServer image, built from the recipe whose
    model-runtime.txt the DAG's venv installed too (Seldon's own image cannot load it: numpy 1.26)."""
    from devstack.demo import default_mlserver_image
    from devstack.runtime.host import normalize_arch
    from devstack.runtime.image_builds import RECIPE_LABEL, recipe_hash, recipes_dir

    name = f"{project_name(STACK)}-model-server-1"
    image = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", name], capture_output=True, text=True)
    assert image.stdout.strip() == default_mlserver_image() == "devstack/mlserver:1.7.1", image.stdout + image.stderr
    labels = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", default_mlserver_image()],
        capture_output=True,
        text=True,
        check=True,
    )
    arch = subprocess.run(["docker", "info", "-f", "{{.Architecture}}"], capture_output=True, text=True).stdout
    platform = f"linux/{normalize_arch(arch.strip())}"
    assert json.loads(labels.stdout)[RECIPE_LABEL] == recipe_hash(recipes_dir() / "mlserver", platform)
    assert demo["model_version"] >= 1


def test_the_streaming_job_and_jupyter_report_healthy(demo: dict[str, Any]) -> None:
    """On the official pyspark-notebook image, whose HEALTHCHECK the stand-in has, stream-features (a Spark job,
    no Jupyter server) turned `unhealthy`: its Compose healthcheck asks its own driver instead."""
    import time

    want = {f"{project_name(STACK)}-{c}-1" for c in ("stream-features", "jupyter")}
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 240  # stream-features' start period is 180 s: the demo ran longer already
    while time.monotonic() < deadline:
        for name in want:
            r = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", name], capture_output=True, text=True
            )
            seen[name] = r.stdout.strip() or r.stderr.strip()
        if all(s == "healthy" for s in seen.values()):
            break
        time.sleep(3)
    assert all(s == "healthy" for s in seen.values()), seen


def test_predictions_and_features_flow(demo: dict[str, Any]) -> None:
    assert demo["predictions_topic"] >= demo["signals_clickhouse"]
    assert demo["features_redis"] == 4  # the latest features of each symbol
    assert 0 < demo["features_ttl_s"] <= pipeline.FEATURE_TTL_SECONDS


def test_prometheus_watches_the_model_server(
    demo: dict[str, Any], stack_env: dict[str, str], env: dict[str, str]
) -> None:
    """Model monitoring: MLServer's request metrics reach the stack's Prometheus, and `status` lists the job."""
    import time
    import urllib.parse
    import urllib.request

    base = stack_env["PROMETHEUS_URL"]
    query = urllib.parse.quote('sum(model_infer_request_success_total{job="model-server"})')
    deadline, value = time.monotonic() + 90, 0.0
    while time.monotonic() < deadline:  # DNS discovery every 15 s, then a scrape every 15 s
        with urllib.request.urlopen(f"{base}/api/v1/query?query={query}", timeout=10) as r:
            result = json.load(r)["data"]["result"]
        value = float(result[0]["value"][1]) if result else 0.0
        if value > 0:
            break
        time.sleep(3)
    assert value > 0, "MLServer's model_infer_request_success_total never reached Prometheus"
    print(f"\nPrometheus: model_infer_request_success_total = {value:.0f} (scorer batches)")
    r = run_cli("status", "--stack", STACK, "--json", env=env)
    jobs = {
        t["job"]: t["health"]
        for s in json.loads(r.stdout)["services"]
        if s["name"] == "prometheus"
        for t in s["targets"]
    }
    assert jobs.get("model-server") == "up", jobs


def test_notebooks_predict_through_the_demos_model_server(env: dict[str, str], demo: dict[str, Any]) -> None:
    from tests.notebook_runner import run_notebook

    ids = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project=devstack-{STACK}",
            "--filter",
            "label=com.docker.compose.service=jupyter",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for notebook in ("05_serving_and_predicting.ipynb", "06_redis_features.ipynb"):
        result = run_notebook(ids[0], notebook)
        assert result["ok"], f"{notebook} failed:\n{result['error']}"
        print(f"\n{notebook}: {result['seconds']} s")
        if notebook.startswith("05"):
            said = "\n".join(result["outputs"])
            assert "the model server agrees with the registry's version" in said, said[-2000:]


def test_a_second_demo_continues_the_same_pipeline(
    env: dict[str, str], demo: dict[str, Any], stack_env: dict[str, str]
) -> None:
    """As a person runs it: progress lines, then the table of what flowed."""
    r = run_cli("demo", "--stack", STACK, "--ticks", "400", "--no-train", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    print("\n" + r.stdout)
    rows = {}
    for line in r.stdout.splitlines():  # the table's rows: "stage │ figure"
        if "│" in line:
            stage, figure = line.split("│", 1)
            rows[stage.strip()] = figure.strip()
    assert rows["ClickHouse market.ticks"] == str(TICKS + 400)
    # the newest version in the registry: the demo's DAG made one, and the DAG's daily schedule makes another when
    # the suite crosses midnight UTC (it did in CI once: "version 3" after the demo's version 2)
    registry = json.loads(
        urllib.request.urlopen(
            f"{stack_env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/registered-models/get?name={pipeline.MODEL_NAME}",
            timeout=30,
        ).read()
    )
    newest = max(int(v["version"]) for v in registry["registered_model"]["latest_versions"])
    assert newest >= demo["model_version"]
    assert rows[f"MLflow model {pipeline.MODEL_NAME}"] == f"version {newest}"
    assert int(rows[f"Kafka {pipeline.PREDICTIONS_TOPIC}"]) > demo["predictions_topic"]
    assert "producing 400 ticks" in r.stdout and "done in" in r.stdout


def test_notebooks_run_from_a_host_python(env: dict[str, str], stack_env: dict[str, str]) -> None:
    """As a user runs them outside the stack: their own venv, `eval "$(devstack env)"`, the host ports."""
    import os

    from tests.conftest import REPO
    from tests.notebook_runner import run_notebook_on_host

    venv = subprocess.run(
        ["bash", str(REPO / "tests/testbed/notebook_venv.sh")], capture_output=True, text=True, timeout=900
    )
    assert venv.returncode == 0, venv.stderr[-2000:]
    python = str(Path(venv.stdout.strip()) / "bin" / "python")
    host_env = {**os.environ, **stack_env}
    for notebook in (
        "01_kafka_produce_consume.ipynb",
        "03_clickhouse_materialized_views.ipynb",
        "06_redis_features.ipynb",
    ):
        result = run_notebook_on_host(python, str(REPO / "notebooks"), notebook, host_env)
        assert result["ok"], f"{notebook} failed on the host:\n{result['error']}"
        print(f"\n{notebook} from the host: {result['seconds']} s")


def test_stop_removes_only_the_demos_containers(env: dict[str, str], stack_env: dict[str, str]) -> None:
    r = run_cli("demo", "--stack", STACK, "--stop", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["stopped"]) >= {f"devstack-{STACK}-stream-features-1"}
    r = run_cli("status", "--stack", STACK, "--json", env=env)
    assert r.returncode == 0, r.stdout[-2000:]


def test_demo_on_a_stopped_stack_says_so(env: dict[str, str], stack_env: dict[str, str]) -> None:
    r = run_cli("demo", "--stack", STACK, "--ticks", "0", env=env)
    assert r.returncode == 2 and "--ticks 0" in r.stderr and "Traceback" not in r.stderr
    assert run_cli("down", "--stack", STACK, env=env).returncode == 0
    r = run_cli("demo", "--stack", STACK, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "is not running" in r.stderr and f"devstack up --stack {STACK}" in r.stderr and "Traceback" not in r.stderr
