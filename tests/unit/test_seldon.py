"""devstack's Seldon manifests against Seldon Core's own definitions: the SeldonDeployment CRD's openAPIV3Schema
and the operator's Go constants, both from the seldon-core operator Go module (tests/testbed/tools.sh; the CRD is
byte-identical to v1.17.1's). Plus the pure parts: model references, artifact URIs, V2 requests."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from devstack.core.errors import UsageError
from devstack.planning import seldon
from tests.seldon_testbed import CRD_DIR, SELDON_CRD, require

IRIS = seldon.ModelRef("iris")


def _sdep(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model_uri": "s3://mlflow-artifacts/1/models/m-abc/artifacts",
        "memory_mib": 2048,
        "server_image": "seldonio/mlserver:1.7.1",
        "initializer_image": "seldonio/rclone-storage-initializer:1.17.1",
    }
    args.update(kw)
    return seldon.seldon_deployment(IRIS, 3, **args)


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    require("Seldon's SeldonDeployment CRD", SELDON_CRD.exists())
    return yaml.safe_load(SELDON_CRD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def v1_schema(crd: dict[str, Any]) -> dict[str, Any]:
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert v1["served"] and v1["storage"]
    return v1["schema"]["openAPIV3Schema"]


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the CRD does not declare: the API server prunes them, and kubectl's default field validation
    (strict, server-side) refuses them. JSON Schema alone accepts them (structural schemas do not forbid
    additional properties), so this walks the schema the way the API server does."""
    out: list[str] = []
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema:
            sub = schema.get("additionalProperties")
            if isinstance(sub, dict):
                for k, v in obj.items():
                    out += unknown_fields(v, sub, f"{path}.{k}")
            return out
        props = schema.get("properties")
        if props is None:
            return out
        for k, v in obj.items():
            if k not in props:
                out.append(f"{path}.{k}")
            else:
                out += unknown_fields(v, props[k], f"{path}.{k}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(obj):
            out += unknown_fields(v, schema["items"], f"{path}[{i}]")
    return out


def validate(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    import jsonschema

    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(body)
    ]
    return errors + [f"unknown field {f}" for f in unknown_fields(body, schema)]


def test_the_crd_is_seldon_core_v1_machinelearning(crd: dict[str, Any]) -> None:
    assert crd["spec"]["group"] == "machinelearning.seldon.io"
    assert crd["spec"]["names"]["kind"] == "SeldonDeployment"
    assert f"{crd['spec']['group']}/v1" == seldon.API_VERSION


def test_the_generated_seldon_deployment_validates_against_the_real_crd(v1_schema: dict[str, Any]) -> None:
    sdep = _sdep()
    assert validate(sdep, v1_schema) == []


@pytest.mark.parametrize(
    ("break_it", "expect"),
    [
        (lambda m: m["spec"]["predictors"][0].__setitem__("replicas", "one"), "replicas"),
        (lambda m: m["spec"]["predictors"][0]["graph"].pop("name"), "'name' is a required property"),
        (lambda m: m["spec"]["predictors"][0]["graph"].__setitem__("modelURI", "s3://x"), "unknown field"),
        (lambda m: m["spec"]["predictors"][0].pop("graph"), "'graph' is a required property"),
    ],
)
def test_the_validation_catches_what_the_api_server_would_refuse(
    v1_schema: dict[str, Any], break_it: Any, expect: str
) -> None:
    sdep = copy.deepcopy(_sdep())
    break_it(sdep)
    errors = validate(sdep, v1_schema)
    assert any(expect in e for e in errors), errors


def test_the_model_server_is_limited_to_the_plan_and_scraped_by_prometheus() -> None:
    pred = _sdep(memory_mib=1536)["spec"]["predictors"][0]
    (comp,) = pred["componentSpecs"]
    (container,) = comp["spec"]["containers"]
    assert container["name"] == pred["graph"]["name"] == seldon.MODEL_NODE  # merged with the graph node
    assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"] == "1536Mi"
    ann = comp["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(seldon.MLSERVER_METRICS_PORT)
    # where the operator puts MLServer's metrics (it sets both over the manifest's): the annotations agree
    metrics_env = seldon.mlserver_env(model_dir="/mnt/models")
    assert ann["prometheus.io/port"] == metrics_env["MLSERVER_METRICS_PORT"] == "6000"
    assert ann["prometheus.io/path"] == metrics_env["MLSERVER_METRICS_ENDPOINT"] == "/prometheus"
    assert not any(e["name"].startswith("MLSERVER_METRICS") for e in container.get("env", []))
    assert pred["graph"]["envSecretRefName"] == seldon.SECRET_NAME


def test_names_match_the_operators_go_source() -> None:
    """MLFLOW_SERVER, protocol v2, the no-engine annotation and MLServer's runtime and environment, as the
    v1.17 operator spells them (apis/.../prepack.go, seldondeployment_types.go, controllers/mlserver.go)."""
    require("Seldon's operator sources", (CRD_DIR / "mlserver.go").exists())
    go = "".join(p.read_text(encoding="utf-8") for p in sorted(CRD_DIR.glob("*.go")))
    assert re.search(r'PrepackMLFlowName\s*=\s*"' + seldon.IMPLEMENTATION + '"', go)
    assert re.search(r'ProtocolV2\s+Protocol\s*=\s*"' + seldon.PROTOCOL + '"', go)
    assert re.search(r'ANNOTATION_NO_ENGINE\s*=\s*"seldon.io/no-engine"', go)
    assert re.search(r'Label_seldon_id\s*=\s*"' + seldon.POD_LABEL + '"', go)  # serve's wait finds pods by it
    assert re.search(r'MLServerMLFlowImplementation\s*=\s*"' + re.escape(seldon.MLSERVER_RUNTIME) + '"', go)
    for env in seldon.mlserver_env(model_dir="/mnt/models"):
        assert f'"{env}"' in go, env  # every variable devstack emulates is one the operator sets
    # the operator reads no-engine from each predictor (controller and webhook: p.Annotations), not the spec
    (pred,) = _sdep()["spec"]["predictors"]
    assert pred["annotations"] == {"seldon.io/no-engine": "true"} and "annotations" not in _sdep()["spec"]


def test_the_operator_runs_model_pods_as_the_mlserver_images_own_user() -> None:
    """The operator runs model pods as its chart's defaultUserID over any securityContext; devstack sets it to the
    user devstack's MLServer image runs as, which owns the image's home (MLServer writes its metrics dir there)."""
    from devstack.core.resources import k3d_dir

    dockerfile = (k3d_dir() / "images" / "mlserver" / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^USER (\S+)$", dockerfile, re.M) == [str(seldon.MLSERVER_UID)]
    assert f"--uid {seldon.MLSERVER_UID} " in dockerfile
    values = seldon.operator_values(
        operator_image="docker.io/seldonio/seldon-core-operator:1.17.1",
        executor_image="docker.io/seldonio/seldon-core-executor:1.17.1",
        initializer_image="seldonio/rclone-storage-initializer:1.17.1",
        mlserver_image="seldonio/mlserver:1.7.1",
    )
    assert values["defaultUserID"] == str(seldon.MLSERVER_UID)


def test_the_rclone_secret_names_a_remote_matching_the_uri_scheme() -> None:
    secret = seldon.rclone_secret(access_key="devstack", secret_key="pw", endpoint="http://minio:9000")
    env = secret["stringData"]
    scheme = "s3"  # modelUri s3://bucket/path: rclone's remote "s3" is configured by RCLONE_CONFIG_S3_*
    assert all(k.startswith(f"RCLONE_CONFIG_{scheme.upper()}_") for k in env)
    assert env["RCLONE_CONFIG_S3_PROVIDER"] == "Minio" and env["RCLONE_CONFIG_S3_ENDPOINT"] == "http://minio:9000"
    assert secret["metadata"]["name"] == seldon.SECRET_NAME


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("iris", seldon.ModelRef("iris")),
        ("iris:3", seldon.ModelRef("iris", 3)),
        ("a.b_c-1:12", seldon.ModelRef("a.b_c-1", 12)),
    ],
)
def test_model_refs(text: str, ref: seldon.ModelRef) -> None:
    assert seldon.parse_model_ref(text) == ref


@pytest.mark.parametrize("text", ["", ":3", "iris:", "iris:0", "iris:v2", "iris:-1", "my model", "x" * 129])
def test_bad_model_refs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as e:
        seldon.parse_model_ref(text)
    assert "\n" not in e.value.one_line()


def test_deployment_names_are_dns_labels_that_leave_room_for_seldons_suffixes() -> None:
    name = seldon.deployment_name(seldon.ModelRef("My_Very.Long-Model-Name-" + "x" * 80), 123)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 45


@pytest.mark.parametrize(
    ("source", "uri"),
    [
        ("mlflow-artifacts:/1/models/m-abc/artifacts", "s3://mlflow-artifacts/1/models/m-abc/artifacts"),
        ("mlflow-artifacts://mlflow:5000/1/abc/artifacts/model/", "s3://mlflow-artifacts/1/abc/artifacts/model"),
        ("s3://other/x/", "s3://other/x"),
    ],
)
def test_artifact_uris_become_minio_s3_uris(source: str, uri: str) -> None:
    assert seldon.artifact_s3_uri(source, "mlflow-artifacts") == uri


@pytest.mark.parametrize("source", ["file:///tmp/mlruns/1/x", "runs:/abc/model", "mlflow-artifacts:/"])
def test_artifacts_outside_minio_are_refused(source: str) -> None:
    with pytest.raises(UsageError):
        seldon.artifact_s3_uri(source, "mlflow-artifacts")


def test_v2_requests_from_rows() -> None:
    req = seldon.v2_request([[1, 2.5], [3, 4]])
    assert req == {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.5, 3.0, 4.0]}]}
    assert seldon.v2_request([1, 2])["inputs"][0]["shape"] == [1, 2]
    full = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}
    assert seldon.v2_request(full) is full


