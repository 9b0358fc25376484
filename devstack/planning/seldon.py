"""Seldon Core v1 (1.17.1, the last Apache-2.0 release) manifests for a model from the MLflow registry. Pure: no
I/O, so the manifests can be checked against Seldon's real CRD schema in tests and printed by `--dry-run`.

What gets deployed for `devstack serve NAME[:VERSION]`:
- a Secret with rclone's S3 settings for MinIO (`RCLONE_CONFIG_S3_*`), named by the graph's `envSecretRefName`:
  Seldon's storage initializer (rclone) copies `modelUri` (s3://bucket/path in MinIO) into the pod before
  the model server starts;
- a SeldonDeployment with one predictor, protocol `v2` (the Open Inference / V2 REST protocol MLServer
  speaks), implementation `MLFLOW_SERVER` (MLServer with its mlflow runtime), the model server container
  limited to the plan's memory per model server, and Prometheus scraping annotations on MLServer's metrics
  port (the operator's: 6000, /prometheus) for request metrics ("model monitoring" in the seed).
Images: Seldon publishes amd64 only; on arm64 the manifests name arm64 builds in the cluster's build registry
(`cluster_images`), which `image_builds.py` builds and pushes (see README "Seldon on k3d").
Prometheus reaches the annotated pods through the API server (cluster_metrics.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devstack.core.errors import UsageError

API_VERSION = "machinelearning.seldon.io/v1"
NAMESPACE = "seldon"  # models; the operator runs in seldon-system
OPERATOR_NAMESPACE = "seldon-system"
SECRET_NAME = "devstack-minio-rclone"
MLSERVER_HTTP_PORT = 8080  # MLServer defaults, which Seldon's v2 servers keep
# Where MLServer's Prometheus metrics are in a model pod: the v1 operator sets MLSERVER_METRICS_PORT and
# MLSERVER_METRICS_ENDPOINT itself (its FirstMetricsPortNumber, 6000, and /prometheus), over anything the manifest
# gives; seen on the operator built from its v1.16.0 module (tests/testbed/k3s/PHASE2.md)
MLSERVER_METRICS_PORT = 6000
MLSERVER_METRICS_PATH = "/prometheus"
# the user devstack's MLServer image runs as (k3d/images/mlserver/Dockerfile, USER); the operator runs model pods
# as its chart's defaultUserID (8888 unless set), over a securityContext in the manifest, and MLServer cannot write
# its home as another user
MLSERVER_UID = 1000
MANAGED_BY = "devstack"


def images_registry(project: str) -> str:
    """The k3d registry devstack pushes its own builds to, as `k3d registry create` is given it."""
    return f"{project}-builds"


def images_registry_container(project: str) -> str:
    return f"k3d-{images_registry(project)}"  # k3d prefixes the containers it creates


def builds_address(project: str, port: int) -> str:
    """Where the cluster's nodes pull devstack's builds from: the registry's container on the cluster network."""
    return f"{images_registry_container(project)}:{port}"


# Seldon Core v1's names for what devstack uses (operator/apis/machinelearning.seldon.io/v1: prepack.go,
# seldondeployment_types.go); a test reads them back from the operator's Go source.
IMPLEMENTATION = "MLFLOW_SERVER"
PROTOCOL = "v2"

# What Seldon's operator puts in MLServer's environment for an MLFLOW_SERVER graph node (controllers/mlserver.go:
# MLServerMLFlowImplementation, getMLServerEnvVars): the test bed runs MLServer with the same, natively and in
# its container, so what is verified here is what the cluster would run.
MLSERVER_RUNTIME = "mlserver_mlflow.MLflowRuntime"
MODEL_NODE = "model"  # the graph node, so the V2 model name: /v2/models/model/infer
POD_LABEL = "seldon-deployment-id"  # Label_seldon_id: on every pod of a SeldonDeployment, its name as value

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DNS1123 = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ModelRef:
    """A registered model and a version (None: the newest, resolved against the registry at serve time)."""

    name: str
    version: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name}:{self.version}"


