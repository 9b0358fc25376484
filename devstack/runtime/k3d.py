"""The k3d cluster that runs Seldon: preflight of the tools, create from the rendered config, wait for the nodes,
install Seldon Core, status, delete. Every command goes through `run_tool` (plumbum), one way to run a binary.

Which cluster is ours: the rendered `k3d/cluster.yaml` is hashed (sha256) and the hash is put on the server
node's container as the runtime label `dev.devstack.k3d-config` (`k3d cluster create --runtime-label`). A
cluster of the same name without that label or with another hash "exists with another config": devstack refuses
to touch it and names the two ways out (`devstack down`, or `k3d cluster delete NAME`), rather than silently
recreating someone's cluster or running models on one sized for another plan.

kubectl and helm always get `--kubeconfig <stack dir>/k3d/kubeconfig` (written by `k3d kubeconfig write`): a
kubectl without one falls back to http://localhost:8080, which on a devstack host is the Spark master's UI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from devstack.core.errors import EnvironmentProblem
from devstack.planning import seldon
from devstack.planning.seldon import images_registry, images_registry_container
from devstack.render import cluster_metrics
from devstack.runtime.engine.docker import (
    DockerFailed,
    connect_network,
    container_labels,
    container_networks,
    network_exists,
)
from devstack.runtime.engine.tools import MIN_VERSIONS, ToolFailed, ToolMissing, min_version, run_tool

if TYPE_CHECKING:
    from devstack.planning.plan import Plan
    from devstack.runtime.host import HostFacts

VERSION_ARGS: dict[str, tuple[str, ...]] = {
    "k3d": ("version",),
    "kubectl": ("version", "--client"),
    "helm": ("version", "--short"),
}
HASH_LABEL = "dev.devstack.k3d-config"
CONFIG = "k3d/cluster.yaml"
KUBECONFIG = "k3d/kubeconfig"

SELDON_CHART = "seldon-core-operator"
SELDON_CHART_REPO = "https://storage.googleapis.com/seldon-charts"
# a mirror of Seldon's chart repository (a company's proxy, an offline copy): the same chart at the same version
CHART_REPO_VARIABLE = "DEVSTACK_SELDON_CHART_REPO"
SELDON_VERSION = "1.17.1"
# the Seldon images the nodes pull themselves (devstack's own builds come from its build registry instead)
NODE_PULLED = ("seldon_operator", "storage_initializer")


class ToolTooOld(EnvironmentProblem):
    pass


class ClusterConfigMismatch(EnvironmentProblem):
    pass


class ClusterMissing(EnvironmentProblem):
    pass


def _version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def check_tools(names: tuple[str, ...] = ("k3d", "kubectl", "helm")) -> dict[str, str]:
    """Each tool on PATH and recent enough, or one EnvironmentProblem naming the first that is not (exit 3),
    before anything starts. Returns tool -> version."""
    found: dict[str, str] = {}
    for name in names:
        res = run_tool(name, *VERSION_ARGS[name], timeout=20, check=False)  # ToolMissing when not on PATH
        v = _version(res.stdout + res.stderr)
        want, need = MIN_VERSIONS[name], min_version(name)
        if v is None:
            raise ToolFailed(
                f"`{name} {' '.join(VERSION_ARGS[name])}` printed no version; is `{name}` the real {name}?",
                f"install {name} {need}+ and put it first on PATH.",
            )
        if v < want:
            raise ToolTooOld(
                f"{name} {'.'.join(map(str, v))} is too old: devstack needs {name} {need}+.",
                f"upgrade {name} (brew upgrade {name}), then run `devstack up` again.",
            )
        found[name] = ".".join(map(str, v))
    return found


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    running: bool
    status: str
    labels: dict[str, str]


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    servers: int
    servers_running: int
    agents: int
    agents_running: int
    nodes: tuple[Node, ...]

    @property
    def running(self) -> bool:
        return self.servers_running == self.servers > 0 and self.agents_running == self.agents

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "servers": f"{self.servers_running}/{self.servers}",
            "agents": f"{self.agents_running}/{self.agents}",
            "running": self.running,
            "nodes": [{"name": n.name, "role": n.role, "status": n.status} for n in self.nodes],
        }


def parse_cluster_list(text: str) -> list[ClusterInfo]:
    """`k3d cluster list -o json` (k3d v5: a list of clusters with their nodes and running counts)."""
    out = []
    for c in json.loads(text or "[]"):
        nodes = tuple(
            Node(
                name=n.get("name", ""),
                role=n.get("role", ""),
                running=bool((n.get("State") or n.get("state") or {}).get("Running")),
                status=str((n.get("State") or n.get("state") or {}).get("Status", "")),
                labels=dict(n.get("runtimeLabels") or {}),
            )
            for n in c.get("nodes") or []
        )
        out.append(
            ClusterInfo(
                name=c["name"],
                servers=int(c.get("serversCount", 0)),
                servers_running=int(c.get("serversRunning", 0)),
                agents=int(c.get("agentsCount", 0)),
                agents_running=int(c.get("agentsRunning", 0)),
                nodes=nodes,
            )
        )
    return out


def find_cluster(name: str) -> ClusterInfo | None:
    res = run_tool("k3d", "cluster", "list", "-o", "json", timeout=30)
    return next((c for c in parse_cluster_list(res.stdout) if c.name == name), None)


def _server_label(cluster: ClusterInfo) -> str | None:
    """The config hash on the server container. k3d's JSON only carries k3d.* labels, so Docker is asked."""
    servers = [n for n in cluster.nodes if n.role == "server"]
    if not servers:
        return None
    return container_labels(servers[0].name).get(HASH_LABEL)


