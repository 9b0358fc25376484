"""Idempotent bootstrap: the topics, buckets, tables, experiment and feature TTL the pipeline expects.

`up` runs it once every service is healthy, and `devstack bootstrap` on demand. Each system is compared with
`spec_for(plan)` and only what is missing or different is changed, so a second run reports no changes and a
bucket, topic or table removed by hand comes back on the next run. Nothing is ever dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from devstack.lifecycle.bootstrap.report import Change
from devstack.lifecycle.bootstrap.spec import CLICKHOUSE, KAFKA, MINIO, MLFLOW, REDIS, Spec, spec_for
from devstack.planning.endpoints import environment
from devstack.planning.plan import Plan

__all__ = ["Change", "Spec", "run", "spec_for"]


def run(
    plan: Plan,
    secrets: dict[str, str],
    *,
    project: str,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Change]:
    from devstack.lifecycle.bootstrap import (
        buckets,
        clickhouse_schema,
        kafka_access,
        kafka_topics,
        minio_access,
        mlflow_setup,
        redis_features,
    )
    from devstack.services import minio
    from devstack.services.kafka import ADMIN, login, password_key

    spec = spec_for(plan, today or dt.datetime.now(dt.UTC).date())
    env = environment(plan, secrets)
    out: list[Change] = []
    steps: dict[str, Callable[[], list[Change]]] = {
        # the topics and ACLs are the admin principal's to make (the clients' may not)
        KAFKA: lambda: (
            kafka_topics.apply(spec.topics, login(env["KAFKA_BOOTSTRAP_SERVERS"], ADMIN, secrets))
            + kafka_access.apply(
                spec.principals,
                {p.name: secrets[password_key(p.name)] for p in spec.principals},
                login(env["KAFKA_BOOTSTRAP_SERVERS"], ADMIN, secrets),
            )
        ),
        # buckets, users and policies are the root user's to make (the clients' may only use their buckets)
        MINIO: lambda: (
            buckets.apply(spec.buckets, env["AWS_ENDPOINT_URL"], minio.USER, secrets["minio_password"])
            + minio_access.apply(
                _running(project, minio.NAME),
                spec.minio_clients,
                {c.name: secrets[minio.password_key(c.name)] for c in spec.minio_clients},
                secrets["minio_password"],
            )
        ),
        CLICKHOUSE: lambda: clickhouse_schema.apply(
            # the schema's DDL is the admin's: the clients' users may not create databases
            spec.schema,
            env["CLICKHOUSE_URL"],
            "default",
            secrets["clickhouse_password"],
        ),
        MLFLOW: lambda: mlflow_setup.apply(spec.experiment, spec.registered_model, env["MLFLOW_TRACKING_URI"]),
        REDIS: lambda: redis_features.apply(spec.feature_ttl_s, env["REDIS_URL"]),
    }
    for system in spec.systems():
        if progress:
            progress(system)
        out += steps[system]()
    return out


def _running(project: str, service: str) -> str:
    """The name of `service`'s running container in the stack (MinIO's admin tool runs inside it)."""
    from devstack.core.errors import EnvironmentProblem
    from devstack.runtime.engine.containers import ProjectContainers

    pc = ProjectContainers(project)
    try:
        names = [c.name for c in pc.states() if c.catalog == service and c.state == "running"]
    finally:
        pc.close()
    if not names:
        raise EnvironmentProblem(f"{service} is not running in {project}.", "run `devstack up` first.")
    return names[0]
