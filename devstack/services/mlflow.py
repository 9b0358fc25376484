"""MLflow: the tracking server and model registry, its metadata in PostgreSQL and its artifacts in MinIO."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, clamp
from devstack.services.base import (
    Ctx,
    Endpoint,
    Group,
    Image,
    Memory,
    Port,
    Secret,
    Service,
    ServiceSpec,
    container_env,
)
from devstack.services.probes import HttpProbe, HttpStep

NAME = "mlflow"
MLFLOW_VERSION = "3.10.1"

SPEC = ServiceSpec(
    name=NAME,
    title="MLflow",
    group=Group.MODEL_TRAINING,
    priority=2,
    memory=Memory(floor=512, target=2048, ceiling=4096),
    # plain tags lack boto3 and psycopg; -full carries them (>= 3.9)
    images={"mlflow": Image(f"ghcr.io/mlflow/mlflow:v{MLFLOW_VERSION}-full")},
    # host 5050, not 5000: macOS's AirPlay Receiver holds 5000 on Macs
    ports=(Port("http", 5000, 5050), Port("http-tls", 5000, 8451, "https", "http", NAME)),
    depends_on=("postgres", "minio"),
    compose_file="mlflow.yaml",
    summary="tracking server + model registry, artifacts in MinIO",
)


def size(total: int, replicas: int = 1) -> Sized:
    # measured on MLflow 3.10: server + one uvicorn worker ~300 MiB; each more worker ~190 MiB; the job runner
    # (GenAI jobs: a runner and five Huey consumers) ~1 GiB more, so it runs only when the limit holds it
    jobs = total >= 2048
    base = 320 + (1024 if jobs else 0)
    workers = clamp((total - base - 128) // 192, 1, 4)
    return Sized(
        {"mlflow": total},
        {"MLFLOW_WORKERS": str(workers), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if jobs else "false"},
        {"MLFLOW_WORKERS": ("mlflow", base + workers * 192)},
    )


def env(ctx: Ctx) -> dict[str, str]:
    k = ctx.me.knobs
    return container_env(ctx.me) | {
        "DEVSTACK_MLFLOW_WORKERS": k["MLFLOW_WORKERS"],
        "DEVSTACK_MLFLOW_JOBS": k["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"],
    }


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, ctx.url("http"))


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    # MLflow's client verifies the tracking server with the CA file this names
    return {"MLFLOW_TRACKING_URI": ep.url, **({"MLFLOW_TRACKING_SERVER_CERT_PATH": ep.ca} if ep.ca else {})}


def probe(ctx: Ctx) -> HttpProbe:
    base = f"http://{ctx.host}:{ctx.port('http')}"
    return HttpProbe(
        (
            HttpStep(f"{base}/health", expect="OK", fail="/health did not answer OK"),
            # /health skips the Host-header check; the REST API does not, so ask it too
            HttpStep(f"{base}/api/2.0/mlflow/experiments/search?max_results=1", json=True),
        ),
        "/health and the REST API",
    )


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("mlflow_db_password", "DEVSTACK_MLFLOW_DB_PASSWORD"),),
    size=size,
    deadline_s=240,
    hint="MLflow needs PostgreSQL healthy first; see its log for the database error.",
    env=env,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
)
