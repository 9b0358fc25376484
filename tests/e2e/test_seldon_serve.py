"""`devstack serve MODEL[:VERSION] --dry-run` against a real MLflow 3.10 tracking server and registry (from the
MLServer venv, port 18500; not the stack's), serving artifacts itself as the stack's MLflow does: the model is
logged and registered through MLflow's client, devstack resolves the version over MLflow's REST API, maps the
artifact URI to MinIO's s3:// path, and prints manifests that validate against Seldon's CRD. Then MLServer
serves the very artifacts at that path (the file store stands in for MinIO's bucket), as Seldon's storage
initializer would hand them over. Applied to a real cluster: test_seldon_cluster.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.planning import seldon
from devstack.services import minio
from tests.conftest import run_cli
from tests.seldon_testbed import MLSERVER_VENV, SELDON_CRD, require
from tests.unit.test_seldon import validate

MLFLOW_PORT = 18500
REGISTER = """
import sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from mlflow.models import infer_signature
x, y = load_iris(return_X_y=True)
m = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
mlflow.set_tracking_uri(sys.argv[1])
for _ in range(2):  # two versions: serve without :VERSION must pick the newest
    with mlflow.start_run():
        mlflow.sklearn.log_model(m, name="model", registered_model_name="iris",
                                 signature=infer_signature(x, m.predict(x)), serialization_format="cloudpickle")