def check_existing(name: str, wanted_hash: str) -> ClusterInfo | None:
    """The cluster if it exists with our config; None if absent; ClusterConfigMismatch if it has another one."""
    cluster = find_cluster(name)
    if cluster is None:
        return None
    have = _server_label(cluster)
    if have != wanted_hash:
        why = "was not created by devstack" if have is None else "was created from another plan"
        raise ClusterConfigMismatch(
            f"k3d cluster '{name}' exists with another config (it {why}).",
            f"run `devstack down` to delete devstack's cluster, or `k3d cluster delete {name}` if it is not "
            "devstack's, then `devstack up` again.",
        )
    return cluster


def ensure_images_registry(name: str, port: int, network: str, image: str = "docker.io/library/registry:2") -> None:
    """The registry devstack pushes its own images to (the cluster's created registry is a pull-through cache,
    which refuses pushes); `registries.use` in the config names it, so it must exist before the cluster."""
    res = run_tool("k3d", "registry", "list", "-o", "json", timeout=30)
    have = {r.get("name") for r in json.loads(res.stdout or "[]")}
    if images_registry_container(name) in have:
        return
    run_tool(
        "k3d",
        "registry",
        "create",
        images_registry(name),
        "--port",
        f"127.0.0.1:{port}",
        "--default-network",
        network,
        "--image",
        image,
        timeout=120,
    )


def create_argv(name: str, config: Path, digest: str) -> list[str]:
    """The exact `k3d cluster create` devstack runs (tests run it against the real k3d)."""
    return ["cluster", "create", "--config", str(config), "--runtime-label", f"{HASH_LABEL}={digest}@server:0"]


def kubectl(directory: Path, *args: str, timeout: float = 60) -> str:
    return run_tool("kubectl", "--kubeconfig", str(directory / KUBECONFIG), *args, timeout=timeout).stdout