@pytest.mark.parametrize("data", [[], [[1, 2], [3]], [["a"]], "text", [[True, "x"]], {"rows": []}])
def test_bad_v2_data_is_a_usage_error(data: Any) -> None:
    with pytest.raises(UsageError):
        seldon.v2_request(data)


def test_operator_values_point_the_chart_at_devstacks_images() -> None:
    v = seldon.operator_values(
        operator_image="k3d-devstack-builds:5501/devstack/seldon-core-operator:1.17.1",
        executor_image="seldonio/seldon-core-executor:1.17.1",
        initializer_image="k3d-devstack-builds:5501/devstack/rclone-storage-initializer:1.17.1",
        mlserver_image="k3d-devstack-builds:5501/devstack/mlserver:1.7.1",
    )
    assert v["image"] == {
        "registry": "k3d-devstack-builds:5501",
        "repository": "devstack/seldon-core-operator",
        "tag": "1.17.1",
    }
    assert v["executor"]["image"]["registry"] == "docker.io"
    assert v["predictor_servers"]["MLFLOW_SERVER"]["protocols"]["v2"] == {
        "image": "k3d-devstack-builds:5501/devstack/mlserver",
        "defaultImageVersion": "1.7.1",
    }
    assert v["usageMetrics"]["enabled"] is False


