"""MinIO: the S3 object store for datasets, models and MLflow's artifacts."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, down
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
    scrape_job,
)
from devstack.services.probes import HttpProbe, HttpStep

NAME = "minio"
USER = "devstack"
MINIO_RELEASE = "RELEASE.2025-09-06T17-38-46Z"

SPEC = ServiceSpec(
    name=NAME,
    title="MinIO",
    group=Group.STORAGE,
    priority=1,
    memory=Memory(floor=512, target=2048, ceiling=4096),
    images={
        "minio": Image(
            f"quay.io/minio/minio:{MINIO_RELEASE}",
            note="community image is frozen; the object store is a role any S3-compatible server can fill",
        )
    },
    ports=(Port("s3", 9000, 9000), Port("console", 9001, 9001)),
    compose_file="minio.yaml",
    user=USER,
    summary="S3 object store for datasets, models and MLflow artifacts",
)


def size(total: int, replicas: int = 1) -> Sized:
    # GOMEMLIMIT makes Go's collector work harder before the container limit, instead of being killed at it
    soft = down(total * 0.8, 32)
    return Sized({"minio": total}, {"GOMEMLIMIT": f"{soft}MiB"}, {"GOMEMLIMIT": ("minio", soft)})


def env(ctx: Ctx) -> dict[str, str]:
    return container_env(ctx.me) | {"DEVSTACK_MINIO_GOMEMLIMIT": ctx.me.knobs["GOMEMLIMIT"]}


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(
        NAME,
        f"http://{ctx.host}:{ctx.port('s3')}",
        USER,
        "minio_password",
        {"console": f"http://{ctx.host}:{ctx.port('console')}"},
    )


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {
        "MLFLOW_S3_ENDPOINT_URL": ep.url,
        "AWS_ENDPOINT_URL": ep.url,
        "AWS_ACCESS_KEY_ID": USER,
        "AWS_SECRET_ACCESS_KEY": secrets["minio_password"],
    }


def probe(ctx: Ctx) -> HttpProbe:
    return HttpProbe((HttpStep(f"http://{ctx.host}:{ctx.port('s3')}/minio/health/ready"),), "/minio/health/ready")


def scrape_jobs(ctx: Ctx) -> list[dict[str, object]]:
    # MINIO_PROMETHEUS_AUTH_TYPE=public in compose/minio.yaml
    return [scrape_job(NAME, NAME, "minio:9000", "/minio/v2/metrics/cluster")]


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("minio_password", "DEVSTACK_MINIO_PASSWORD"),),
    size=size,
    deadline_s=90,
    env=env,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    scrape_jobs=scrape_jobs,
)