def create(
    directory: Path,
    name: str,
    *,
    images_port: int,
    extra_networks: tuple[str, ...] = (),
    registry_image: str = "docker.io/library/registry:2",
) -> ClusterInfo:
    """Create the cluster from the rendered config (or keep it, when it is ours and unchanged), connect it to
    the stack's other networks, write the kubeconfig and wait until every node is Ready."""
    config = directory / CONFIG
    digest = config_hash(config.read_text(encoding="utf-8"))
    cluster = check_existing(name, digest)
    if cluster is None:
        network = re.search(r"(?m)^network:\s*(\S+)", config.read_text(encoding="utf-8"))
        ensure_images_registry(name, images_port, network.group(1) if network else "bridge", registry_image)
        run_tool("k3d", *create_argv(name, config, digest), timeout=600)
        cluster = find_cluster(name)
        if cluster is None:
            raise ClusterMissing(
                f"`k3d cluster create` returned but cluster '{name}' is not listed.", "see `k3d cluster list`."
            )
    elif not cluster.running:
        run_tool("k3d", "cluster", "start", name, "--wait", timeout=300)
    _connect(cluster, extra_networks)
    run_tool("k3d", "kubeconfig", "write", name, "--output", str(directory / KUBECONFIG), timeout=30)
    (directory / KUBECONFIG).chmod(0o600)
    wait_nodes_ready(directory)
    return find_cluster(name) or cluster


def containerd_ref(ref: str) -> str:
    """The name containerd lists an image by (`registry:2` -> `docker.io/library/registry:2`). Pure."""
    name, _, digest = ref.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name if '/' in name else 'library/' + name}"
    if ":" not in name.rsplit("/", 1)[-1] and not digest:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def node_images(node: str) -> set[str]:
    """The images a node's containerd holds (the kubelet's namespace), by containerd's names."""
    from devstack.runtime.engine.docker import exec_output

    try:
        text = exec_output(node, ["ctr", "-n", "k8s.io", "images", "ls", "-q"])
    except DockerFailed:  # a node without ctr: import everything, which is what k3d does anyway
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def import_local_images(cluster: ClusterInfo, refs: list[str]) -> list[str]:
    """The images in `refs` that the local engine holds and a node lacks, loaded into every node with `k3d image
    import` (what a user does for an image the nodes cannot pull: an offline laptop, a build of their own). The
    nodes then start them without a pull (the tags are pinned, so the pull policy is IfNotPresent). Returns what
    was imported; an image the engine does not have is left for the nodes to pull as usual."""
    from devstack.runtime.engine.docker import image_exists

    local = [r for r in dict.fromkeys(refs) if image_exists(r)]
    if not local:
        return []
    nodes = [n.name for n in cluster.nodes if n.role in ("server", "agent")]
    held = [node_images(n) for n in nodes]
    todo = [r for r in local if any(containerd_ref(r) not in h for h in held)]
    if todo:
        run_tool("k3d", "image", "import", *todo, "--cluster", cluster.name, timeout=900)
    return todo


def _connect(cluster: ClusterInfo, networks: tuple[str, ...]) -> None:
    """k3d joins one network at creation; Kafka is on `stream` only, so the nodes join it too."""
    if not networks:
        return
    for node in cluster.nodes:
        if node.role not in ("server", "agent"):
            continue
        attached = container_networks(node.name)
        for net in networks:
            if net in attached:
                continue
            try:
                connect_network(net, node.name)
            except DockerFailed as e:
                raise EnvironmentProblem(
                    f"could not connect k3d node {node.name} to network {net}: {e.last_line}",
                    "check that the Compose stack is up (`devstack status`).",
                ) from None


def wait_nodes_ready(directory: Path, timeout_s: int = 180) -> None:
    kubectl(
        directory, "wait", "--for=condition=Ready", "node", "--all", f"--timeout={timeout_s}s", timeout=timeout_s + 30
    )


def install_seldon(directory: Path, values: Path, timeout_s: int = 300) -> None:
    """Seldon Core v1.17.1 (Apache-2.0) from Seldon's chart repository, with devstack's values (images from the
    cluster's registry, memory limits, no Istio/Ambassador)."""
    run_tool("helm", *helm_install_argv(directory, values, timeout_s), timeout=timeout_s + 60)


def chart_repo() -> str:
    """Seldon's chart repository, or the mirror `DEVSTACK_SELDON_CHART_REPO` names."""
    import os

    return os.environ.get(CHART_REPO_VARIABLE, "").strip() or SELDON_CHART_REPO


