"""`devstack serve` and `devstack predict`: a model from MLflow's registry onto Seldon in the stack's k3d cluster,
and V2 requests to it. The manifests come from `seldon.py` (pure); this module does the I/O around them: MLflow's
REST API (standard library HTTP), kubectl through the cluster's kubeconfig, MLServer's V2 endpoint.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.core.errors import EnvironmentProblem
from devstack.runtime.k3d import (
    CONFIG,
    KUBECONFIG,
    ClusterMissing,
    check_existing,
    check_tools,
    config_hash,
    kubectl,
)


def _http_json(method: str, url: str, body: Any = None, timeout: float = 30) -> Any:
    """One JSON request with the standard library (MLflow's REST API, MLServer's V2 endpoint)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message") or json.loads(detail).get("error") or detail
        raise HttpError(e.code, str(detail).strip()[:300]) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EnvironmentProblem(f"{url.split('/api/')[0].split('/v2/')[0]} did not answer: {reason}.", "") from None


class HttpError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"HTTP {code}: {detail}")
        self.code = code
        self.detail = detail


def resolve_model(mlflow_url: str, ref: Any) -> tuple[int, str]:
    """(version, artifact download URI) of a registered model version, from MLflow's REST API; the newest
    version when none is given."""
    from urllib.parse import quote

    from devstack.core.errors import UsageError

    base = mlflow_url.rstrip("/")
    try:
        if ref.version is None:
            found = _http_json(
                "GET", f"{base}/api/2.0/mlflow/model-versions/search?filter=" + quote(f"name='{ref.name}'")
            )
            versions = [int(v["version"]) for v in (found or {}).get("model_versions", [])]
            if not versions:
                raise UsageError(
                    f"MLflow's registry at {base} has no model named '{ref.name}'.",
                    "register one (mlflow.sklearn.log_model(..., registered_model_name=NAME)) or check the name.",
                )
            version = max(versions)
        else:
            version = ref.version
        got = _http_json(
            "GET",
            f"{base}/api/2.0/mlflow/model-versions/get-download-uri?name={quote(ref.name)}&version={version}",
        )
    except HttpError as e:
        raise UsageError(
            f"MLflow's registry at {base} has no version {version} of '{ref.name}' ({e.detail}).",
            f"list the versions in MLflow's UI, or serve `{ref.name}` for the newest.",
        ) from None
    except EnvironmentProblem as e:
        raise EnvironmentProblem(e.cause, "start the stack (`devstack up`) or pass --mlflow URL.") from None
    return version, str(got["artifact_uri"])


def v2_infer(url: str, request: dict[str, Any], model: str = "") -> Any:
    """POST a V2 request to an MLServer (or any V2 server) at `url` and return its JSON answer. The model is asked
    by its own name first (a server run by hand names it: the demo's answers as pattern-pursuit), then by Seldon's
    graph node name, which every server devstack's SeldonDeployments and the test bed run answers to."""
    from devstack.core.errors import UsageError
    from devstack.planning.seldon import MODEL_NODE

    names = [n for n in dict.fromkeys((model, MODEL_NODE)) if n]
    for name in names:
        try:
            return _http_json("POST", f"{url.rstrip('/')}/v2/models/{name}/infer", request)
        except HttpError as e:
            if e.code == 404 and name != names[-1]:
                continue  # the server has no model of that name: ask the next one
            raise UsageError(
                f"the model server refused the request: {e.detail}", "check --data against the model."
            ) from None
    raise AssertionError("unreachable: the last name raises")


def apply_manifests(directory: Path, name: str, text: str) -> Path:
    """Write the manifests (0600: the Secret holds MinIO's password) and `kubectl apply` them."""
    path = directory / "k3d" / "models" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    kubectl(directory, "apply", "-f", str(path), timeout=120)
    return path


# A pod in one of these will not start by waiting: say so at once instead of at the end of the wait
NEVER_STARTS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")
CRASH_LOOPS = 3  # restarts before a CrashLoopBackOff counts as one: MLServer may die once while MinIO starts


