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
USER = "default"

SPEC = ServiceSpec(
    name=NAME,
    title="ClickHouse",
    group=Group.STORAGE,
    priority=1,
    # ClickHouse throws MEMORY_LIMIT_EXCEEDED below ~1-2 GB (ClickHouse#41959)
    memory=Memory(floor=1536, target=8192, ceiling=16384),
    images={"clickhouse": Image("clickhouse/clickhouse-server:25.8")},
    ports=(Port("http", 8123, 8123), Port("native", 9000, 19000, "tcp")),
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


def files(ctx: Ctx) -> dict[str, str]:
    k = ctx.me.knobs
    digest = hashlib.sha256(ctx.secrets["clickhouse_password"].encode()).hexdigest()
    return {
        "config/clickhouse/config.d/devstack.xml": template("clickhouse-config.xml", **k),
        "config/clickhouse/users.d/devstack.xml": template(
            "clickhouse-users.xml", max_memory_usage=k["max_memory_usage"], password_sha256_hex=digest
        ),
    }


def endpoint(ctx: Ctx) -> Endpoint:
    url = f"http://{ctx.host}:{ctx.port('http')}"
    # its built-in SQL page
    return Endpoint(
        NAME, url, USER, "clickhouse_password", {"native": f"{ctx.host}:{ctx.port('native')}"}, f"{url}/play"
    )


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {"CLICKHOUSE_URL": ep.url, "CLICKHOUSE_USER": USER, "CLICKHOUSE_PASSWORD": secrets["clickhouse_password"]}


def probe(ctx: Ctx) -> HttpProbe:
    base = f"http://{ctx.host}:{ctx.port('http')}"
    q = urllib.parse.urlencode({"user": USER, "password": ctx.secrets["clickhouse_password"]})
    return HttpProbe(
        (
            HttpStep(f"{base}/ping", expect="Ok.", fail="/ping did not answer Ok."),
            HttpStep(f"{base}/?{q}", expect="1", body=b"SELECT 1", fail="SELECT 1 gave an unexpected answer"),
        ),
        "/ping and SELECT 1 with the stack's password",
    )


def scrape_jobs(ctx: Ctx) -> list[dict[str, object]]:
    # config.d/devstack.xml turns on <prometheus> on 9363
    return [scrape_job(NAME, NAME, "clickhouse:9363", "/metrics")]


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("clickhouse_password", "DEVSTACK_CLICKHOUSE_PASSWORD"),),
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
