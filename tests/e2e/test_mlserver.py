"""The model server Seldon runs, serving one MLflow model, for real: MLServer 1.7.1 with its mlflow runtime, in its
own venv on the host and in the test-bed image (tests/testbed/images/mlserver), each started with the environment
Seldon Core v1's operator gives it (`seldon.mlserver_env`), each answering the V2 REST protocol with the classes
the trained model predicts, and exposing request metrics for Prometheus. `devstack predict --url` is the client.

No stack is needed: ports 18080-18082 (native) and 18090-18092 (container) are none of the stack's.
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

from devstack.planning import seldon
from devstack.planning.catalog import SERVICE_NAMES
from devstack.planning.plan import PlanRequest, make_plan
from tests import testbed_images as testbed
from tests.conftest import run_cli
from tests.seldon_testbed import MLSERVER_DIR, MLSERVER_VENV, require

NATIVE = {"http": 18080, "grpc": 18081, "metrics": 18082}
CONTAINER = {"http": 18090, "metrics": 18092}


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except OSError as e:
        return getattr(e, "code", 0) or 0, str(e)


def wait_model_ready(base: str, deadline_s: float, alive: Any) -> float:
    """Seconds until the server and the model answer ready (the server is ready before the model loads)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        assert alive(), "the model server exited"
        if _get(f"{base}/v2/health/ready")[0] == 200 and _get(f"{base}/v2/models/{seldon.MODEL_NODE}/ready")[0] == 200:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"{base}: model not ready within {deadline_s:.0f}s")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The test model in MLflow's format, as `log_model` stores it in the artifact store."""
    require("MLServer's venv (tests/testbed/images/mlserver/venv.sh)", (MLSERVER_VENV / "bin" / "mlserver").exists())
    out = tmp_path_factory.mktemp("model") / "iris"
    subprocess.run(
        [str(MLSERVER_VENV / "bin" / "python"), str(MLSERVER_DIR / "make_model.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=out.parent,  # MLflow 3 opens its default tracking store, ./mlflow.db, even to save a model
    )
    out.chmod(0o755)
    for p in out.iterdir():
        p.chmod(0o644)  # readable by the image's non-root user
    return out, json.loads((out / "expected.json").read_text())


def check_v2(base: str, metrics: str, expected: dict[str, Any]) -> None:
    """V2 inference through `devstack predict --url`, then the request counted on the metrics endpoint (where
    Seldon's operator puts it: its port and path, as `seldon.mlserver_env` sets them)."""
    res = run_cli("predict", "iris", "--url", base, "--data", json.dumps(expected["rows"]))
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["model_name"] == seldon.MODEL_NODE
    (output,) = answer["outputs"]
    assert output["datatype"] == "INT64" and output["data"] == expected["classes"]
    body = _get(f"{metrics}{seldon.MLSERVER_METRICS_PATH}")[1]
    counted = [line for line in body.splitlines() if line.startswith("model_infer_request_success_total")]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, body[:500]
    # a request the model cannot take is refused with one line, not a traceback
    bad = run_cli("predict", "iris", "--url", base, "--data", "[[1, 2]]")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "the model server refused the request" in bad.stderr


@pytest.fixture
def native_server(model: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[str]:
    model_dir, _ = model
    env = {
        **os.environ,
        **seldon.mlserver_env(
            model_dir=str(model_dir),
            http_port=NATIVE["http"],
            grpc_port=NATIVE["grpc"],
            metrics_port=NATIVE["metrics"],
        ),
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
        base = f"http://127.0.0.1:{NATIVE['http']}"
        secs = wait_model_ready(base, 120, lambda: proc.poll() is None)
        print(f"native MLServer: model ready in {secs:.1f}s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_mlserver_serves_the_model_natively(native_server: str, model: tuple[Path, dict[str, Any]]) -> None:
    check_v2(native_server, f"http://127.0.0.1:{NATIVE['metrics']}", model[1])


@pytest.mark.engine
def test_mlserver_serves_the_same_model_in_the_test_bed_image(model: tuple[Path, dict[str, Any]]) -> None:
    image = testbed.testbed_images().get("DEVSTACK_IMAGE_MLSERVER")
    require("the test-bed MLServer image (tests/testbed/build_images.sh mlserver)", image is not None)
    model_dir, expected = model
    plan = make_plan(PlanRequest("ml", SERVICE_NAMES, budget_mib=20 * 1024))
    memory = plan.service("seldon").knobs["model_server_memory"]  # the model server's limit in the plan
    mib = int(memory.removesuffix("Mi"))
    name = f"dstest-mlserver-{uuid.uuid4().hex[:6]}"
    env = seldon.mlserver_env(model_dir="/mnt/models")  # Seldon's ports inside: 9000 (http), 8082 (metrics)
    args = ["docker", "run", "-d", "--name", name, "--memory", f"{mib}m", "--memory-swap", f"{mib}m"]
    args += ["-p", f"127.0.0.1:{CONTAINER['http']}:{env['MLSERVER_HTTP_PORT']}"]
    args += ["-p", f"127.0.0.1:{CONTAINER['metrics']}:{env['MLSERVER_METRICS_PORT']}"]
    args += ["-v", f"{model_dir}:/mnt/models:ro"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    subprocess.run([*args, str(image)], check=True, capture_output=True)

    def alive() -> bool:
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True)
        return state.stdout.strip() == "true"

    try:
        secs = wait_model_ready(f"http://127.0.0.1:{CONTAINER['http']}", 120, alive)
        print(f"MLServer container: model ready in {secs:.1f}s")
        check_v2(f"http://127.0.0.1:{CONTAINER['http']}", f"http://127.0.0.1:{CONTAINER['metrics']}", expected)
        limit = subprocess.run(
            ["docker", "inspect", "-f", "{{.HostConfig.Memory}}", name], capture_output=True, text=True
        )
        assert int(limit.stdout) == mib * 1024 * 1024
        usage = subprocess.run(
            ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", name], capture_output=True, text=True
        )
        print(f"MLServer container memory: {usage.stdout.strip()}")
    except AssertionError:
        print(subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True).stderr)
        raise
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
