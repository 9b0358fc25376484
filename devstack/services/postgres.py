"""PostgreSQL: the metadata store of MLflow and Airflow."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, clamp, down
from devstack.core.templates import raw
from devstack.services.base import Ctx, Endpoint, Group, Image, Memory, Port, Secret, Service, ServiceSpec, env_key, mem
from devstack.services.probes import PgQuery

NAME = "postgres"
USER = "devstack"
DATABASE = "devstack"
# the databases its init script (compose/templates/postgres-initdb.sh) creates, each for the planned service of
# the same name
CLIENT_DATABASES = ("mlflow", "airflow")
KNOBS = ("shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem", "max_connections")

SPEC = ServiceSpec(
    name=NAME,
    title="PostgreSQL",
    group=Group.STORAGE,
    priority=1,
    memory=Memory(floor=256, target=1024, ceiling=2048),
    images={"postgres": Image("postgres:16.10")},
    ports=(Port("sql", 5432, 5432, "postgresql"),),
    compose_file="postgres.yaml",
    user=USER,
    summary="metadata store for MLflow and Airflow",
)


def size(total: int, replicas: int = 1) -> Sized:
    shared = down(total * 0.25, 16)
    maint = clamp(down(total / 16, 16), 16, 512)
    return Sized(
        {"postgres": total},
        {
            "shared_buffers": f"{shared}MB",
            "effective_cache_size": f"{down(total * 0.5, 16)}MB",
            "maintenance_work_mem": f"{maint}MB",
            "work_mem": "4MB",
            "max_connections": "100",
        },
        {"shared_buffers": ("postgres", shared + maint)},
    )


def env(ctx: Ctx) -> dict[str, str]:
    return {"DEVSTACK_POSTGRES_MEM": mem(ctx.me.containers["postgres"])} | {
        env_key(NAME, knob): ctx.me.knobs[knob] for knob in KNOBS
    }


def files(ctx: Ctx) -> dict[str, str]:
    return {"config/postgres/initdb/10-devstack.sh": raw("postgres-initdb.sh")}


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, f"postgresql://{ctx.host}:{ctx.port('sql')}/{DATABASE}", USER, "postgres_password")


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {"POSTGRES_URL": ep.url.replace("postgresql://", f"postgresql://{USER}:{secrets['postgres_password']}@")}


def probe(ctx: Ctx) -> PgQuery:
    wanted = tuple(d for d in CLIENT_DATABASES if ctx.has(d))
    return PgQuery(ctx.host, ctx.port("sql"), USER, ctx.secrets["postgres_password"], DATABASE, wanted)


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("postgres_password", "DEVSTACK_POSTGRES_PASSWORD"),),
    size=size,
    deadline_s=90,
    env=env,
    files=files,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
)