def parse_model_ref(text: str) -> ModelRef:
    """`NAME` or `NAME:VERSION` as typed on the command line; bad input is a UsageError (one line, exit 2)."""
    name, sep, version = text.strip().partition(":")
    if not _NAME_RE.match(name):
        raise UsageError(
            f"'{text}' is not a model name: use letters, digits, '.', '_' or '-' (at most 128).",
            "name a model registered in MLflow, e.g. `devstack serve iris` or `devstack serve iris:3`.",
        )
    if not sep:
        return ModelRef(name)
    if not version.isdigit() or int(version) < 1:
        raise UsageError(
            f"'{text}': the version after ':' must be a registry version number (1, 2, ...), not '{version}'.",
            f"use `{name}:<version>` or leave the version out for the newest.",
        )
    return ModelRef(name, int(version))


def deployment_name(ref: ModelRef, version: int) -> str:
    """A DNS-1123 name for the SeldonDeployment: Seldon derives Deployment and Service names from it, which
    Kubernetes caps at 63 characters with the predictor name appended, so the model part is cut to 40."""
    base = _DNS1123.sub("-", ref.name.lower()).strip("-")[:40].strip("-") or "model"
    return f"{base}-v{version}"


def model_label(ref: ModelRef) -> str:
    """The model's name as a Kubernetes label value (what `devstack predict NAME` selects on)."""
    return _DNS1123.sub("-", ref.name.lower()).strip("-")[:63].strip("-") or "model"


def artifact_s3_uri(source: str, artifacts_bucket: str) -> str:
    """The s3:// URI of a model version's artifacts, from MLflow's download URI for it.

    MLflow serving artifacts itself (`--serve-artifacts --artifacts-destination s3://BUCKET`) hands out
    `mlflow-artifacts:/PATH` (or `mlflow-artifacts://host/PATH`); the object is `s3://BUCKET/PATH` in MinIO,
    which is what Seldon's storage initializer copies from. An s3:// source is taken as it is."""
    if source.startswith("s3://"):
        return source.rstrip("/")
    m = re.match(r"^mlflow-artifacts:(?://[^/]*)?/+(.*)$", source)
    if not m or not m.group(1):
        raise UsageError(
            f"the model's artifacts are at '{source}', which Seldon's storage initializer cannot read.",
            "log the model to the stack's MLflow (artifacts in MinIO) and register that version.",
        )
    return f"s3://{artifacts_bucket}/{m.group(1).rstrip('/')}"