"""


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require("MLServer's venv, which carries mlflow", (MLSERVER_VENV / "bin" / "mlflow").exists())
    root = tmp_path_factory.mktemp("mlflow")
    store = root / "bucket"  # stands in for s3://mlflow-artifacts in MinIO
    log = (root / "mlflow.log").open("w")
    proc = subprocess.Popen(
        [
            str(MLSERVER_VENV / "bin" / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(MLFLOW_PORT),
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            store.as_uri(),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=log,
        cwd=root,
    )
    url = f"http://127.0.0.1:{MLFLOW_PORT}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (root / "mlflow.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "MLflow did not answer /health within 120 s"
            time.sleep(0.5)
        subprocess.run(
            [str(MLSERVER_VENV / "bin" / "python"), "-c", REGISTER, url],
            check=True,
            capture_output=True,
            timeout=300,
            cwd=root,
        )
        yield url, store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """A rendered ml stack in a private state dir (the plan serve sizes the model server from); nothing runs."""
    env = {"XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}
    stack = f"serve{uuid.uuid4().hex[:6]}"
    res = run_cli("render", "--profile", "ml", "--budget", "20g", "--stack", stack, env=env)
    assert res.returncode == 0, res.stderr
    return env, stack


def manifests(text: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(text) if d}


def test_serve_dry_run_resolves_the_newest_version_to_minio(
    mlflow_server: tuple[str, Path], stack_env: tuple[dict[str, str], str]
) -> None:
    url, store = mlflow_server
    env, stack = stack_env
    res = run_cli("serve", "iris", "--dry-run", "--mlflow", url, "--stack", stack, env=env)
    assert res.returncode == 0, res.stderr
    docs = manifests(res.stdout)
    sdep, secret = docs["SeldonDeployment"], docs["Secret"]
    assert sdep["metadata"]["name"] == "iris-v2" and sdep["metadata"]["labels"]["devstack.dev/model-version"] == "2"
    uri = sdep["spec"]["predictors"][0]["graph"]["modelUri"]
    assert uri.startswith("s3://mlflow-artifacts/")
    # the object path in the bucket is where MLflow really put the model's files
    assert (store / uri.removeprefix("s3://mlflow-artifacts/") / "MLmodel").exists(), uri
    require("Seldon's SeldonDeployment CRD", SELDON_CRD.exists())
    crd = yaml.safe_load(SELDON_CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert validate(sdep, v1["schema"]["openAPIV3Schema"]) == []
    password = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / stack / "secrets.json").read_text())
    # Seldon's storage initializer signs in as MinIO's serving user (read-only on the artifacts)
    assert secret["stringData"]["RCLONE_CONFIG_S3_ACCESS_KEY_ID"] == minio.SERVING
    assert secret["stringData"]["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"] == password[minio.password_key(minio.SERVING)]
    (container,) = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"]
    plan = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / stack / "plan.json").read_text())
    (s,) = [s for s in plan["services"] if s["name"] == "seldon"]
    assert container["resources"]["limits"]["memory"] == s["knobs"]["model_server_memory"]  # the plan's


def test_serve_a_given_version(mlflow_server: tuple[str, Path], stack_env: tuple[dict[str, str], str]) -> None:
    env, stack = stack_env
    res = run_cli("serve", "iris:1", "--dry-run", "--mlflow", mlflow_server[0], "--stack", stack, env=env)
    assert res.returncode == 0, res.stderr
    assert manifests(res.stdout)["SeldonDeployment"]["metadata"]["name"] == "iris-v1"


@pytest.mark.parametrize(
    ("model", "message"),
    [("iris:9", "has no version 9 of 'iris'"), ("nosuch", "has no model named 'nosuch'")],
)
def test_serve_what_the_registry_does_not_have(
    mlflow_server: tuple[str, Path], stack_env: tuple[dict[str, str], str], model: str, message: str
) -> None:
    env, stack = stack_env
    res = run_cli("serve", model, "--dry-run", "--mlflow", mlflow_server[0], "--stack", stack, env=env)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert message in res.stderr and "Fix:" in res.stderr


def test_serve_with_mlflow_down_is_an_environment_error(stack_env: tuple[dict[str, str], str]) -> None:
    env, stack = stack_env
    res = run_cli("serve", "iris", "--dry-run", "--mlflow", "http://127.0.0.1:1", "--stack", stack, env=env)
    assert res.returncode == 3 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "did not answer" in res.stderr


def test_serve_and_predict_without_a_cluster_say_so(
    mlflow_server: tuple[str, Path], stack_env: tuple[dict[str, str], str]
) -> None:
    """The stack is rendered but its cluster never came up (it cannot here): one line, exit 3, what to run."""
    env, stack = stack_env
    res = run_cli("serve", "iris", "--mlflow", mlflow_server[0], "--stack", stack, env=env)
    assert res.returncode == 3 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "has no k3d cluster running" in res.stderr and "devstack up" in res.stderr
    res = run_cli("predict", "iris", "--data", "[[1, 2, 3, 4]]", "--stack", stack, env=env)
    assert res.returncode == 3 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "has no k3d cluster to ask" in res.stderr and "--url" in res.stderr


def test_serve_needs_seldon_in_the_plan(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert run_cli("render", "--profile", "minimal", "--stack", "noseldon", env=env).returncode == 0
    res = run_cli("serve", "iris", "--dry-run", "--stack", "noseldon", env=env)
    assert res.returncode == 2 and "has no seldon in its plan" in res.stderr, res.stderr


def test_mlserver_serves_what_the_registry_holds(mlflow_server: tuple[str, Path], tmp_path: Path) -> None:
    """The registered version's own files (what the storage initializer copies to /mnt/models), served by
    MLServer with Seldon's environment: the registry-to-server path, short of MinIO and the cluster."""
    url, store = mlflow_server
    with urllib.request.urlopen(
        f"{url}/api/2.0/mlflow/model-versions/get-download-uri?name=iris&version=2", timeout=10
    ) as r:
        uri = seldon.artifact_s3_uri(json.loads(r.read())["artifact_uri"], "mlflow-artifacts")
    model_dir = store / uri.removeprefix("s3://mlflow-artifacts/")
    env = {
        **os.environ,
        **seldon.mlserver_env(model_dir=str(model_dir), http_port=18083, grpc_port=18084, metrics_port=18085),
    }
    log = (tmp_path / "mlserver.log").open("w")
    proc = subprocess.Popen(
        [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(model_dir)],
        env=env,
        stdout=log,
        stderr=log,
        cwd=tmp_path,  # its mlflow runtime opens ./mlflow.db
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "mlserver.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen("http://127.0.0.1:18083/v2/models/model/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "model not ready within 120 s"
            time.sleep(0.5)
        res = run_cli(
            "predict",
            "iris",
            "--url",
            "http://127.0.0.1:18083",
            "--data",
            "[[5.1, 3.5, 1.4, 0.2], [6.9, 3.2, 5.7, 2.3]]",
        )
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["outputs"][0]["data"] == [0, 2]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
