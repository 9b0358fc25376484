"""Kafka's principals and their ACLs (services/kafka.py `principals`), through the admin API as the stack's admin.

A principal's SCRAM credential is normally in the cluster since its first start (the brokers' format writes every
one); one that is missing (a principal added by a later devstack) is created here. ACLs are added where missing and
never removed: an ACL a user added by hand stays. Each principal's ACLs are exact topic names for what it reads
and writes, prefixes for its consumer groups and for the topics it only describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.kafka_topics import TIMEOUT_S, admin_client
from devstack.lifecycle.bootstrap.report import CREATED, OK, Change
from devstack.services.kafka import NAME as KAFKA
from devstack.services.kafka import Login, Principal

SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-512, as kafka-configs.sh uses by default


def bindings(p: Principal) -> list[tuple[str, str, str, str]]:
    """(resource type, name, pattern type, operation) of every ACL `p` needs; all ALLOW, from any host. Read and
    Write imply Describe in Kafka, so only the topics it neither reads nor writes get a Describe of their own."""
    out = [("TOPIC", t, "LITERAL", "READ") for t in p.reads]
    out += [("TOPIC", t, "LITERAL", "WRITE") for t in p.writes]
    out += [("TOPIC", t, "PREFIXED", "DESCRIBE") for t in p.describes]
    # a consumer group is read (joined, committed) by a principal that reads topics; the others only describe it
    out += [("GROUP", g, "PREFIXED", "READ" if p.reads else "DESCRIBE") for g in p.groups]
    return out


def apply(principals: Sequence[Principal], passwords: Mapping[str, str], login: Login) -> list[Change]:
    """Every principal's credential and ACLs, added where missing. `passwords`: principal -> its password."""
    from confluent_kafka import KafkaException

    admin = admin_client(login)
    try:
        return _credentials(admin, principals, passwords) + _acls(admin, principals)
    except KafkaException as e:
        raise EnvironmentProblem(
            f"Kafka refused devstack's admin principal the access setup: {e}",
            "run `devstack status`; a stack made before Kafka had SASL needs `devstack down --volumes` and `up`.",
        ) from None


def _credentials(admin: Any, principals: Sequence[Principal], passwords: Mapping[str, str]) -> list[Change]:
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    known = set(admin.describe_user_scram_credentials(request_timeout=TIMEOUT_S).result())
    missing = [p.name for p in principals if p.name not in known]
    if missing:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upserts = [UserScramCredentialUpsertion(u, info, passwords[u].encode()) for u in missing]
        for f in admin.alter_user_scram_credentials(upserts, request_timeout=TIMEOUT_S).values():
            f.result()
    return [
        Change(KAFKA, f"principal {p.name}", CREATED if p.name in missing else OK, "SCRAM-SHA-512 credential")
        for p in principals
    ]


def _acls(admin: Any, principals: Sequence[Principal]) -> list[Change]:
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    # None matches any name, principal and host (the library's documented filter; its stubs say str)
    anything = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    existing = {
        (b.restype.name, b.name, b.resource_pattern_type.name, b.principal, b.operation.name)
        for b in admin.describe_acls(anything, request_timeout=TIMEOUT_S).result()
        if b.permission_type == AclPermissionType.ALLOW and b.host == "*"
    }
    out = []
    for p in principals:
        wanted = [(r, n, pt, f"User:{p.name}", op) for r, n, pt, op in bindings(p)]
        new = [w for w in wanted if w not in existing]
        if new:
            acls = [
                AclBinding(
                    ResourceType[r], n, ResourcePatternType[pt], who, "*", AclOperation[op], AclPermissionType.ALLOW
                )
                for r, n, pt, who, op in new
            ]
            for f in admin.create_acls(acls, request_timeout=TIMEOUT_S).values():
                f.result()
        if wanted:
            detail = ", ".join(
                f"{op.lower()} {r.lower()} {n}{'*' if pt == 'PREFIXED' else ''}" for r, n, pt, _, op in wanted
            )
            out.append(Change(KAFKA, f"ACLs of {p.name}", CREATED if new else OK, detail))
    return out
