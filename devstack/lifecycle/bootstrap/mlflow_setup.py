"""Today's experiment (one per day: `<model>/<YYYY-MM-DD>`) and the registered model, through MLflow's REST API."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import CREATED, OK, UPDATED, Change
from devstack.services.mlflow import NAME as MLFLOW

SCHEME_TAG = "devstack.naming"
SCHEME = "one experiment per day: <model>/<YYYY-MM-DD>; runs register versions of <model>"


class NotFound(Exception):
    pass


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
    url = f"{base.rstrip('/')}/api/2.0/mlflow/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        if e.code == 404 or "RESOURCE_DOES_NOT_EXIST" in text:
            raise NotFound(text) from None
        raise EnvironmentProblem(f"MLflow refused {method} {path}: HTTP {e.code} {text.strip()[:300]}", "") from None
    except (urllib.error.URLError, OSError) as e:
        raise EnvironmentProblem(f"MLflow did not answer at {base}: {e}", "run `devstack status`.") from None


def apply(experiment: str, model: str, base: str) -> list[Change]:
    out = []
    try:
        exp = call(base, "GET", "experiments/get-by-name", experiment_name=experiment)["experiment"]
        action = OK
        if exp.get("lifecycle_stage") == "deleted":
            call(base, "POST", "experiments/restore", {"experiment_id": exp["experiment_id"]})
            action = UPDATED
        out.append(Change(MLFLOW, f"experiment {experiment}", action, "restored" if action == UPDATED else ""))
    except NotFound:
        exp_id = call(base, "POST", "experiments/create", {"name": experiment})["experiment_id"]
        call(
            base,
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": exp_id, "key": SCHEME_TAG, "value": SCHEME},
        )
        out.append(Change(MLFLOW, f"experiment {experiment}", CREATED, f"id {exp_id}"))
    try:
        call(base, "GET", "registered-models/get", name=model)
        out.append(Change(MLFLOW, f"registered model {model}", OK))
    except NotFound:
        call(
            base,
            "POST",
            "registered-models/create",
            {"name": model, "description": f"Daily models of the reference pipeline ({SCHEME})."},
        )
        out.append(Change(MLFLOW, f"registered model {model}", CREATED))
    return out
