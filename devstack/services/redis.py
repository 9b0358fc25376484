"""Redis: the feature cache, with AOF persistence and key expiry, and redis_exporter for Prometheus."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.core.knobs import Sized, down
from devstack.core.templates import template
from devstack.services.base import (
    AlertSpec,
    Ctx,
    Endpoint,
    Exporter,
    Group,
    Image,
    Memory,
    Port,
    Secret,
    Service,
    ServiceSpec,
    container_env,
)
from devstack.services.probes import RedisPing

NAME = "redis"
# Docker Hub tag of the exporter; the repository publishes linux/amd64 and linux/arm64 (its release.yml
# `platforms:`)
REDIS_EXPORTER_VERSION = "v1.74.0"

SPEC = ServiceSpec(
    name=NAME,
    title="Redis",
    group=Group.STORAGE,
    priority=1,
    memory=Memory(floor=256, target=2048, ceiling=8192),
    images={"redis": Image("redis:7.4.6")},
    ports=(Port("redis", 6379, 6379, "redis"),),
    compose_file="redis.yaml",
    summary="feature cache with AOF persistence and key expiry",
)


def size(total: int, replicas: int = 1) -> Sized:
    # an AOF rewrite forks: leave copy-on-write headroom above maxmemory
    maxmem = down(total * 0.7, 16)
    return Sized(
        {"redis": total},
        {"maxmemory": f"{maxmem}mb", "maxmemory-policy": "volatile-lru"},
        {"maxmemory": ("redis", maxmem)},
    )


def files(ctx: Ctx) -> dict[str, str]:
    k = ctx.me.knobs
    return {
        "config/redis/redis.conf": template(
            "redis.conf", maxmemory=k["maxmemory"], maxmemory_policy=k["maxmemory-policy"]
        )
    }


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, f"redis://{ctx.host}:{ctx.port('redis')}/0", "", "redis_password")


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    # the user named: redis-cli 7 sends an empty user name for `redis://:pw@` and the server answers WRONGPASS
    return {"REDIS_URL": ep.url.replace("redis://", f"redis://default:{secrets['redis_password']}@")}


def probe(ctx: Ctx) -> RedisPing:
    return RedisPing(ctx.host, ctx.port("redis"), ctx.secrets["redis_password"])


# redis_exporter's metrics: near maxmemory, volatile-lru starts evicting features before their TTL
ALERTS = (
    AlertSpec(
        "RedisMemoryNearMax",
        "redis_memory_max_bytes > 0 and redis_memory_used_bytes / redis_memory_max_bytes > {threshold}",
        "Redis uses {{ $value | humanizePercentage }} of its maxmemory: features are evicted before they expire",
        wait="5m",
        threshold=0.9,
        measures="the share of maxmemory Redis uses (0-1)",
    ),
)


SERVICE = Service(
    spec=SPEC,
    secrets=(Secret("redis_password", "DEVSTACK_REDIS_PASSWORD"),),
    size=size,
    deadline_s=60,
    env=lambda ctx: container_env(ctx.me),
    files=files,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    alerts=ALERTS,
    # Limit: measured on the test bed after 3 minutes (18 MiB RSS, 10 MiB charged to its cgroup), with headroom.
    exporter=Exporter(
        "redis-exporter", NAME, "redis_exporter", 9121, 32, Image(f"oliver006/redis_exporter:{REDIS_EXPORTER_VERSION}")
    ),
)
