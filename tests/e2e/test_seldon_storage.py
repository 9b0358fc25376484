"""The model's way from MinIO into the model server, as Seldon runs it, short of the cluster: the model's files in
a real MinIO (the test-bed image) under the path `serve` computes, copied out by rclone exactly as Seldon's
storage initializer does (`rclone copy <modelUri> /mnt/models`, configured only by devstack's Secret), then
served by MLServer with Seldon's environment and answering V2 requests with the model's classes.

MinIO is published on 127.0.0.1:19100 and MLServer on 18086-18088: none of the stack's ports.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from devstack.planning import seldon
from tests import testbed_images as testbed
from tests.conftest import run_cli
from tests.seldon_testbed import MLSERVER_DIR, MLSERVER_VENV, require, require_tool

MINIO_PORT = 19100
HTTP, GRPC, METRICS = 18086, 18087, 18088


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(url: str, seconds: float, alive: object = None) -> None:
    deadline = time.monotonic() + seconds
    while not _ready(url):
        if callable(alive):
            assert alive(), f"the server behind {url} exited"
        assert time.monotonic() < deadline, f"{url} not ready within {seconds:.0f}s"
        time.sleep(0.5)


@pytest.mark.engine
def test_a_model_in_minio_reaches_mlserver_through_rclone_and_devstacks_secret(tmp_path: Path) -> None:
    require_tool("rclone")
    require("MLServer's venv", (MLSERVER_VENV / "bin" / "mlserver").exists())
    image = testbed.testbed_images().get("DEVSTACK_IMAGE_MINIO")
    require("the test-bed MinIO image", image is not None)
    import boto3

    password = secrets.token_hex(12)
    name = f"dstest-minio-{uuid.uuid4().hex[:6]}"
    run = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{MINIO_PORT}:9000"]
    run += ["-e", "MINIO_ROOT_USER=devstack", "-e", f"MINIO_ROOT_PASSWORD={password}"]
    subprocess.run([*run, str(image), "server", "/data"], check=True, capture_output=True)
    try:
        _wait(f"http://127.0.0.1:{MINIO_PORT}/minio/health/ready", 60)
        model = tmp_path / "made"
        subprocess.run(
            [str(MLSERVER_VENV / "bin" / "python"), str(MLSERVER_DIR / "make_model.py"), str(model)],
            check=True,
            capture_output=True,
            cwd=tmp_path,
        )
        expected = json.loads((model / "expected.json").read_text())
        # where MLflow (artifacts in MinIO) keeps a logged model, and the URI `serve` puts in the manifest
        source = "mlflow-artifacts:/1/models/m-0123/artifacts"
        uri = seldon.artifact_s3_uri(source, "mlflow-artifacts")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{MINIO_PORT}",
            aws_access_key_id="devstack",
            aws_secret_access_key=password,
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=bucket)
        for f in model.iterdir():
            s3.upload_file(str(f), bucket, f"{prefix}/{f.name}")

        # Seldon's storage initializer: `rclone copy <modelUri> /mnt/models`, its environment from the Secret only
        secret = seldon.rclone_secret(
            access_key="devstack", secret_key=password, endpoint=f"http://127.0.0.1:{MINIO_PORT}"
        )
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **secret["stringData"]}
        mnt = tmp_path / "mnt-models"
        copied = subprocess.run(["rclone", "copy", uri, str(mnt)], env=env, capture_output=True, text=True, timeout=120)
        assert copied.returncode == 0, copied.stderr
        assert sorted(p.name for p in mnt.iterdir()) == sorted(p.name for p in model.iterdir())

        # wrong credentials fail the copy, so the Secret is what made it work
        bad = {**env, "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "wrong"}
        refused = subprocess.run(["rclone", "copy", uri, str(tmp_path / "x")], env=bad, capture_output=True, text=True)
        assert refused.returncode != 0 and "SignatureDoesNotMatch" in refused.stderr, refused.stderr

        log = (tmp_path / "mlserver.log").open("w")
        server_env = {
            **os.environ,
            **seldon.mlserver_env(model_dir=str(mnt), http_port=HTTP, grpc_port=GRPC, metrics_port=METRICS),
        }
        proc = subprocess.Popen(
            [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(mnt)],
            env=server_env,
            stdout=log,
            stderr=log,
            cwd=tmp_path,
        )
        try:
            _wait(f"http://127.0.0.1:{HTTP}/v2/models/{seldon.MODEL_NODE}/ready", 120, lambda: proc.poll() is None)
            res = run_cli(
                "predict", "iris", "--url", f"http://127.0.0.1:{HTTP}", "--data", json.dumps(expected["rows"])
            )
            assert res.returncode == 0, res.stderr
            assert json.loads(res.stdout)["outputs"][0]["data"] == expected["classes"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
