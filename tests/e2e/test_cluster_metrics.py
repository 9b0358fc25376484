"""Model monitoring of the models Seldon serves in k3d, as far as it can run here: the stack's real Prometheus
(the test bed's 3.7.3 build, with its Kubernetes discovery), started by plain `docker compose` from the rendered
stack, gets the cluster's job when devstack installs the credentials, reloads, discovers the model-server pod
through the API server and scrapes a real MLServer through the API server's pod proxy, with the token.

No k3s node image can be had here, so no API server can run: tests/fake_kube_api.py stands in for the part of one
that Prometheus uses (pod list and watch in one namespace, pod proxy, bearer token, TLS), under the server node's
container name on the stack's network. The README's "Verified here" table says so."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.lifecycle.stack import _sync_prometheus, load_plan
from devstack.planning import seldon
from devstack.render import cluster_metrics
from devstack.runtime.health import prometheus_targets
from tests.conftest import run_cli
from tests.e2e.test_mlserver import model, wait_model_ready  # noqa: F401 (the iris model fixture)
from tests.seldon_testbed import require
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-k3dm"
PROJECT = f"devstack-{STACK}"
SHIFT = 25000
PROM = f"http://127.0.0.1:{9090 + SHIFT}"
POD = "iris-v1-default-0-model-6d5f9"
OTHER_POD = "unannotated-0"
FAKE = Path(__file__).resolve().parents[1] / "fake_kube_api.py"


def _run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, env=env, check=check, timeout=300)


def _pod(name: str, *, annotated: bool) -> dict[str, Any]:
    """A model-server pod as Seldon's operator makes it from devstack's SeldonDeployment: the component spec's
    labels and annotations (seldon.py), the storage initializer as an init container, MLServer's ports."""
    sdep = seldon.seldon_deployment(
        seldon.ModelRef("iris"),
        1,
        model_uri="s3://mlflow-artifacts/1/m/artifacts",
        memory_mib=512,
        server_image="seldonio/mlserver:1.7.1",
        initializer_image="seldonio/rclone-storage-initializer:1.17.1",
    )
    meta = sdep["spec"]["predictors"][0]["componentSpecs"][0]["metadata"]
    ports = [
        {"name": "http", "containerPort": 9000, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 9500, "protocol": "TCP"},
        {"name": "metrics", "containerPort": seldon.MLSERVER_METRICS_PORT, "protocol": "TCP"},
    ]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": seldon.NAMESPACE,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "99",
            "labels": meta["labels"],
            "annotations": meta["annotations"] if annotated else {},
        },
        "spec": {
            "nodeName": f"k3d-{PROJECT}-agent-0",
            "initContainers": [{"name": "model-initializer", "image": "rclone"}],
            "containers": [{"name": seldon.MODEL_NODE, "image": "mlserver", "ports": ports}],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.42.1.7",
            "hostIP": "172.18.0.4",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _running(name: str) -> bool:
    return _run("docker", "inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip() == "true"


def _certs(d: Path) -> Path:
    """A cluster CA and the API server's serving certificate, named as k3s names it (kubernetes.default.svc)."""
    ca_key, ca, key, csr, crt = (d / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
         "-days", "2", "-subj", "/CN=k3s-server-ca")  # fmt: skip
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", "/CN=kube-apiserver")  # fmt: skip
    ext = d / "san.ext"
    ext.write_text("subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost\n")
    _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    d.chmod(0o755)
    for p in (ca, key, crt):
        p.chmod(0o644)  # read by the fake's non-root user through a bind mount
    return ca


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model: tuple[Path, dict[str, Any]]) -> Iterator[dict[str, Any]]:  # noqa: F811
    env = shifted_env(
        tmp_path_factory.mktemp("state"),
        "prometheus,seldon,minio,mlflow,postgres",
        SHIFT,
        ["PROMETHEUS", "MLSERVER"],
    )
    r = run_cli(
        "render", "--services", "prometheus,seldon", "--budget", "20g", "--stack", STACK,
        "--config", config_path(env), "--json", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    directory = Path(json.loads(r.stdout)["directory"])
    compose = ["docker", "compose", "--project-directory", str(directory), "-p", PROJECT]
    names: list[str] = []
    try:
        _run(*compose, "up", "-d", "prometheus", env=env)
        network = f"{PROJECT}_store"
        model_dir, expected = model
        # the model server "pod": MLServer as Seldon's operator starts it, reachable by the pod's name
        mlserver_env = seldon.mlserver_env(model_dir="/mnt/models")
        args = ["docker", "run", "-d", "--name", POD, "--network", network, "-p", "127.0.0.1::9000"]
        args += ["-v", f"{model_dir}:/mnt/models:ro"]
        for k, v in mlserver_env.items():
            args += ["-e", f"{k}={v}"]
        _run(*args, env["DEVSTACK_IMAGE_MLSERVER"])
        names.append(POD)
        port = _run("docker", "port", POD, "9000/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        wait_model_ready(base, 120, lambda: _running(POD))
        # the API server, under the server node's container name on the network k3d joins
        certs = tmp_path_factory.mktemp("certs")
        ca = _certs(certs)
        token = secrets.token_urlsafe(32)
        fake = f"dstest-kubeapi-{uuid.uuid4().hex[:6]}"
        pods = [_pod(POD, annotated=True), _pod(OTHER_POD, annotated=False)]
        _run(
            "docker", "run", "-d", "--name", fake, "--network", network,
            "--network-alias", cluster_metrics.api_host(PROJECT),
            "-v", f"{FAKE}:/fake/fake_kube_api.py:ro", "-v", f"{certs}:/certs:ro",
            "-e", f"FAKE_TOKEN={token}", "-e", f"FAKE_PODS={json.dumps(pods)}",
            "-e", "FAKE_CERT=/certs/server.crt", "-e", "FAKE_KEY=/certs/server.key",
            "--entrypoint", "/opt/mlserver/bin/python", env["DEVSTACK_IMAGE_MLSERVER"], "/fake/fake_kube_api.py",
        )  # fmt: skip
        names.append(fake)
        yield {
            "env": env,
            "directory": directory,
            "plan": load_plan(directory),
            "token": token,
            "ca": ca.read_text(),
            "fake": fake,
            "infer": base,
            "expected": expected,
        }
    finally:
        for n in names:
            _run("docker", "rm", "-f", "-v", n, check=False)
        _run(*compose, "down", "-v", "--remove-orphans", env=env, check=False)


def _get(path: str) -> Any:
    with urllib.request.urlopen(f"{PROM}{path}", timeout=10) as r:
        return json.load(r)


def _targets(job: str) -> list[dict[str, Any]]:
    return [t for t in _get("/api/v1/targets")["data"]["activeTargets"] if t["labels"]["job"] == job]


def _wait(what: str, check: Any, timeout: float = 90) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what} within {timeout:.0f}s; last seen: {last!r}")


def _ready() -> bool:
    try:
        with urllib.request.urlopen(f"{PROM}/-/ready", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_prometheus_scrapes_the_model_pod_through_the_api_server(stack: dict[str, Any]) -> None:
    directory, plan = stack["directory"], stack["plan"]
    _wait("Prometheus ready", _ready)
    # before the cluster has given Prometheus a token, the job is not in the config at all
    assert _targets(cluster_metrics.JOB) == []
    before = (directory / "config/prometheus/prometheus.yml").read_text()
    assert cluster_metrics.JOB not in before

    # what `devstack up` does once Seldon is installed: credentials, then the config, then a reload
    cluster_metrics.install_credentials(directory, stack["token"] + "\n", stack["ca"])
    assert _sync_prometheus(plan, directory, PROJECT, before) == []
    now = (directory / "config/prometheus/prometheus.yml").read_text()
    assert cluster_metrics.JOB in now
    assert _sync_prometheus(plan, directory, PROJECT, now) == []  # a second run: nothing to write or reload

    def up() -> list[dict[str, Any]]:
        return [t for t in _targets(cluster_metrics.JOB) if t["health"] == "up"]

    try:
        (target,) = _wait("one seldon-models target up", up)
    except AssertionError:
        print(_run("docker", "logs", "--tail", "30", f"{PROJECT}-prometheus-1", check=False).stderr)
        fake = _run("docker", "logs", "--tail", "30", stack["fake"], check=False)
        print(fake.stdout, fake.stderr)
        print(_targets(cluster_metrics.JOB))
        raise
    labels = target["labels"]
    assert labels["pod"] == POD and labels["instance"] == POD and labels["namespace"] == seldon.NAMESPACE
    assert labels["model"] == "iris" and labels["model_version"] == "1" and labels["service"] == "seldon"
    host = cluster_metrics.api_host(PROJECT)
    assert target["scrapeUrl"] == (
        f"https://{host}:6443/api/v1/namespaces/{seldon.NAMESPACE}/pods/{POD}:{seldon.MLSERVER_METRICS_PORT}/proxy"
        f"{seldon.MLSERVER_METRICS_PATH}"
    )
    # the unannotated pod and the init container are not scraped; MLServer's three ports are one target
    assert len(_targets(cluster_metrics.JOB)) == 1

    # a request to the model shows in Prometheus, scraped through the proxy
    res = run_cli("predict", "iris", "--url", stack["infer"], "--data", json.dumps(stack["expected"]["rows"]))
    assert res.returncode == 0, res.stderr

    def counted() -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": f'model_infer_request_success_total{{job="{cluster_metrics.JOB}"}}'})
        return [r for r in _get(f"/api/v1/query?{q}")["data"]["result"] if float(r["value"][1]) >= 1]

    (series,) = _wait("the request counted", counted, timeout=60)
    assert series["metric"]["model"] == "iris" and series["metric"]["pod"] == POD

    # status's view: the job is reported with its target up
    jobs = {j.job: j for j in prometheus_targets(plan)}
    assert jobs[cluster_metrics.JOB].ok and jobs[cluster_metrics.JOB].instances == (POD,)

    # the API server saw only what the Role allows, always with the token
    lines = _run("docker", "logs", stack["fake"]).stdout.splitlines()
    requests = [r for r in map(json.loads, lines) if r.get("method") == "GET"]
    assert requests and all(r["auth"] == f"Bearer {stack['token']}" for r in requests)
    paths = {r["path"] for r in requests}
    assert f"/api/v1/namespaces/{seldon.NAMESPACE}/pods" in paths
    assert all(p.startswith(f"/api/v1/namespaces/{seldon.NAMESPACE}/pods") for p in paths), paths
    assert any(r["query"].get("watch") in ("true", "1") for r in requests)


def test_down_takes_the_job_out_with_the_credentials(stack: dict[str, Any]) -> None:
    """What `devstack down` does after deleting the cluster: the next Prometheus start has no job whose CA is gone."""
    directory, plan = stack["directory"], stack["plan"]
    cluster_metrics.forget_credentials(directory)
    before = (directory / "config/prometheus/prometheus.yml").read_text()
    assert _sync_prometheus(plan, directory, PROJECT, before) == []
    _wait("the job gone", lambda: _targets(cluster_metrics.JOB) == [] or None)
    assert cluster_metrics.JOB not in (directory / "config/prometheus/prometheus.yml").read_text()


def test_the_rendered_config_with_credentials_passes_promtool(stack: dict[str, Any]) -> None:
    directory = stack["directory"]
    require("the test-bed Prometheus image", "DEVSTACK_IMAGE_PROMETHEUS" in stack["env"])
    cluster_metrics.install_credentials(directory, stack["token"], stack["ca"])
    try:
        from devstack.render.project import write_prometheus_config

        write_prometheus_config(stack["plan"], directory, PROJECT)
        out = _run(
            "docker", "run", "--rm", "-v", f"{directory / 'config/prometheus'}:/etc/prometheus:ro",
            "--entrypoint", "/bin/promtool", stack["env"]["DEVSTACK_IMAGE_PROMETHEUS"],
            "check", "config", "/etc/prometheus/prometheus.yml", check=False,
        )  # fmt: skip
        assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr
    finally:
        cluster_metrics.forget_credentials(directory)
        write_prometheus_config(stack["plan"], directory, PROJECT)
