"""Seldon Core on k3d: a cluster of one server and two agents, a local registry, Seldon's operator, and MLServer
model servers. It runs outside Compose: devstack/runtime/k3d.py creates the cluster from the config rendered here."""

from __future__ import annotations

from string import Template

from devstack.core.knobs import Sized, clamp, down
from devstack.core.resources import k3d_dir
from devstack.services.base import (
    AMD64_ONLY,
    Ctx,
    Endpoint,
    Group,
    Image,
    Memory,
    Planned,
    Port,
    Runtime,
    Service,
    ServiceSpec,
)

NAME = "seldon"
CLUSTER_CONFIG = "k3d/cluster.yaml"
# the images registry's host port when a plan from before it existed has none
DEFAULT_IMAGES_PORT = 5501

SPEC = ServiceSpec(
    name=NAME,
    title="Seldon Core on k3d",
    group=Group.MODEL_TRAINING,
    priority=3,
    # the whole k3d cluster: 1 server + 2 agents, Seldon's control plane and 2 GB per model server
    memory=Memory(floor=3072, target=12288, ceiling=16384),
    images={
        "k3s": Image("rancher/k3s:v1.33.5-k3s1"),
        # the k3d registries (Docker Hub's cache, devstack's builds); k3d's default, multi-arch
        "registry": Image("registry:2"),
        # Seldon publishes amd64 only (SeldonIO/seldon-core#4438); see README "Seldon on k3d"
        "seldon_operator": Image(
            "seldonio/seldon-core-operator:1.17.1",
            AMD64_ONLY,
            note="runs under emulation; it is Go: an arm64 build from the v1.17.1 tag's operator/ is the fix",
        ),
        "seldon_executor": Image(
            "seldonio/seldon-core-executor:1.17.1",
            AMD64_ONLY,
            note="not started: devstack's graphs are single MLServer models (seldon.io/no-engine)",
        ),
        "storage_initializer": Image(
            "seldonio/rclone-storage-initializer:1.17.1",
            AMD64_ONLY,
            note="built for arm64 by devstack (k3d/images/storage-initializer: rclone's image + rclone copy)",
        ),
        "mlserver": Image(
            "seldonio/mlserver:1.7.1",
            AMD64_ONLY,
            note="built by devstack from PyPI on every architecture (k3d/images/mlserver): Seldon's image "
            "has numpy 1.26.4 and scikit-learn 1.5.2, which cannot load a model the DAG trained",
            devstack_build=True,
        ),
    },
    ports=(
        Port("ingress", 80, 8085),
        Port("api", 6443, 6550, "https"),
        Port("registry", 5000, 5500),
        Port("images", 5000, 5501),
    ),
    runtime=Runtime.K3D,
    summary="k3d cluster (1 server, 2 agents, local registry) serving models over REST",
)


def size(total: int, replicas: int = 1) -> Sized:
    server = clamp(down(total * 0.3, 64), 1024, 4096)
    agent = down((total - server) / 2, 64)
    # each agent hosts model servers of up to the seed's 2 GB, after ~512 MiB for kubelet and Seldon's pods
    model = clamp(down(agent - 512, 64), 512, 2048)
    per_agent = max(1, (agent - 512) // model)
    return Sized(
        {"k3d-server-0": server, "k3d-agent-0": agent, "k3d-agent-1": agent},
        {
            "serversMemory": f"{server}m",
            "agentsMemory": f"{agent}m",
            "model_server_memory": f"{model}Mi",
            "model_servers": str(per_agent * 2),
        },
        {"model_server_memory": ("k3d-agent-0", model + 512)},
    )


def cluster_config(me: Planned, project: str, bind: str = "127.0.0.1") -> str:
    """The k3d cluster config. Its network is the stack's `store` (MinIO, MLflow); `devstack up` connects the
    nodes to `stream` too (Kafka), since k3d joins one network at creation (see devstack/runtime/k3d.py)."""
    template = (k3d_dir() / "cluster.yaml.tmpl").read_text(encoding="utf-8")
    return Template(template).substitute(
        name=project,
        k3s_image=me.images["k3s"],
        api_port=me.ports["api"][0],
        bind=bind,
        ingress_port=me.ports["ingress"][0],
        registry_port=me.ports["registry"][0],
        images_port=me.ports["images"][0] if "images" in me.ports else DEFAULT_IMAGES_PORT,
        registry_image=me.images.get("registry", "registry:2"),
        servers_memory=me.knobs["serversMemory"],
        agents_memory=me.knobs["agentsMemory"],
        network=f"{project}_store",
    )


def files(ctx: Ctx) -> dict[str, str]:
    return {CLUSTER_CONFIG: cluster_config(ctx.me, ctx.project, ctx.plain_bind)}


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, f"http://{ctx.host}:{ctx.port('ingress')}")


SERVICE = Service(spec=SPEC, size=size, files=files, endpoint=endpoint)