def pod_problem(pods: list[dict[str, Any]]) -> str | None:
    """Why a model's pod cannot start, from `kubectl get pods -o json` items, or None while it still may: a
    container (the storage initializer included) whose image the nodes cannot pull or whose config is broken, or
    one that keeps crashing. Pure."""
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        status = pod.get("status") or {}
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason", ""))
            looping = reason == "CrashLoopBackOff" and int(cs.get("restartCount", 0)) >= CRASH_LOOPS
            if reason not in NEVER_STARTS and not looping:
                continue
            last = (cs.get("lastState") or {}).get("terminated") or {}
            said = str(waiting.get("message") or last.get("message") or "").strip().splitlines()
            detail = f"; {said[-1][:300]}" if said else ""
            if looping:
                detail = f", {cs.get('restartCount')} restarts, last exit {last.get('exitCode', '?')}{detail}"
            return f"pod {name}: container {cs.get('name')} ({cs.get('image')}) is in {reason}{detail}"
    return None


def wait_available(directory: Path, name: str, namespace: str, timeout_s: int = 600, poll_s: float = 3) -> None:
    """Until Seldon reports the deployment Available; a pod that cannot start, or Seldon's own Failed, ends the
    wait at once with the reason rather than after `timeout_s`."""
    import time

    from devstack.planning.seldon import POD_LABEL

    describe = f"kubectl --kubeconfig {directory / KUBECONFIG} -n {namespace} describe pods -l {POD_LABEL}={name}"
    deadline = time.monotonic() + timeout_s
    while True:
        doc = json.loads(kubectl(directory, "get", f"seldondeployment/{name}", "-n", namespace, "-o", "json"))
        status = doc.get("status") or {}
        if status.get("state") == "Available":
            return
        items = kubectl(directory, "get", "pods", "-n", namespace, "-l", f"{POD_LABEL}={name}", "-o", "json")
        problem = pod_problem(json.loads(items).get("items", []))
        if problem:
            raise EnvironmentProblem(
                f"model {name} cannot start: {problem}.",
                f"`{describe}` shows the events; an image the nodes cannot pull: make it available to Docker "
                "(docker pull or docker load) and run `devstack up` again, which imports Seldon's images into the "
                "nodes.",
            )
        if status.get("state") == "Failed":
            raise EnvironmentProblem(
                f"Seldon reports model {name} Failed: {status.get('description') or 'no description'}.",
                f"`{describe}` shows the events.",
            )
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"model {name} is not Available after {timeout_s} s (Seldon's state: "
                f"{status.get('state') or 'none yet'}).",
                f"`{describe}` shows why.",
            )
        time.sleep(poll_s)


def predict_in_cluster(directory: Path, deployment: str, request: dict[str, Any]) -> Any:
    """The V2 request through the API server's service proxy (`kubectl create --raw`): no ingress needed."""
    from devstack.planning.seldon import predict_raw_path

    body = directory / "k3d" / "last-request.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text(json.dumps(request), encoding="utf-8")
    out = kubectl(directory, "create", "--raw", predict_raw_path(deployment), "-f", str(body), timeout=60)
    return json.loads(out)


def deployed(directory: Path, model: str, namespace: str) -> list[str]:
    """SeldonDeployments devstack made for `model`, newest version first."""
    out = kubectl(
        directory, "get", "seldondeployments", "-n", namespace, "-l", f"devstack.dev/model={model}", "-o", "json"
    )
    items = json.loads(out).get("items", [])
    items.sort(key=lambda i: int(i["metadata"].get("labels", {}).get("devstack.dev/model-version", 0)), reverse=True)
    return [i["metadata"]["name"] for i in items]


@dataclass(frozen=True)
class Served:
    deployment: str
    version: int
    model_uri: str
    manifests: str
    applied: Path | None


