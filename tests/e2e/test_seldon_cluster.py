"""Seldon on a real Kubernetes (issue 16): devstack's own `up` with seldon in the plan creates the k3d cluster on
the test bed's k3s stand-in (real kube-apiserver, kubelet, containerd: tests/testbed/k3s/STANDIN.md), the real k3d
v5.9.0 drives it, Helm installs Seldon's operator (built from its Go module) from the test bed's chart repository,
`serve` turns a model registered in the stack's MLflow into a SeldonDeployment whose pod the storage initializer
fills from MinIO, `predict` answers over V2, the stack's Prometheus scrapes the pod through the cluster's API server
with the RBAC devstack applied, and `down` removes everything. The nodes' memory is read back and matches the plan.
The model served is the one the reference pipeline's Airflow DAG trained and registered (`devstack demo` on the same
stack: ticks -> Kafka -> Spark -> ClickHouse -> the DAG -> MLflow), and the cluster answers as the demo's own
model server does for the same rows.

What a user's machine does differently, set here as a user would: the chart comes from a mirror
(`DEVSTACK_SELDON_CHART_REPO`, Seldon's repository is not reachable here), the Seldon images the nodes would pull
are in the local engine and `up` loads them with `k3d image import`, and MLServer's recipe is built on a stand-in
base (`up --build-arg`). The stand-ins take long to build cold (tests/testbed/k3s/cluster_testbed.sh): setup.sh
starts that build in the background, this module runs last and waits for it."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import pipeline
from devstack.demo import NEEDS
from devstack.demo.scorer import v2_request
from devstack.planning import seldon
from devstack.render import cluster_metrics
from devstack.runtime import k3d
from tests.conftest import REPO, run_cli, up_failed
from tests.recipe_standins import CA_BUNDLE, mlserver_build_args, standin
from tests.seldon_testbed import MLSERVER_VENV, require_tool
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-k3d"
PROJECT = f"devstack-{STACK}"
# the reference pipeline (what `devstack demo` needs), Prometheus, and Seldon to serve the DAG's model
SERVICES = ",".join((*NEEDS, "prometheus", "seldon"))
BUDGET = "20g"
SHIFT = 29100  # every published port moved; tests/unit/test_e2e_ports.py checks no other module's stack has one
MODEL_SERVER_PORT = 18080 + SHIFT  # the demo's own MLServer, in Compose
IMAGES = ["KAFKA", "SPARK", "CLICKHOUSE", "JUPYTER", "POSTGRES", "MINIO", "MLFLOW", "AIRFLOW", "REDIS", "PROMETHEUS"]
IMAGES += ["KAFKA_EXPORTER", "REDIS_EXPORTER"]
PROM = f"http://127.0.0.1:{9090 + SHIFT}"
BUILD_DEADLINE_S = 75 * 60  # a cold build on two shared cores, started by setup.sh before the suite
REGISTER = """
import sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from mlflow.models import infer_signature
x, y = load_iris(return_X_y=True)
m = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run():
    mlflow.sklearn.log_model(m, name="model", registered_model_name="iris",
                             signature=infer_signature(x, m.predict(x)), serialization_format="cloudpickle")