def rclone_secret(*, access_key: str, secret_key: str, endpoint: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """rclone's environment configuration of a remote called `s3` (the scheme of the modelUri) for MinIO."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
        },
        "type": "Opaque",
        "stringData": {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Minio",
            "RCLONE_CONFIG_S3_ENV_AUTH": "false",
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": access_key,
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": secret_key,
            "RCLONE_CONFIG_S3_ENDPOINT": endpoint,
        },
    }


def _memory_quantity(mib: int) -> str:
    return f"{mib}Mi"


def seldon_deployment(
    ref: ModelRef,
    version: int,
    *,
    model_uri: str,
    memory_mib: int,
    server_image: str,
    initializer_image: str,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """The SeldonDeployment serving one model version with MLServer over the V2 protocol.

    Memory: request = limit, so the scheduler only places it on an agent that can hold it and the kernel
    OOM-kills it at the plan's figure rather than the node's. `seldon.io/no-engine` drops Seldon's executor
    (an amd64-only Go proxy) from a single-model graph: MLServer answers V2 REST itself. The operator reads it
    from each predictor's annotations, not the deployment's (its controller and webhook: `p.Annotations`)."""
    if memory_mib < 256:
        raise UsageError(f"{memory_mib} MiB is too little for a model server.", "plan a larger budget for seldon.")
    if not model_uri.startswith("s3://"):
        raise UsageError(f"modelUri '{model_uri}' is not an s3:// URI.", "serve a model whose artifacts are in MinIO.")
    name = deployment_name(ref, version)
    container = MODEL_NODE
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "devstack.dev/model": model_label(ref),
        "devstack.dev/model-version": str(version),
    }
    memory = _memory_quantity(memory_mib)
    return {
        "apiVersion": API_VERSION,
        "kind": "SeldonDeployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"devstack.dev/registered-model": f"{ref.name}:{version}"},
        },
        "spec": {
            "protocol": PROTOCOL,
            "predictors": [
                {
                    "name": "default",
                    "replicas": 1,
                    "labels": labels,
                    "annotations": {"seldon.io/no-engine": "true"},
                    "graph": {
                        "name": container,
                        "type": "MODEL",
                        "implementation": IMPLEMENTATION,
                        "modelUri": model_uri,
                        "envSecretRefName": SECRET_NAME,
                        "storageInitializerImage": initializer_image,
                        "children": [],
                    },
                    "componentSpecs": [
                        {
                            "metadata": {
                                "labels": labels,
                                "annotations": {
                                    "prometheus.io/scrape": "true",
                                    "prometheus.io/port": str(MLSERVER_METRICS_PORT),
                                    "prometheus.io/path": MLSERVER_METRICS_PATH,
                                },
                            },
                            "spec": {
                                "containers": [
                                    {
                                        "name": container,
                                        "image": server_image,
                                        "resources": {
                                            "requests": {"memory": memory, "cpu": "100m"},
                                            "limits": {"memory": memory},
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                }
            ],
        },
    }


def model_manifests(
    ref: ModelRef,
    version: int,
    *,
    model_uri: str,
    memory_mib: int,
    server_image: str,
    initializer_image: str,
    minio_access_key: str,
    minio_secret_key: str,
    minio_endpoint: str,
) -> list[dict[str, Any]]:
    """Everything `devstack serve` applies, in order (the Secret before the deployment that names it)."""
    return [
        rclone_secret(access_key=minio_access_key, secret_key=minio_secret_key, endpoint=minio_endpoint),
        seldon_deployment(
            ref,
            version,
            model_uri=model_uri,
            memory_mib=memory_mib,
            server_image=server_image,
            initializer_image=initializer_image,
        ),
    ]


def infer_path(ref: ModelRef, version: int, *, namespace: str = NAMESPACE) -> str:
    """The V2 inference path through the cluster's ingress (Seldon v1 routes /seldon/<ns>/<deployment>/...);
    MLServer names the model after the graph node."""
    return f"/seldon/{namespace}/{deployment_name(ref, version)}/v2/models/{MODEL_NODE}/infer"


def v2_request(data: Any) -> dict[str, Any]:
    """A V2 inference request from `--data` JSON: a full request (with "inputs") is sent as it is; a list of
    rows (or one row) of numbers becomes one FP64 tensor named `input-0`, which MLServer's mlflow runtime
    hands to the model as a 2-D array."""
    if isinstance(data, dict) and "inputs" in data:
        return data
    rows = data if isinstance(data, list) and data and isinstance(data[0], list) else [data]
    if not all(isinstance(r, list) and r and all(isinstance(x, int | float) for x in r) for r in rows):
        raise UsageError(
            '--data must be a V2 request ({"inputs": [...]}), a row of numbers or a list of rows.',
            "for example --data '[[5.1, 3.5, 1.4, 0.2]]'.",
        )
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise UsageError("--data rows differ in length.", "give every row the same number of features.")
    flat = [float(x) for r in rows for x in r]
    return {"inputs": [{"name": "input-0", "shape": [len(rows), width], "datatype": "FP64", "data": flat}]}


def mlserver_env(
    *, model_dir: str, http_port: int = 9000, grpc_port: int = 9500, metrics_port: int = MLSERVER_METRICS_PORT
) -> dict[str, str]:
    """MLServer's environment as Seldon Core v1.17's operator sets it for our graph (ports default to its
    predictiveUnit httpPort/grpcPort, 9000/9500; metrics on its own port and path)."""
    return {
        "MLSERVER_HTTP_PORT": str(http_port),
        "MLSERVER_GRPC_PORT": str(grpc_port),
        "MLSERVER_METRICS_PORT": str(metrics_port),
        "MLSERVER_METRICS_ENDPOINT": MLSERVER_METRICS_PATH,
        "MLSERVER_MODEL_IMPLEMENTATION": MLSERVER_RUNTIME,
        "MLSERVER_MODEL_NAME": MODEL_NODE,
        "MLSERVER_MODEL_VERSION": "v1",
        "MLSERVER_MODEL_URI": model_dir,
    }


def _split_ref(ref: str) -> tuple[str, str, str]:
    """registry, repository, tag of an image reference (Docker Hub when the first part is no host)."""
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    return "docker.io", name, tag


def operator_values(
    *, operator_image: str, executor_image: str, initializer_image: str, mlserver_image: str
) -> dict[str, Any]:
    """Helm values for Seldon's seldon-core-operator 1.17.1 chart: devstack's images (arm64 builds from the
    cluster's registry on Apple Silicon), small control-plane limits for a laptop, no Istio/Ambassador/KEDA
    (models are reached through the API server's service proxy), no usage metrics sent to Seldon."""
    op_reg, op_repo, op_tag = _split_ref(operator_image)
    ex_reg, ex_repo, ex_tag = _split_ref(executor_image)
    ml_reg, ml_repo, ml_tag = _split_ref(mlserver_image)
    ml_image = ml_repo if ml_reg == "docker.io" else f"{ml_reg}/{ml_repo}"
    return {
        "image": {"registry": op_reg, "repository": op_repo, "tag": op_tag},
        "manager": {"cpuRequest": "50m", "memoryRequest": "128Mi", "memoryLimit": "300Mi"},
        "executor": {
            "image": {"registry": ex_reg, "repository": ex_repo, "tag": ex_tag},
            "resources": {"cpuRequest": "50m", "memoryRequest": "128Mi", "memoryLimit": "256Mi", "cpuLimit": "500m"},
        },
        "storageInitializer": {
            "image": initializer_image,
            "memoryRequest": "64Mi",
            "memoryLimit": "256Mi",
        },
        "predictor_servers": {
            IMPLEMENTATION: {"protocols": {PROTOCOL: {"image": ml_image, "defaultImageVersion": ml_tag}}}
        },
        "defaultUserID": str(MLSERVER_UID),  # the model pods' user: MLServer's image's own
        "usageMetrics": {"enabled": False},
        "ambassador": {"enabled": False},
        "istio": {"enabled": False},
        "keda": {"enabled": False},
        "certManager": {"enabled": False},
    }


def predict_raw_path(deployment: str, *, namespace: str = NAMESPACE) -> str:
    """`kubectl create --raw` path to a model's V2 infer endpoint through the API server's service proxy (no
    ingress controller needed): the predictor's Service is `<deployment>-default`, port `http`."""
    return f"/api/v1/namespaces/{namespace}/services/{deployment}-default:http/proxy/v2/models/{MODEL_NODE}/infer"


def cluster_images(
    images: dict[str, str], platforms: dict[str, tuple[str, ...]], arch: str, registry: str
) -> dict[str, str]:
    """The image each Seldon part runs in the cluster: upstream where it publishes the host's architecture, else
    devstack's own build of it in the cluster's build registry (`registry`, e.g. k3d-devstack-builds:5501)."""
    out = {}
    for key, ref in images.items():
        if f"linux/{arch}" in platforms.get(key, ("linux/amd64", "linux/arm64")):
            out[key] = ref
        else:
            out[key] = devstack_ref(ref, registry)
    return out


def devstack_ref(ref: str, registry: str = "") -> str:
    """The name of devstack's own build of the image `ref` (seldonio/mlserver:1.7.1 -> devstack/mlserver:1.7.1), in
    `registry` when one is given (the cluster's build registry), else as the local engine keeps it (the demo's)."""
    name = f"devstack/{ref.rsplit('/', 1)[-1]}"
    return f"{registry}/{name}" if registry else name


def to_yaml(manifests: list[dict[str, Any]]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(m, sort_keys=False) for m in manifests)
