"""Airflow 3's REST API (v2) from the host: sign in with the stack's admin, unpause and trigger a DAG, follow
its run. Standard library HTTP: the API is plain JSON behind a bearer token."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from devstack.core.errors import EnvironmentProblem

DONE = {"success", "failed"}


class Airflow:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self._user, self._password = user, password
        self._token = ""

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            if not self._token:
                self._token = self._login()
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace").strip()
            raise EnvironmentProblem(f"Airflow refused {method} {path}: HTTP {e.code} {text[:300]}", "") from None
        except (urllib.error.URLError, OSError) as e:
            raise EnvironmentProblem(f"Airflow did not answer at {self.url}: {e}", "run `devstack status`.") from None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One call of the v2 REST API (`path` after /api/v2)."""
        return self._request(method, f"/api/v2{path}", body)

    def _login(self) -> str:
        out = self._request("POST", "/auth/token", {"username": self._user, "password": self._password}, auth=False)
        return str(out["access_token"])

    def dag(self, dag_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/v2/dags/{dag_id}"))

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/v2/importErrors").get("import_errors", []))

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120) -> dict[str, Any]:
        """The DAG processor parses new files on its own schedule: wait until the DAG is known."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.dag(dag_id)
            except EnvironmentProblem as e:
                if "HTTP 404" not in e.cause or time.monotonic() > deadline:
                    errors = "; ".join(
                        f"{i.get('filename')}: {i.get('stack_trace', '')[-200:]}" for i in self.import_errors()
                    )
                    raise EnvironmentProblem(
                        f"Airflow does not know the DAG {dag_id} after {timeout_s:.0f}s"
                        + (f" (import errors: {errors})" if errors else ""),
                        "see `devstack logs airflow`.",
                    ) from None
            time.sleep(3)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": now, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        return str(self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")["state"])

    def active_runs(self, dag_id: str) -> list[str]:
        """Run ids of the DAG's runs that are queued or running (Airflow 3's API takes `state` more than once)."""
        quoted = urllib.parse.quote(dag_id, safe="")
        runs = self._request("GET", f"/api/v2/dags/{quoted}/dagRuns?state=queued&state=running&limit=100")
        return [str(r["dag_run_id"]) for r in runs.get("dag_runs", [])]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        quoted = urllib.parse.quote(run_id, safe="")
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]
        return {t["task_id"]: str(t["state"]) for t in tis}

    def wait_run(
        self, dag_id: str, run_id: str, timeout_s: float, on_state: Callable[[str], None] | None = None
    ) -> str:
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if on_state:
                on_state(state)
            if state in DONE:
                return state
            time.sleep(3)
        return state