"""


def _run(*argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{' '.join(argv)}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def chart_repo() -> Iterator[str]:
    """The stand-ins built (or the background build of setup.sh waited for), and the Seldon chart repository
    served over HTTP on a free port, as a mirror of Seldon's would be."""
    for tool in ("k3d", "kubectl", "helm"):
        require_tool(tool)
    script = REPO / "tests" / "testbed" / "k3s" / "cluster_testbed.sh"
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=BUILD_DEADLINE_S)
    assert r.returncode == 0, f"cluster_testbed.sh failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("chart_repo="), r.stdout[-2000:]
    directory = Path(last.split("=", 1)[1])
    assert (directory / "index.yaml").is_file(), directory
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, chart_repo: str) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        [*IMAGES, "REGISTRY"],
    )
    e.pop("DEVSTACK_IMAGE_MLSERVER", None)  # devstack's own MLServer build, as a user's (tests/recipe_standins.py)
    e["DEVSTACK_MODEL_SERVER_PORT"] = str(MODEL_SERVER_PORT)
    e[k3d.CHART_REPO_VARIABLE] = chart_repo
    yield e
    run_cli("demo", "--stack", STACK, "--stop", env=e)
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e, timeout=600)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict[str, Any]:
    # the storage initializer the nodes would pull from Docker Hub: Seldon's image is rclone's with `rclone copy`
    # as its entrypoint, which devstack's recipe for arm64 is too; built on the test bed's rclone, under
    # Seldon's name, in the local engine, where `up` finds it and imports it into the nodes
    _run(
        "docker",
        "build",
        "-q",
        "-t",
        "seldonio/rclone-storage-initializer:1.17.1",
        "--build-arg",
        f"BASE={standin('rclone')}",
        str(REPO / "k3d" / "images" / "storage-initializer"),
        timeout=600,
    )
    r = run_cli(
        "up",
        "--services",
        SERVICES,
        "--budget",
        BUDGET,
        "--stack",
        STACK,
        "--config",
        config_path(env),
        "--build-arg",
        f"mlserver:BASE={standin('python')}",
        "--build-arg",
        f"mlserver:PIP_CERT={CA_BUNDLE}",
        "--json",
        env=env,
        timeout=1800,
    )
    assert r.returncode == 0, up_failed(r)
    return dict(json.loads(r.stdout))


