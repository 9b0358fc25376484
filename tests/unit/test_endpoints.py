"""Endpoints and exported variables come from the plan and the stack's secrets, and a plan survives plan.json."""

from __future__ import annotations

import json

from devstack.planning.catalog import SERVICE_NAMES
from devstack.planning.endpoints import endpoints, environment
from devstack.planning.plan import PlanRequest, make_plan, plan_from_dict
from devstack.planning.settings import ServiceSettings
from devstack.render.state import SECRET_NAMES

SECRETS = {n: f"s-{n}" for n in SECRET_NAMES}


def test_environment_names_every_endpoint_with_its_credentials() -> None:
    plan = make_plan(PlanRequest("full", SERVICE_NAMES, budget_mib=20 * 1024))
    env = environment(plan, SECRETS)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    # each client its own credentials (issue 15.3): the feature store's user, not Redis's admin
    assert env["REDIS_URL"] == "redis://features:s-redis_features_password@127.0.0.1:6379/0"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5050"
    # MinIO's notebooks user (its datasets and models, MLflow's artifacts to read), not the root user
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("notebooks", "s-minio_notebooks_password")
    assert env["POSTGRES_URL"] == "postgresql://devstack:s-postgres_password@127.0.0.1:5432/devstack"


def test_moved_ports_move_the_endpoints() -> None:
    plan = make_plan(
        PlanRequest("x", ("redis",), budget_mib=2048, settings={"redis": ServiceSettings(ports={"redis": 16379})})
    )
    assert endpoints(plan)[0].url == "redis://127.0.0.1:16379/0"
    assert all(e.secret_key != "" or e.service != "redis" for e in endpoints(plan))


def test_plan_round_trips_through_json() -> None:
    plan = make_plan(PlanRequest("full", SERVICE_NAMES, budget_mib=20 * 1024))
    assert plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
