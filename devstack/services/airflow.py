"""Apache Airflow with the LocalExecutor: API server, scheduler, DAG processor and triggerer, and its migration."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, clamp, down
from devstack.core.resources import model_runtime_file
from devstack.core.templates import shipped
from devstack.services.base import Ctx, Endpoint, Group, Image, Memory, Port, Secret, Service, ServiceSpec, mem
from devstack.services.probes import AirflowHealth

NAME = "airflow"
USER = "admin"
AIRFLOW_VERSION = "3.1.8"
# Airflow's image for one Python minor (its plain tag is 3.12): the DAG trains in a venv of the scheduler's Python,
# and devstack's MLServer serves the model under 3.11, so training and serving share the minor as they share the
# model-runtime pins (k3d/images/mlserver/model-runtime.txt)
AIRFLOW_PYTHON = "3.11"
# measured on Airflow 3.1.8: an idle triggerer is two processes of 150 and 127 MiB RSS
AIRFLOW_TRIGGERER_MIN = 320

SPEC = ServiceSpec(
    name=NAME,
    title="Apache Airflow",
    group=Group.ORCHESTRATION,
    priority=2,
    # floor: 1536 for the API server, scheduler and DAG processor, plus the triggerer's 320
    memory=Memory(floor=1856, target=4096, ceiling=8192),
    images={"airflow": Image(f"apache/airflow:{AIRFLOW_VERSION}-python{AIRFLOW_PYTHON}")},
    ports=(
        Port("http", 8080, 8088),
        Port("http-tls", 8080, 8452, "https", "http", "airflow-apiserver"),
    ),
    depends_on=("postgres",),
    compose_file="airflow.yaml",
    containers={
        "airflow-apiserver": 0.30,
        "airflow-scheduler": 0.38,
        "airflow-dag-processor": 0.17,
        "airflow-triggerer": 0.15,
    },
    user=USER,
    summary="LocalExecutor: API server, scheduler, DAG processor, triggerer",
)


def size(total: int, replicas: int = 1) -> Sized:
    # the triggerer first (deferred operators and sensors resume only through it), then the split of old
    trig = clamp(down(total * 0.15, 32), AIRFLOW_TRIGGERER_MIN, 512)
    rest = total - trig
    api = down(rest * 0.35, 32)
    dagp = down(rest * 0.20, 32)
    sched = rest - api - dagp
    # LocalExecutor runs each task as a child of the scheduler: ~200 MiB a task beside a ~400 MiB scheduler
    parallelism = clamp((sched - 384) // 192, 1, 32)
    return Sized(
        {
            "airflow-apiserver": api,
            "airflow-scheduler": sched,
            "airflow-dag-processor": dagp,
            "airflow-triggerer": trig,
            "airflow-init": api,
        },
        {
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__API__WORKERS": "1" if api < 1536 else "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1" if dagp < 768 else "2",
        },
        {"AIRFLOW__CORE__PARALLELISM": ("airflow-scheduler", 384 + parallelism * 192)},
    )


def env(ctx: Ctx) -> dict[str, str]:
    k, c = ctx.me.knobs, ctx.me.containers
    return {
        "DEVSTACK_AIRFLOW_APISERVER_MEM": mem(c["airflow-apiserver"]),
        "DEVSTACK_AIRFLOW_SCHEDULER_MEM": mem(c["airflow-scheduler"]),
        "DEVSTACK_AIRFLOW_DAG_PROCESSOR_MEM": mem(c["airflow-dag-processor"]),
        "DEVSTACK_AIRFLOW_TRIGGERER_MEM": mem(c["airflow-triggerer"]),
        "DEVSTACK_AIRFLOW_PARALLELISM": k["AIRFLOW__CORE__PARALLELISM"],
        "DEVSTACK_AIRFLOW_API_WORKERS": k["AIRFLOW__API__WORKERS"],
        "DEVSTACK_AIRFLOW_PARSING_PROCESSES": k["AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES"],
    }


def files(ctx: Ctx) -> dict[str, str]:
    return {
        "config/airflow/dags/.keep": "",
        **shipped("dags", "config/airflow/dags"),
        # the training DAG's venv pins: the same file devstack's MLServer image is built from
        "config/airflow/dags/model-runtime.txt": model_runtime_file().read_text(encoding="utf-8"),
    }


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, ctx.url("http"), USER, "airflow_admin_password")


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {"AIRFLOW_URL": ep.url, "AIRFLOW_USER": USER, "AIRFLOW_PASSWORD": secrets["airflow_admin_password"]}


def probe(ctx: Ctx) -> AirflowHealth:
    return AirflowHealth(f"http://{ctx.host}:{ctx.port('http')}/api/v2/monitor/health")


SERVICE = Service(
    spec=SPEC,
    secrets=(
        Secret("airflow_db_password", "DEVSTACK_AIRFLOW_DB_PASSWORD"),
        Secret("airflow_admin_password", "DEVSTACK_AIRFLOW_ADMIN_PASSWORD"),
        Secret("airflow_fernet_key", "DEVSTACK_AIRFLOW_FERNET_KEY", kind="fernet"),
        Secret("airflow_jwt_secret", "DEVSTACK_AIRFLOW_JWT_SECRET"),
    ),
    size=size,
    deadline_s=300,
    hint="Airflow's first start migrates its database: give it time, or more memory (--budget).",
    env=env,
    files=files,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
)
