"""JupyterLab: the notebooks, whose kernel is the Spark driver (client mode)."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, clamp, down
from devstack.core.templates import shipped, template
from devstack.services.base import (
    Ctx,
    Endpoint,
    Group,
    Memory,
    Port,
    Secret,
    Service,
    ServiceSpec,
    container_env,
)
from devstack.services.probes import HttpProbe, HttpStep
from devstack.services.pyspark import PYSPARK_NOTEBOOK, SPARK_MIN_HEAP

NAME = "jupyter"
# what the driver asks executors for when the plan has no Spark worker to size them
DEFAULT_EXECUTOR_MEMORY = "1g"

SPEC = ServiceSpec(
    name=NAME,
    title="JupyterLab",
    group=Group.MODEL_TRAINING,
    priority=2,
    # the notebook kernel is the Spark driver (client mode): the seed's 8 GB driver lives here
    memory=Memory(floor=1536, target=9216, ceiling=12288),
    images={"jupyter": PYSPARK_NOTEBOOK},
    ports=(
        Port("http", 8888, 8888),
        Port("spark-ui", 4040, 4040),
        Port("http-tls", 8888, 8453, "https", "http", NAME),
        Port("spark-ui-tls", 4040, 8454, "https", "spark-ui", NAME),
    ),
    compose_file="jupyter.yaml",
    summary="notebooks/ mounted; its kernel is the Spark driver",
)


def size(total: int, replicas: int = 1) -> Sized:
    # the kernel is the Spark driver in client mode: its heap takes what the notebook server leaves
    driver = clamp(down(min((total - 768) / 1.1, total - 768 - 384), 64), SPARK_MIN_HEAP, 8192)
    return Sized(
        {"jupyter": total},
        {"spark.driver.memory": f"{driver}m"},
        {"spark.driver.memory": ("jupyter", driver + max(384, driver // 10))},
    )


def files(ctx: Ctx) -> dict[str, str]:
    executor = next(
        (p.knobs["spark.executor.memory"] for p in ctx.planned.values() if "spark.executor.memory" in p.knobs),
        DEFAULT_EXECUTOR_MEMORY,
    )
    return {
        "config/jupyter/spark-defaults.conf": template(
            "jupyter-spark-defaults.conf", driver_memory=ctx.me.knobs["spark.driver.memory"], executor_memory=executor
        ),
        **shipped("jobs", "config/pipeline"),
    }


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, ctx.url("http", "/lab"), "", "jupyter_token")


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {"JUPYTER_URL": ep.url, "JUPYTER_TOKEN": secrets["jupyter_token"]}


def probe(ctx: Ctx) -> HttpProbe:
    url = f"http://{ctx.host}:{ctx.port('http')}/api/status"
    token = (("Authorization", f"token {ctx.secrets['jupyter_token']}"),)
    return HttpProbe((HttpStep(url, headers=token, json=True),), "API answers with the token")


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("jupyter_token", "DEVSTACK_JUPYTER_TOKEN"),),
    size=size,
    deadline_s=150,
    env=lambda ctx: container_env(ctx.me),
    files=files,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    seed_knob=("spark.driver.memory", 8192, "Spark driver (in the JupyterLab kernel)"),
)