def serve(stack: str, ref_text: str, *, mlflow_url: str | None = None, dry_run: bool = False) -> Served:
    """`devstack serve NAME[:VERSION]`: resolve the version in MLflow's registry, build the Secret and the
    SeldonDeployment for it (sized by the plan), and apply them to the stack's cluster (or only print them)."""
    import platform

    from devstack.core.errors import UsageError
    from devstack.lifecycle.stack import open_stack
    from devstack.pipeline import MLFLOW_BUCKET
    from devstack.planning import seldon
    from devstack.planning.catalog import upstream_platforms
    from devstack.render.state import read_secrets
    from devstack.runtime.host import normalize_arch
    from devstack.services import minio

    ref = seldon.parse_model_ref(ref_text)
    directory, project, plan = open_stack(stack)
    if "seldon" not in plan.names():
        raise UsageError(
            f"stack {stack!r} has no seldon in its plan (profile {plan.profile}).",
            "bring it up with seldon: `devstack up --profile ml` (or full), or add it with --services.",
        )
    s = plan.service("seldon")
    if mlflow_url is None:
        if "mlflow" not in plan.names():
            raise UsageError(f"stack {stack!r} runs no MLflow to find '{ref.name}' in.", "pass --mlflow URL.")
        mlflow_url = f"http://127.0.0.1:{plan.service('mlflow').ports['http'][0]}"
    version, source = resolve_model(mlflow_url, ref)
    model_uri = seldon.artifact_s3_uri(source, MLFLOW_BUCKET)
    images = seldon.cluster_images(
        s.images,
        upstream_platforms("seldon"),
        normalize_arch(platform.machine()),
        seldon.builds_address(project, s.ports["images"][0]),
    )
    secrets = read_secrets(directory)
    manifests = seldon.model_manifests(
        ref,
        version,
        model_uri=model_uri,
        memory_mib=int(s.knobs["model_server_memory"].removesuffix("Mi")),
        server_image=images["mlserver"],
        initializer_image=images["storage_initializer"],
        # Seldon's storage initializer signs in as MinIO's serving user: it may read the artifacts, nothing else
        minio_access_key=minio.SERVING,
        minio_secret_key=secrets.get(minio.password_key(minio.SERVING), ""),
        minio_endpoint="http://minio:9000",
    )
    name = seldon.deployment_name(ref, version)
    text = seldon.to_yaml(manifests)
    if dry_run:
        return Served(name, version, model_uri, text, None)
    check_tools(("k3d", "kubectl"))
    config = directory / CONFIG
    if check_existing(project, config_hash(config.read_text(encoding="utf-8"))) is None:
        raise ClusterMissing(f"stack {stack!r} has no k3d cluster running.", "run `devstack up` first.")
    path = apply_manifests(directory, name, text)
    wait_available(directory, name, seldon.NAMESPACE)
    return Served(name, version, model_uri, text, path)


def predict(stack: str, ref_text: str, data: Any, *, url: str | None = None) -> Any:
    """`devstack predict MODEL --data JSON`: a V2 request to the served model (the newest served version unless
    MODEL:VERSION), or to any V2 server at --url (a model server run by hand, the test bed's MLServer)."""
    from devstack.lifecycle.stack import open_stack
    from devstack.planning import seldon

    ref = seldon.parse_model_ref(ref_text)
    request = seldon.v2_request(data)
    if url is not None:
        return v2_infer(url, request, ref.name)
    directory, _project, _plan = open_stack(stack)
    check_tools(("kubectl",))
    if not (directory / KUBECONFIG).exists():
        raise ClusterMissing(
            f"stack {stack!r} has no k3d cluster to ask (no {KUBECONFIG} in its stack dir).",
            f"run `devstack up{'' if stack == 'default' else ' --stack ' + stack}` with seldon in the plan, "
            "or pass --url to ask a model server directly.",
        )
    if ref.version is not None:
        name = seldon.deployment_name(ref, ref.version)
    else:
        names = deployed(directory, seldon.model_label(ref), seldon.NAMESPACE)
        if not names:
            raise ClusterMissing(
                f"model '{ref.name}' is not served in stack {stack!r}.", f"run `devstack serve {ref.name}`."
            )
        name = names[0]
    return predict_in_cluster(directory, name, request)
