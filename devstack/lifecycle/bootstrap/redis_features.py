"""Feature keys expire: bootstrap records the TTL writers use and gives one to any feature key that lost it."""

from __future__ import annotations

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import OK, UPDATED, Change
from devstack.pipeline import FEATURE_KEY_PREFIX, FEATURE_TTL_KEY
from devstack.services.redis import NAME as REDIS


def apply(ttl_s: int, redis_url: str) -> list[Change]:
    import redis

    r = redis.Redis.from_url(redis_url, socket_timeout=10, decode_responses=True)
    try:
        out = []
        raw = r.get(FEATURE_TTL_KEY)
        # str with decode_responses=True; redis-py 8.1's types cannot tell, so say it here rather than cast
        have = raw.decode() if isinstance(raw, bytes) else raw
        if have != str(ttl_s):
            r.set(FEATURE_TTL_KEY, ttl_s)
            out.append(Change(REDIS, FEATURE_TTL_KEY, UPDATED, f"feature TTL {have or 'unset'} -> {ttl_s} s"))
        else:
            out.append(Change(REDIS, FEATURE_TTL_KEY, OK, f"feature TTL {ttl_s} s"))
        # a key written without EXPIRE would live forever (Redis has no TTL per key prefix)
        fixed = 0
        for key in r.scan_iter(match=f"{FEATURE_KEY_PREFIX}*", count=500):
            if r.ttl(key) == -1:
                r.expire(key, ttl_s)
                fixed += 1
        if fixed:
            out.append(Change(REDIS, f"{FEATURE_KEY_PREFIX}*", UPDATED, f"{fixed} keys without a TTL now expire"))
        return out
    except redis.RedisError as e:
        raise EnvironmentProblem(f"Redis refused: {e}", "run `devstack status`.") from None
    finally:
        r.close()