def helm_install_argv(directory: Path, values: Path, timeout_s: int = 300) -> list[str]:
    return [
        "upgrade",
        "--install",
        "seldon-core",
        SELDON_CHART,
        "--repo",
        chart_repo(),
        "--version",
        SELDON_VERSION,
        "--namespace",
        "seldon-system",
        "--create-namespace",
        "--values",
        str(values),
        "--kubeconfig",
        str(directory / KUBECONFIG),
        "--wait",
        "--timeout",
        f"{timeout_s}s",
    ]


def delete(name: str) -> bool:
    """Delete the cluster (with the pull-through registry it created) and devstack's image registry. True if
    there was something to delete. Never touches a cluster devstack did not create: `down` calls
    `check_existing` first."""
    deleted = False
    if find_cluster(name) is not None:
        run_tool("k3d", "cluster", "delete", name, timeout=180)
        deleted = True
    res = run_tool("k3d", "registry", "list", "-o", "json", timeout=30)
    if any(r.get("name") == images_registry_container(name) for r in json.loads(res.stdout or "[]")):
        run_tool("k3d", "registry", "delete", images_registry_container(name), timeout=60)
        deleted = True
    return deleted


@dataclass(frozen=True)
class K3dStatus:
    name: str
    tools: dict[str, str]
    cluster: ClusterInfo | None
    ours: bool | None  # None: no cluster
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tools": self.tools,
            "cluster": self.cluster.to_dict() if self.cluster else None,
            "ours": self.ours,
            "detail": self.detail,
        }


def status(directory: Path, name: str) -> K3dStatus:
    """What `devstack k3d status` shows: the tools, whether the cluster exists, is devstack's and is running."""
    tools = check_tools(("k3d",))
    cluster = find_cluster(name)
    if cluster is None:
        return K3dStatus(name, tools, None, None, f"no k3d cluster '{name}' (devstack up creates it)")
    config = directory / CONFIG
    ours = config.exists() and _server_label(cluster) == config_hash(config.read_text(encoding="utf-8"))
    state = "running" if cluster.running else "stopped"
    c = cluster
    detail = f"{state}: servers {c.servers_running}/{c.servers}, agents {c.agents_running}/{c.agents}"
    if not ours:
        detail += "; not created from this stack's config"
    return K3dStatus(name, tools, cluster, ours, detail)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def explain(e: ToolFailed) -> EnvironmentProblem:
    """k3d's fatal lines, as one line a user can act on: the common one here is an image Docker cannot pull."""
    text = ANSI.sub("", e.cause)
    m = re.search(r"failed to pull (?:the )?image '([^']+)'", text)
    if m:
        return EnvironmentProblem(
            f"k3d could not pull {m.group(1)}: no registry answered for it.",
            f"make the image available to Docker (`docker pull {m.group(1)}` where a registry is reachable, or "
            "`docker load`), then `devstack up` again.",
        )
    return EnvironmentProblem(text, e.fix)


