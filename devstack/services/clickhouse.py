"""ClickHouse: a single node for the pipeline's time-series tables."""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping

from devstack.core.knobs import MiB, Sized, clamp, down
from devstack.core.templates import template
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

NAME = "clickhouse"
USER = "default"  # the stack's admin: bootstrap's DDL, the healthcheck
DATABASE = "market"  # the pipeline's database (devstack/pipeline/clickhouse.sql): the clients' only one
# One user per client (issue 15.3): user -> read-only? The Spark job writes the pipeline's tables; notebooks (in
# JupyterLab, and `devstack env`'s) read and write them; Airflow's DAGs only read; the health probe only asks
# SELECT 1.
CLIENTS = {"pipeline": False, "notebooks": False, "airflow": True, "probe": True}
NOTEBOOKS, PROBE = "notebooks", "probe"

SPEC = ServiceSpec(
    name=NAME,
    title="ClickHouse",
    group=Group.STORAGE,
    priority=1,
    # ClickHouse throws MEMORY_LIMIT_EXCEEDED below ~1-2 GB (ClickHouse#41959)
    memory=Memory(floor=1536, target=8192, ceiling=16384),
    images={"clickhouse": Image("clickhouse/clickhouse-server:25.8")},
    ports=(
        Port("http", 8123, 8123),
        Port("native", 9000, 19000, "tcp"),
        # the TLS twins: every service's are together in 8443-8458 (services/tls.py)
        Port("http-tls", 8123, 8443, "https", "http", NAME),
        Port("native-tls", 9000, 8444, "tls", "native", NAME),
    ),
    compose_file="clickhouse.yaml",
    user=USER,
    summary="single node, time-series tables",
)


def size(total: int, replicas: int = 1) -> Sized:
    server = down(total * 0.85, 32)
    query = down(total * 0.6, 32)
    cache = clamp(down(total / 8, 32), 64, 5120)
    return Sized(
        {"clickhouse": total},
        {
            "max_server_memory_usage": str(server * MiB),
            "max_memory_usage": str(query * MiB),
            "mark_cache_size": str(cache * MiB),
            "uncompressed_cache_size": str(cache * MiB),
        },
        {"max_server_memory_usage": ("clickhouse", server)},
    )


def _secret(user: str) -> str:
    return f"clickhouse_{user}_password"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def client_users(secrets: Mapping[str, str]) -> str:
    """users.d's client users: each with its password's SHA-256, the pipeline's database only, and the read-only
    profile where it only reads."""
    out = []
    for user, readonly in CLIENTS.items():
        out.append(
            f"        <{user}>\n"
            f"            <password_sha256_hex>{_sha256(secrets[_secret(user)])}</password_sha256_hex>\n"
            "            <networks><ip>::/0</ip></networks>\n"
            f"            <profile>{'devstack_readonly' if readonly else 'default'}</profile>\n"
            "            <quota>default</quota>\n"
            f"            <allow_databases><database>{DATABASE}</database></allow_databases>\n"
            f"        </{user}>"
        )
    return "\n".join(out)


def files(ctx: Ctx) -> dict[str, str]:
    k = ctx.me.knobs
    return {
        "config/clickhouse/config.d/devstack.xml": template("clickhouse-config.xml", **k),
        "config/clickhouse/users.d/devstack.xml": template(
            "clickhouse-users.xml",
            max_memory_usage=k["max_memory_usage"],
            password_sha256_hex=_sha256(ctx.secrets["clickhouse_password"]),
            client_users=client_users(ctx.secrets),
        ),
    }


def endpoint(ctx: Ctx) -> Endpoint:
    url = ctx.url("http")
    # its built-in SQL page
    return Endpoint(NAME, url, NOTEBOOKS, _secret(NOTEBOOKS), {"native": ctx.addresses("native")[0]}, f"{url}/play")


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {
        "CLICKHOUSE_URL": ep.url,
        "CLICKHOUSE_USER": NOTEBOOKS,
        "CLICKHOUSE_PASSWORD": secrets[_secret(NOTEBOOKS)],
    }


def probe(ctx: Ctx) -> HttpProbe:
    base = f"http://{ctx.host}:{ctx.port('http')}"
    q = urllib.parse.urlencode({"user": PROBE, "password": ctx.secrets[_secret(PROBE)]})
    return HttpProbe(
        (
            HttpStep(f"{base}/ping", expect="Ok.", fail="/ping did not answer Ok."),
            HttpStep(f"{base}/?{q}", expect="1", body=b"SELECT 1", fail="SELECT 1 gave an unexpected answer"),
        ),
        "/ping and SELECT 1 as its probe user",
    )


def scrape_jobs(ctx: Ctx) -> list[dict[str, object]]:
    # config.d/devstack.xml turns on <prometheus> on 9363
    return [scrape_job(NAME, NAME, "clickhouse:9363", "/metrics")]


SERVICE = Service(
    spec=SPEC,
    secrets=(
        Secret("clickhouse_password", "DEVSTACK_CLICKHOUSE_PASSWORD"),
        *(Secret(_secret(u), f"DEVSTACK_CLICKHOUSE_{u.upper()}_PASSWORD") for u in CLIENTS if u != PROBE),
        Secret(_secret(PROBE)),
    ),
    size=size,
    deadline_s=120,
    hint="ClickHouse below ~1.5 GiB fails with MEMORY_LIMIT_EXCEEDED: raise its share or the budget.",
    env=lambda ctx: container_env(ctx.me),
    files=files,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    scrape_jobs=scrape_jobs,
)