@pytest.fixture(scope="module")
def demo(up: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The reference pipeline on this stack: the DAG trains and registers pattern-pursuit, which the demo also
    serves with its own MLServer in Compose (what the cluster's answers are compared with)."""
    r = run_cli("demo", "--stack", STACK, "--ticks", "4000", "--json", *mlserver_build_args(), env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    counts = dict(json.loads(r.stdout))
    assert counts["dag_run"] == "success" and counts["model_version"] >= 1, counts
    return counts


def _kubectl(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    kubeconfig = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / k3d.KUBECONFIG
    return _run("kubectl", "--kubeconfig", str(kubeconfig), *args, timeout=timeout).stdout


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def test_up_creates_the_cluster_within_the_plan_and_installs_seldon(up: dict[str, Any], env: dict[str, str]) -> None:
    # up's probes are the Compose services'; the cluster's part of up (nodes Ready, Helm's --wait) failing is a
    # failure of seldon's, and a plan whose cluster is not run lists it as skipped
    assert up["ok"] and up["failures"] == [] and "seldon" not in up["skipped"], up
    # the nodes, Ready, each with the memory the plan gave it: Docker's limit on the node's container, and the
    # capacity the kubelet reports from k3d's /proc/meminfo (limit / 1000 kB)
    plan = json.loads(
        run_cli(
            "plan", "--services", SERVICES, "--budget", BUDGET, "--config", config_path(env), "--json", env=env
        ).stdout
    )
    planned = next(s for s in plan["services"] if s["name"] == "seldon")["containers"]
    nodes = json.loads(_kubectl(env, "get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == len(planned) == 3, [n["metadata"]["name"] for n in nodes]
    for node in nodes:
        name = node["metadata"]["name"]  # k3d-devstack-e2e-k3d-server-0
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True", name
        limit = int(_run("docker", "inspect", "-f", "{{.HostConfig.Memory}}", name).stdout)
        assert limit == planned[name.replace(f"{PROJECT}-", "")] * 1024 * 1024, (name, limit, planned)
        assert node["status"]["capacity"]["memory"] == f"{limit // 1000}Ki", (name, node["status"]["capacity"])
    assert sum(planned.values()) <= next(s for s in plan["services"] if s["name"] == "seldon")["limit_mib"]
    # Seldon's operator, from the chart mirror, running the image `up` imported into the nodes
    deploy = json.loads(_kubectl(env, "get", "deployment", "-n", "seldon-system", "-o", "json"))["items"]
    (operator,) = [d for d in deploy if d["metadata"]["name"] == "seldon-controller-manager"]
    assert operator["status"].get("availableReplicas") == 1, operator["status"]
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "seldonio/seldon-core-operator:1.17.1"
    )
    for node in nodes:
        held = k3d.node_images(node["metadata"]["name"])
        assert k3d.containerd_ref("seldonio/seldon-core-operator:1.17.1") in held, sorted(held)
    # status reports the cluster as devstack's and running
    st = json.loads(run_cli("status", "--stack", STACK, "--json", env=env).stdout)
    entry = next(s for s in st["services"] if s["name"] == "seldon")
    assert entry["healthy"] and "servers 1/1, agents 2/2" in entry["detail"], entry
    # and its memory: the nodes' containers, each with the plan's limit and what it uses now
    nodes_seen = {c["name"]: c for c in entry["containers"]}
    assert {n: c["limit_mib"] for n, c in nodes_seen.items()} == planned, entry["containers"]
    assert all(c["used_mib"] > 0 and c["state"] == "running" for c in nodes_seen.values()), entry["containers"]
    assert 0 < entry["used_mib"] <= entry["limit_mib"], entry


def test_serve_and_predict_the_dags_model_on_the_cluster(demo: dict[str, Any], env: dict[str, str]) -> None:
    # the newest version of pattern-pursuit, which the DAG just registered; its artifacts are in the stack's MinIO
    t0 = time.monotonic()
    r = run_cli("serve", pipeline.MODEL_NAME, "--stack", STACK, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"serve: {time.monotonic() - t0:.0f} s")
    version = demo["model_version"]
    # one container in the model pod (no executor: seldon.io/no-engine on the predictor), filled by the storage
    # initializer from MinIO, running as MLServer's image's user
    pods = json.loads(_kubectl(env, "get", "pods", "-n", seldon.NAMESPACE, "-o", "json"))["items"]
    # found as serve's wait finds them: by the label the operator puts on a SeldonDeployment's pods
    deployment = f"{pipeline.MODEL_NAME}-v{version}"
    (pod,) = [p for p in pods if p["metadata"].get("labels", {}).get(seldon.POD_LABEL) == deployment]
    spec = pod["spec"]
    assert [c["name"] for c in spec["containers"]] == [seldon.MODEL_NODE], spec["containers"]
    assert [c["image"] for c in spec.get("initContainers", [])] == ["seldonio/rclone-storage-initializer:1.17.1"]
    assert spec["securityContext"]["runAsUser"] == seldon.MLSERVER_UID
    # the cluster answers as the demo's own MLServer does, for the same rows of features
    rows = [
        {"ret": 0.002, "volatility": 0.01, "vwap_gap": 0.001, "ticks": 40},
        {"ret": -0.004, "volatility": 0.03, "vwap_gap": -0.002, "ticks": 12},
    ]
    request = json.dumps(v2_request(rows))
    r = run_cli("predict", f"{pipeline.MODEL_NAME}:{version}", "--stack", STACK, "--data", request, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    on_cluster = json.loads(r.stdout)
    local = f"http://127.0.0.1:{MODEL_SERVER_PORT}"
    r = run_cli("predict", pipeline.MODEL_NAME, "--url", local, "--stack", STACK, "--data", request, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    in_compose = json.loads(r.stdout)
    assert len(on_cluster["outputs"][0]["data"]) == len(rows), on_cluster
    assert on_cluster["outputs"][0]["data"] == in_compose["outputs"][0]["data"], (on_cluster, in_compose)


def test_prometheus_scrapes_the_model_through_the_api_server(up: dict[str, Any], env: dict[str, str]) -> None:
    # after serve/predict above (same module, in order): the pod exists and has answered once
    deadline, up_targets, targets = time.monotonic() + 180, list[dict[str, Any]](), list[dict[str, Any]]()
    while time.monotonic() < deadline:
        targets = _get(f"{PROM}/api/v1/targets?state=active")["data"]["activeTargets"]
        up_targets = [t for t in targets if t["labels"].get("job") == cluster_metrics.JOB and t["health"] == "up"]
        if up_targets:
            break
        time.sleep(5)
    assert up_targets, [(t["labels"], t["health"], t.get("lastError")) for t in targets]
    (target,) = up_targets
    # through the API server's pod proxy, at the port and path the operator gives MLServer's metrics
    assert target["scrapeUrl"].startswith(f"https://k3d-{PROJECT}-server-0:6443/api/v1/namespaces/"), target
    assert target["scrapeUrl"].endswith(f":{seldon.MLSERVER_METRICS_PORT}/proxy{seldon.MLSERVER_METRICS_PATH}")
    q = urllib.parse.urlencode({"query": f'model_infer_request_success_total{{job="{cluster_metrics.JOB}"}}'})
    deadline, served = time.monotonic() + 120, list[dict[str, Any]]()
    while time.monotonic() < deadline and not served:
        served = [r for r in _get(f"{PROM}/api/v1/query?{q}")["data"]["result"] if float(r["value"][1]) >= 1]
        time.sleep(5)
    assert served and served[0]["metric"].get("model") == pipeline.MODEL_NAME, served


def test_serve_stops_at_once_on_an_image_the_nodes_cannot_pull(up: dict[str, Any], env: dict[str, str]) -> None:
    # the storage initializer gone from the nodes, and no registry to pull it from (as on an offline laptop):
    # serve names the pod, the container and the reason within seconds, not after its 600 s wait
    init = "seldonio/rclone-storage-initializer:1.17.1"
    for node in json.loads(_kubectl(env, "get", "nodes", "-o", "json"))["items"]:
        name = node["metadata"]["name"]
        _run("docker", "exec", name, "ctr", "-n", "k8s.io", "images", "rm", k3d.containerd_ref(init))
    exports = json.loads(run_cli("env", "--stack", STACK, "--format", "json", env=env).stdout)
    _run(str(MLSERVER_VENV / "bin" / "python"), "-c", REGISTER, exports["MLFLOW_TRACKING_URI"], timeout=300)
    t0 = time.monotonic()
    r = run_cli("serve", "iris", "--stack", STACK, env=env, timeout=900)
    took = time.monotonic() - t0
    assert r.returncode == 3, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "cannot start: pod iris-v1-" in line and f"({init})" in line, line
    assert ("ImagePullBackOff" in line or "ErrImagePull" in line) and "Fix:" in line and "describe pods" in line
    assert took < 300, took


def test_down_removes_the_cluster_and_its_registries(up: dict[str, Any], env: dict[str, str]) -> None:
    r = run_cli("down", "--stack", STACK, "--volumes", "--yes", env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    clusters = json.loads(_run("k3d", "cluster", "list", "-o", "json").stdout or "[]")
    registries = json.loads(_run("k3d", "registry", "list", "-o", "json").stdout or "[]")
    assert PROJECT not in [c["name"] for c in clusters]
    assert not [g["name"] for g in registries if PROJECT in g["name"]], registries
    left = _run("docker", "ps", "-a", "--filter", f"name={PROJECT}", "--format", "{{.Names}}").stdout.split()
    networks = _run("docker", "network", "ls", "--filter", f"name={PROJECT}", "--format", "{{.Name}}").stdout.split()
    volumes = _run("docker", "volume", "ls", "--filter", f"name={PROJECT}", "--format", "{{.Name}}").stdout.split()
    assert left == [] and networks == [] and volumes == [], (left, networks, volumes)