class ClusterJob:
    """The k3d part of `devstack up`: checked in preflight (before anything starts), then run in a thread beside
    `docker compose up`. It starts once Compose has created the stack's networks: k3d creates a missing
    `network:` itself, and Compose then refuses that network as not its own (its labels are missing)."""

    def __init__(self, directory: Path, name: str, network: str, extra_networks: tuple[str, ...], images_port: int):
        self.directory = directory
        self.name = name
        self.network = network
        self.extra_networks = extra_networks
        self.images_port = images_port
        self.error: EnvironmentProblem | None = None
        self.cluster: ClusterInfo | None = None
        self._thread: threading.Thread | None = None
        self.values_text = ""
        self.k3s_image = ""
        self.registry_image = ""
        self.k3d_version = ""
        self.image_builds: Callable[[], object] | None = None  # devstack's own images, built and pushed
        self.prometheus = False  # the plan runs Prometheus: give it a token to scrape the model servers with
        self.local_images: tuple[str, ...] = ()  # images the nodes pull, loaded from the local engine if it has them
        self.imported: list[str] = []

    @classmethod
    def for_plan(
        cls,
        plan: Plan,
        directory: Path,
        project: str,
        facts: HostFacts,
        build_args: dict[str, dict[str, str]] | None = None,
    ) -> ClusterJob | None:
        """None unless the plan runs seldon. Otherwise refuse before anything starts: a tool missing or too old,
        a cluster of this name with another config, an engine too small for the Compose services and the
        cluster together. `build_args` go to devstack's own image builds (`up --build-arg`), per recipe."""
        if "seldon" not in plan.names():
            return None
        from devstack.core.units import fmt_mib
        from devstack.planning.catalog import upstream_platforms
        from devstack.planning.plan import engine_reserve
        from devstack.runtime import image_builds
        from devstack.services.seldon import NAME, cluster_config

        check_tools()
        config_text = cluster_config(plan.service(NAME), project, plan.plain_bind)
        existing = check_existing(project, config_hash(config_text))
        s = plan.service("seldon")
        if existing is None:  # a new cluster publishes these; k3d would fail halfway through on a taken one
            from devstack.runtime.engine.docker import containers_publishing
            from devstack.runtime.host import port_owners

            ports = [h for hs in s.ports.values() for h in hs]
            # devstack's build registry outlives a cluster that failed to start, or was made by `k3d images`
            ours = {n for n, c in containers_publishing(ports).items() if c == images_registry_container(project)}
            taken = port_owners([h for h in ports if h not in ours], plan.plain_bind)
            if taken:
                p = taken[0]
                name = next(n for n, hs in s.ports.items() if p.port in hs)
                raise EnvironmentProblem(
                    f"seldon.{name} needs port {p.port} for the k3d cluster, held by {p.owner}.",
                    f"free it, or move it with services.seldon.ports.{name} in devstack.yaml.",
                )
        compose_mib = sum(x.limit_mib for x in plan.services if x.runtime == "compose")
        engine_mib = facts.engine.mem_mib
        if engine_mib:
            room = engine_mib - engine_reserve(engine_mib)
            if compose_mib + s.limit_mib > room:
                raise EnvironmentProblem(
                    f"the plan needs {fmt_mib(compose_mib)} for its containers and {fmt_mib(s.limit_mib)} for "
                    f"the k3d cluster; the engine can give {fmt_mib(room)}.",
                    "give Docker more memory, plan with a smaller --budget, or leave seldon out (--services).",
                )
        m = re.search(r"(?m)^network:\s*(\S+)", config_text)
        network = m.group(1) if m else "bridge"
        stream = network[: -len("_store")] + "_stream" if network.endswith("_store") else ""
        images = seldon.cluster_images(
            s.images,
            upstream_platforms("seldon"),
            facts.arch or "amd64",
            seldon.builds_address(project, s.ports["images"][0]),
        )
        values = seldon.operator_values(
            operator_image=images["seldon_operator"],
            executor_image=images["seldon_executor"],
            initializer_image=images["storage_initializer"],
            mlserver_image=images["mlserver"],
        )
        job = cls(directory, project, network, (stream,) if stream else (), s.ports["images"][0])
        job.values_text = yaml.safe_dump(values, sort_keys=False)
        job.k3s_image = s.images["k3s"]
        job.registry_image = s.images.get("registry", "docker.io/library/registry:2")
        job.k3d_version = check_tools(("k3d",))["k3d"]
        from devstack.services.prometheus import NAME as PROMETHEUS

        job.prometheus = PROMETHEUS in plan.names()
        job.local_images = tuple(images[k] for k in NODE_PULLED if k in images)
        arch = facts.arch or "amd64"
        if image_builds.needed(upstream_platforms("seldon"), arch):
            job.image_builds = lambda: image_builds.for_plan(plan, project, arch, build_args=build_args)
        return job

    def node_images(self) -> dict[str, str]:
        """The images `k3d cluster create` runs (image -> the variable that swaps it), for `up` to pull before
        anything starts: the k3s node, the registry, and k3d's load balancer and tools helpers, tagged with
        the k3d version unless k3d's own variables say otherwise (pkg/types/images.go)."""
        import os

        tag = os.environ.get("K3D_HELPER_IMAGE_TAG") or self.k3d_version
        return {
            self.k3s_image: "DEVSTACK_IMAGE_K3S",
            self.registry_image: "DEVSTACK_IMAGE_REGISTRY",
            os.environ.get("K3D_IMAGE_LOADBALANCER") or f"ghcr.io/k3d-io/k3d-proxy:{tag}": "K3D_IMAGE_LOADBALANCER",
            os.environ.get("K3D_IMAGE_TOOLS") or f"ghcr.io/k3d-io/k3d-tools:{tag}": "K3D_IMAGE_TOOLS",
        }

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="k3d-cluster", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 180
            while not network_exists(self.network):
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(
                        f"Compose did not create network {self.network} within 180 s; the k3d cluster joins it.",
                        "see `devstack status` and `docker network ls`.",
                    )
                time.sleep(1)
            extra = tuple(n for n in self.extra_networks if network_exists(n))
            self.cluster = create(
                self.directory,
                self.name,
                images_port=self.images_port,
                extra_networks=extra,
                registry_image=self.registry_image,
            )
            if self.image_builds is not None:  # the build registry exists now; the cluster pulls from it
                self.image_builds()
            self.imported = import_local_images(self.cluster, list(self.local_images))
            values = self.directory / "k3d" / "seldon-values.yaml"
            values.write_text(self.values_text, encoding="utf-8")
            install_seldon(self.directory, values)
            if self.prometheus:  # model monitoring: Prometheus scrapes the model pods through the API server
                cluster_metrics.install_credentials(self.directory, *grant_prometheus(self.directory))
        except ToolFailed as e:
            self.error = explain(e)
        except EnvironmentProblem as e:
            self.error = e

    def join(self) -> EnvironmentProblem | None:
        if self._thread is not None:
            self._thread.join()
        return self.error