def test_cluster_images_use_devstacks_builds_only_where_upstream_has_no_build_for_the_host() -> None:
    images = {"k3s": "rancher/k3s:v1.33.5-k3s1", "mlserver": "seldonio/mlserver:1.7.1"}
    platforms = {"k3s": ("linux/amd64", "linux/arm64"), "mlserver": ("linux/amd64",)}
    arm = seldon.cluster_images(images, platforms, "arm64", "k3d-x-builds:5501")
    assert arm == {"k3s": "rancher/k3s:v1.33.5-k3s1", "mlserver": "k3d-x-builds:5501/devstack/mlserver:1.7.1"}
    assert seldon.cluster_images(images, platforms, "amd64", "k3d-x-builds:5501") == images


def _pod(*, init: dict[str, object] | None = None, main: dict[str, object] | None = None) -> dict[str, object]:
    status: dict[str, object] = {}
    if init is not None:
        status["initContainerStatuses"] = [{"name": "model-initializer", "image": "init:1", **init}]
    if main is not None:
        status["containerStatuses"] = [{"name": "model", "image": "mlserver:1", **main}]
    return {"metadata": {"name": "iris-v1-default-0-model-abc"}, "status": status}


@pytest.mark.parametrize(
    "pod, said",
    [
        (_pod(init={"state": {"running": {}}}), None),
        (_pod(init={"state": {"waiting": {"reason": "PodInitializing"}}}), None),
        (_pod(main={"state": {"waiting": {"reason": "ContainerCreating"}}}), None),
        # one crash is not a loop yet (MLServer may start before MinIO answers)
        (_pod(main={"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 1}), None),
        (
            _pod(init={"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}),
            "pod iris-v1-default-0-model-abc: container model-initializer (init:1) is in ImagePullBackOff; "
            "Back-off pulling image",
        ),
        (
            _pod(main={"state": {"waiting": {"reason": "ErrImagePull"}}}),
            "pod iris-v1-default-0-model-abc: container model (mlserver:1) is in ErrImagePull",
        ),
        (
            _pod(
                main={
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                    "restartCount": 3,
                    "lastState": {"terminated": {"exitCode": 1, "message": "PermissionError: .metrics\n"}},
                }
            ),
            "pod iris-v1-default-0-model-abc: container model (mlserver:1) is in CrashLoopBackOff, 3 restarts, "
            "last exit 1; back-off 40s",
        ),
    ],
)
def test_serve_names_a_pod_that_cannot_start(pod: dict[str, object], said: str | None) -> None:
    from devstack.lifecycle.serving import pod_problem

    assert pod_problem([pod]) == said
    assert pod_problem([]) is None


def test_predict_at_a_url_asks_the_model_by_its_name_then_by_seldons_node_name() -> None:
    """A V2 server run by hand names its model (the demo's: pattern-pursuit); one run as Seldon runs it answers to
    the graph node's name. A real HTTP server on a free port answers as MLServer does (404 for a name it lacks)."""
    import http.server
    import json
    import threading
    from typing import ClassVar

    from devstack.lifecycle.serving import v2_infer

    served: list[str] = []

    class V2(http.server.BaseHTTPRequestHandler):
        names: ClassVar[set[str]] = {"pattern-pursuit"}

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            name = self.path.split("/")[3]
            served.append(name)
            ok = name in self.names
            body = json.dumps({"outputs": [{"data": [1]}]} if ok else {"error": f"Model {name} not found"})
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), V2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        request = seldon.v2_request([[1.0]])
        assert v2_infer(url, request, "pattern-pursuit")["outputs"][0]["data"] == [1]
        assert served == ["pattern-pursuit"]
        V2.names = {seldon.MODEL_NODE}
        served.clear()
        assert v2_infer(url, request, "iris")["outputs"][0]["data"] == [1]
        assert served == ["iris", seldon.MODEL_NODE]
        V2.names = set()
        with pytest.raises(UsageError) as e:
            v2_infer(url, request, "iris")
        assert "Model model not found" in e.value.one_line()
    finally:
        server.shutdown()
