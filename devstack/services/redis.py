"""Redis: the feature cache, with AOF persistence and key expiry, and redis_exporter for Prometheus."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote

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
    ports=(Port("redis", 6379, 6379, "redis"), Port("redis-tls", 6379, 8450, "rediss", "redis", NAME)),
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


# One Redis ACL user per client, each with only the keys and commands it needs (issue 15.3); `default` stays the
# stack's admin. The feature store's clients (the pipeline's scorer, bootstrap, notebooks) read and write feature
# hashes and the TTL record, with no command that flushes, lists every key or reconfigures the server; the
# exporter has redis_exporter's documented minimum; the health probe may only PING.
FEATURES_USER, EXPORTER_USER, PROBE_USER = "features", "exporter", "probe"
ACL = {
    FEATURES_USER: "resetkeys ~features:* ~devstack:features:* resetchannels -@all +@read +@write +@keyspace "
    "+@hash +@string +@connection +@transaction +ping -@dangerous",
    EXPORTER_USER: "allkeys -@all +client +ping +info +config|get +cluster|info +slowlog +latency +memory +select "
    "+get +scan +xinfo +type +pfcount +strlen +llen +scard +zcard +hlen +xlen +eval",
    PROBE_USER: "resetkeys -@all +ping",
}


def _secret(user: str) -> str:
    return f"redis_{user}_password"


def acl_users(secrets: Mapping[str, str]) -> str:
    """redis.conf's `user` lines: each client's rules, its password as SHA-256 (`#<hex>`)."""
    return "\n".join(
        f"user {u} on #{hashlib.sha256(secrets[_secret(u)].encode()).hexdigest()} {rules}" for u, rules in ACL.items()
    )


def files(ctx: Ctx) -> dict[str, str]:
    k = ctx.me.knobs
    return {
        "config/redis/redis.conf": template(
            "redis.conf",
            maxmemory=k["maxmemory"],
            maxmemory_policy=k["maxmemory-policy"],
            acl_users=acl_users(ctx.secrets),
        )
    }


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(NAME, ctx.url("redis", "/0", "redis"), FEATURES_USER, _secret(FEATURES_USER))


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    # the feature store's user, named in the URL (redis-cli 7 sends an empty user name for `redis://:pw@`); over
    # TLS, rediss:// with the CA as redis-py's `ssl_ca_certs` (from_url hands query arguments to the connection)
    scheme, rest = ep.url.split("://", 1)
    url = f"{scheme}://{FEATURES_USER}:{secrets[_secret(FEATURES_USER)]}@{rest}"
    return {"REDIS_URL": f"{url}?ssl_ca_certs={quote(ep.ca, safe='/')}" if ep.ca else url}


def probe(ctx: Ctx) -> RedisPing:
    return RedisPing(ctx.host, ctx.port("redis"), ctx.secrets[_secret(PROBE_USER)], PROBE_USER)


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
    secrets=(
        Secret("redis_password", "DEVSTACK_REDIS_PASSWORD"),
        Secret(_secret(FEATURES_USER), "DEVSTACK_REDIS_FEATURES_PASSWORD"),
        Secret(_secret(EXPORTER_USER), "DEVSTACK_REDIS_EXPORTER_PASSWORD"),
        Secret(_secret(PROBE_USER)),
    ),
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