def down(name: str) -> str:
    """`devstack down`'s k3d part: delete the cluster if devstack created it (its server carries the config
    label, whatever the hash: a cluster from an older plan is still devstack's), leave any other alone."""
    import shutil

    if shutil.which("k3d") is None:
        return "k3d is not installed: no cluster to delete"
    cluster = find_cluster(name)
    if cluster is None:
        delete(name)  # devstack's image registry may outlive a cluster deleted by hand
        return f"no k3d cluster '{name}'"
    if _server_label(cluster) is None:
        return f"k3d cluster '{name}' was not created by devstack: left alone (k3d cluster delete {name})"
    delete(name)
    return f"deleted k3d cluster '{name}'"


def grant_prometheus(directory: Path, namespace: str = seldon.NAMESPACE, timeout_s: float = 60) -> tuple[str, str]:
    """Let the stack's Prometheus scrape the model pods (cluster_metrics.py says how): apply the RBAC manifests
    through kubectl and wait for the token controller to fill the Secret; returns (token, CA PEM). Idempotent:
    `kubectl apply` of the same manifests changes nothing."""
    manifest = directory / "k3d" / "prometheus-rbac.yaml"
    manifest.write_text(seldon.to_yaml(cluster_metrics.rbac_manifests(namespace)), encoding="utf-8")
    kubectl(directory, "apply", "-f", str(manifest))
    deadline = time.monotonic() + timeout_s
    while True:
        out = read_token_secret(directory, namespace)
        if len(out) == 2:
            return base64.b64decode(out[0]).decode("utf-8"), base64.b64decode(out[1]).decode("utf-8")
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"the cluster did not fill Secret {namespace}/{cluster_metrics.TOKEN_SECRET} with a token within "
                f"{timeout_s:.0f} s.",
                "see `kubectl --kubeconfig <stack>/k3d/kubeconfig -n kube-system logs` for the controller manager.",
            )
        time.sleep(1)


def read_token_secret(directory: Path, namespace: str = seldon.NAMESPACE) -> list[str]:
    """The Secret's token and CA, base64 as stored; fewer than two words until the token controller filled it."""
    path = "jsonpath={.data.token} {.data.ca\\.crt}"
    return kubectl(directory, "get", "secret", cluster_metrics.TOKEN_SECRET, "-n", namespace, "-o", path).split()


__all__ = [
    "ClusterConfigMismatch",
    "ClusterInfo",
    "ToolMissing",
    "ToolTooOld",
    "check_existing",
    "check_tools",
    "create",
    "delete",
    "status",
]
