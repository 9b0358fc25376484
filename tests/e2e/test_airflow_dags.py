"""The training DAG in a real stack (PostgreSQL, Airflow, ClickHouse, MinIO, MLflow on the test images), brought up
through the CLI: Airflow parses it without import errors, and a run triggered through Airflow's REST API reads
synthetic signals from ClickHouse, trains, logs to MLflow in the day's experiment, registers a model version whose
artifacts land in MinIO, and moves `champion` exactly when its tags say it beat the baseline. train and promote run
in a venv of the DAG's pinned requirements that the first run builds from PyPI (uv) on the scheduler's airflow-venvs
volume and later runs reuse: the build time and a cached run's time are printed. The scheduler (where
LocalExecutor runs the tasks) stays within its planned memory while it builds and trains, is never restarted, and
is given no _PIP_ADDITIONAL_REQUIREMENTS (the official entrypoint kills such a container after 10 minutes)."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.pipeline import FEATURES, MLFLOW_BUCKET, MODEL_NAME, TRAINING_DAG, experiment_name
from devstack.runtime.airflow_api import Airflow as AirflowApi
from tests.conftest import run_cli
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "dagtest"
PROJECT = f"devstack-{STACK}"
SERVICES = "postgres,airflow,clickhouse,minio,mlflow"
# every published port moved by a devstack.yaml, as a user would: this stack never needs another one's ports
SHIFT = 21000
# the scheduler gets 768 MiB at 5g, as in the full profile at 16g (736 MiB at its 11.5g floor): training is
# measured at the size users get, not at a roomier one
BUDGET = "5g"
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
WINDOWS = 90  # one-minute windows per symbol: 360 rows, 356 of them labelled (a symbol's last has no next one)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"), SERVICES, SHIFT, ["POSTGRES", "AIRFLOW", "CLICKHOUSE", "MINIO", "MLFLOW"]
    )
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def stack(env: dict[str, str]) -> dict[str, str]:
    """The stack up and bootstrapped; the endpoints and credentials `devstack env` gives."""
    config = config_path(env)
    r = run_cli("up", "--services", SERVICES, "--budget", BUDGET, "--stack", STACK, "--config", config, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    r = run_cli("env", "--stack", STACK, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    endpoints = dict(json.loads(r.stdout))
    b = run_cli("bootstrap", "--stack", STACK, env=env)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-2000:]
    return endpoints


# ---- ClickHouse ---------------------------------------------------------------------------------------------
def _clickhouse(ep: dict[str, str], sql: str, data: bytes | None = None) -> str:
    params = {"user": ep["CLICKHOUSE_USER"], "password": ep["CLICKHOUSE_PASSWORD"]}
    if data is not None:
        params["query"] = sql
    url = f"{ep['CLICKHOUSE_URL'].rstrip('/')}/?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, data=data if data is not None else sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return str(r.read().decode())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"ClickHouse: {e.read().decode()[:500]}") from None


def _signal_rows(day: dt.date, seed: int = 7) -> tuple[list[str], list[str]]:
    """A day of one-minute windows per symbol whose returns follow an AR(1) (momentum: this window's return says
    something about the next one's sign), as TSV rows of market.signals; and stale earlier versions of some of
    them (lower updated_ms, nonsense values) that FINAL must hide."""
    rng = random.Random(seed)
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
    rows, stale = [], []
    for s in SYMBOLS:
        close, ret = 100.0, 0.0
        for i in range(WINDOWS):
            ret = 0.7 * ret + rng.gauss(0, 0.002)
            open_, close = close, close * (1 + ret)
            ws = start + 60 * i
            ticks = rng.randint(20, 200)
            vol, vwap = abs(rng.gauss(0, 0.001)) + abs(ret) / 2, (open_ + close) / 2
            cells = [s, ws, ws + 60, ticks, open_, close, vwap, ret, vol, (close - vwap) / vwap, (ws + 65) * 1000]
            rows.append("\t".join(str(c) for c in cells))
            if i % 9 == 0:  # written earlier, while the window was still open
                stale.append("\t".join(str(c) for c in [*cells[:5], 1e9, 1e9, 9.0, 9.0, 9.0, (ws + 30) * 1000]))
    return rows, stale


# ---- Airflow REST API v2 ------------------------------------------------------------------------------------
class Airflow(AirflowApi):
    """devstack's REST client, plus what only the test reads: task logs, durations and a failure report."""

    def __init__(self, ep: dict[str, str]) -> None:
        super().__init__(ep["AIRFLOW_URL"], ep["AIRFLOW_USER"], ep["AIRFLOW_PASSWORD"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """A task's log as Airflow's structured events (each with `event` and `timestamp`)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        content = self.call("GET", path).get("content", [])
        return [c if isinstance(c, dict) else {"event": str(c)} for c in content]

    def task_seconds(self, dag_id: str, run_id: str) -> dict[str, float]:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: float(ti["duration"] or 0) for ti in tis}

    def task_report(self, dag_id: str, run_id: str) -> str:
        """Each task's state, and the tail of a failed task's log."""
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        out = []
        for ti in tis:
            out.append(f"{ti['task_id']}: {ti['state']}")
            if ti["state"] not in ("success", None) and ti.get("try_number"):
                path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
                try:
                    content = self.call("GET", path + "?full_content=true").get("content", [])
                    lines = [c.get("event", str(c)) if isinstance(c, dict) else str(c) for c in content]
                    out += ["    " + line for line in lines[-40:]]
                except Exception as e:  # the report is a diagnosis aid: never hide the failure behind it
                    out.append(f"    (log unavailable: {e})")
        return "\n".join(out)


def _wait_for_scheduled_run(af: Airflow, timeout: float = 420) -> dict[str, Any]:
    """The scheduled run the scheduler creates on unpause, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = af.call("GET", f"/dags/{TRAINING_DAG}/dagRuns")["dag_runs"]
        done = [r for r in runs if r["run_type"] == "scheduled" and r["state"] in ("success", "failed")]
        if done:
            return dict(done[0])
        time.sleep(5)
    raise AssertionError(f"no scheduled run of {TRAINING_DAG} finished within {timeout} s")


# ---- MLflow and MinIO ---------------------------------------------------------------------------------------
def _mlflow(ep: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    url = f"{ep['MLFLOW_TRACKING_URI'].rstrip('/')}/api/2.0/mlflow{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


SCHEDULER = f"{PROJECT}-airflow-scheduler-1"
# the scheduler's cgroup (v2, else v1): memory in use without the page cache (which the venv's files fill, and
# which the kernel reclaims at the limit), the limit, and the OOM kills so far
_MEMORY_SCRIPT = (
    "if [ -f /sys/fs/cgroup/memory.max ]; then cd /sys/fs/cgroup;"
    " echo $(grep '^anon ' memory.stat | cut -d' ' -f2) $(cat memory.max)"
    " $(grep oom_kill memory.events | cut -d' ' -f2);"
    " else cd /sys/fs/cgroup/memory; echo $(grep '^total_rss ' memory.stat | cut -d' ' -f2)"
    " $(cat memory.limit_in_bytes) $(grep oom_kill memory.oom_control | cut -d' ' -f2); fi"
)


class SchedulerMemory:
    """Samples the scheduler's memory (without page cache) in a thread, until stopped: every 0.2 s from the host's
    cgroup files when this test runs beside the engine (training takes seconds), else every 2 s through exec."""

    def __init__(self) -> None:
        self.peak, self.limit, self.oom_kills = 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        cid = _scheduler_inspect()["Id"]
        dirs = [
            Path(f"/sys/fs/cgroup/memory/docker/{cid}"),  # v1, cgroupfs driver
            Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"),  # v2, systemd driver
            Path(f"/sys/fs/cgroup/docker/{cid}"),  # v2, cgroupfs driver
        ]
        self._host = next((d for d in dirs if (d / "memory.stat").is_file()), None)
        self.interval = 0.2 if self._host else 2.0

    def _read_host(self, d: Path) -> list[str]:
        stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
        if (d / "memory.max").is_file():
            events = dict(line.split() for line in (d / "memory.events").read_text().splitlines())
            return [stat["anon"], (d / "memory.max").read_text().strip(), events.get("oom_kill", "0")]
        oom = dict(line.split() for line in (d / "memory.oom_control").read_text().splitlines())
        return [stat["total_rss"], (d / "memory.limit_in_bytes").read_text().strip(), oom.get("oom_kill", "0")]

    def sample(self) -> None:
        if self._host:
            parts = self._read_host(self._host)
        else:
            cmd = ["docker", "exec", SCHEDULER, "sh", "-c", _MEMORY_SCRIPT]
            r = subprocess.run(cmd, capture_output=True, text=True)
            parts = r.stdout.split() if r.returncode == 0 else []
        if len(parts) >= 2:
            self.peak, self.limit = max(self.peak, int(parts[0])), int(parts[1])
            self.oom_kills = int(parts[2]) if len(parts) > 2 else 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> SchedulerMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _scheduler_inspect() -> dict[str, Any]:
    r = subprocess.run(["docker", "inspect", SCHEDULER], capture_output=True, text=True, check=True)
    return dict(json.loads(r.stdout)[0])


def _event_time(events: list[dict[str, Any]], text: str) -> dt.datetime:
    hit = next((e for e in events if text in str(e.get("event", ""))), None)
    assert hit is not None and hit.get("timestamp"), (text, [e.get("event") for e in events][-30:])
    return dt.datetime.fromisoformat(str(hit["timestamp"]).replace("Z", "+00:00"))


# ---- the test -----------------------------------------------------------------------------------------------
def test_training_dag_trains_registers_and_promotes(stack: dict[str, str]) -> None:
    ep = stack
    day = dt.datetime.now(dt.UTC).date()
    logical = dt.datetime.now(dt.UTC).replace(microsecond=0)

    # the DAG is parsed, with no import errors
    af = Airflow(ep)
    dag = af.wait_for_dag(TRAINING_DAG, 180)
    errors = af.call("GET", "/importErrors")
    assert errors["total_entries"] == 0, errors
    assert dag["is_paused"] is True  # new DAGs start paused (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION)

    # a day of signals, some windows written twice: the newest version must win
    rows, stale = _signal_rows(day)
    insert = "INSERT INTO market.signals FORMAT TabSeparated"
    _clickhouse(ep, insert, ("\n".join(stale) + "\n").encode())
    _clickhouse(ep, insert, ("\n".join(rows) + "\n").encode())
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
    stored = _clickhouse(ep, "SELECT count(), min(toUInt32(window_start)) FROM market.signals FINAL WHERE close < 1e8")
    assert stored.split() == [str(len(SYMBOLS) * WINDOWS), str(start)], stored

    # unpaused, the scheduler runs the last complete day at once (catchup=False still runs the latest interval):
    # yesterday has no rows, so that run trains on every day's. Let it finish, so this test's run promotes last.
    # The first run builds the venv of train and promote (PyPI, uv) onto the airflow-venvs volume; this run reuses it.
    env = _scheduler_inspect()["Config"]["Env"]
    assert not [e for e in env if e.startswith("_PIP_ADDITIONAL_REQUIREMENTS=")], env
    with SchedulerMemory() as memory:
        af.call("PATCH", f"/dags/{TRAINING_DAG}", {"is_paused": False})
        # what `devstack demo` waits out before serving: the scheduled run, listed while queued or running
        deadline, active = time.monotonic() + 120, []
        while not active and time.monotonic() < deadline:
            active = af.active_runs(TRAINING_DAG)
            time.sleep(1)
        scheduled = _wait_for_scheduled_run(af, timeout=900)
        assert active == [scheduled["dag_run_id"]], active
        assert af.active_runs(TRAINING_DAG) == []
        assert scheduled["state"] == "success", af.task_report(TRAINING_DAG, scheduled["dag_run_id"])
        logical_z = logical.isoformat().replace("+00:00", "Z")
        run = af.call("POST", f"/dags/{TRAINING_DAG}/dagRuns", {"logical_date": logical_z})
        run_id = run["dag_run_id"]
        deadline, state = time.monotonic() + 600, run["state"]
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(5)
            state = af.call("GET", f"/dags/{TRAINING_DAG}/dagRuns/{run_id}")["state"]
        assert state == "success", f"run {run_id} is {state}:\n{af.task_report(TRAINING_DAG, run_id)}"

    # the venv: built by the first run's train, reused by its promote and by every task of the second run
    first = af.task_log(TRAINING_DAG, scheduled["dag_run_id"], "train")
    build = _event_time(first, "New Python virtual environment created") - _event_time(first, "will be cached in")
    for task_id in ("promote",):
        assert any(
            "Reusing cached Python virtual environment" in str(e.get("event"))
            for e in af.task_log(TRAINING_DAG, scheduled["dag_run_id"], task_id)
        ), task_id
    for task_id in ("train", "promote"):
        events = af.task_log(TRAINING_DAG, run_id, task_id)
        assert any("Reusing cached Python virtual environment" in str(e.get("event")) for e in events), task_id
    first_s, second_s = af.task_seconds(TRAINING_DAG, scheduled["dag_run_id"]), af.task_seconds(TRAINING_DAG, run_id)
    xcom = af.call("GET", f"/dags/{TRAINING_DAG}/dagRuns/{run_id}/taskInstances/promote/xcomEntries/return_value")
    result = xcom["value"] if isinstance(xcom["value"], dict) else json.loads(xcom["value"])

    # MLflow: the day's experiment holds the run, with its metrics and the verdict in its tags
    exp = _mlflow(
        ep, "GET", "/experiments/get-by-name?" + urllib.parse.urlencode({"experiment_name": experiment_name(day)})
    )
    exp_id = exp["experiment"]["experiment_id"]
    runs = _mlflow(ep, "POST", "/runs/search", {"experiment_ids": [exp_id]})["runs"]
    mrun = next(r for r in runs if r["info"]["run_id"] == result["run_id"])
    metrics = {m["key"]: m["value"] for m in mrun["data"]["metrics"]}
    tags = {t["key"]: t["value"] for t in mrun["data"]["tags"]}
    params = {p["key"]: p["value"] for p in mrun["data"]["params"]}
    assert {"accuracy", "baseline_accuracy", "rows", "train_rows", "test_rows"} <= set(metrics), metrics
    # the newest version of each window, the day's only, and every symbol's last window unlabelled
    assert metrics["rows"] == len(SYMBOLS) * (WINDOWS - 1) and params["data_scope"] == "day", (metrics, params)
    assert metrics["train_rows"] + metrics["test_rows"] == metrics["rows"]
    assert params["features"] == ",".join(FEATURES)
    beats = metrics["accuracy"] > metrics["baseline_accuracy"]
    assert tags["beats_baseline"] == tags["champion"] == str(beats).lower(), tags
    assert tags["airflow.run_id"] == run_id

    # the registry: a version from this run, and `champion` on it exactly when it beat the baseline
    found = _mlflow(ep, "GET", "/model-versions/search?" + urllib.parse.urlencode({"filter": f"name='{MODEL_NAME}'"}))
    versions = {v["version"]: v for v in found["model_versions"]}
    version = versions[result["version"]]
    assert version["run_id"] == result["run_id"], version
    alias = f"/registered-models/alias?{urllib.parse.urlencode({'name': MODEL_NAME, 'alias': 'champion'})}"
    try:
        champion = _mlflow(ep, "GET", alias)["model_version"]["version"]
    except urllib.error.HTTPError:
        champion = None
    assert (champion == result["version"]) == beats, (champion, result)

    # MinIO: the model's files, under the experiment's prefix of MLflow's bucket
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=ep["AWS_ENDPOINT_URL"],
        aws_access_key_id=ep["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ep["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    listing = s3.list_objects_v2(Bucket=MLFLOW_BUCKET, Prefix=f"{exp_id}/")
    keys = [o["Key"] for o in listing.get("Contents", [])]
    for name in ("MLmodel", "model.pkl", "input_example.json"):
        assert any(k.endswith(f"/{name}") for k in keys), (name, keys)
    mlmodel_key = next(k for k in keys if k.endswith("/MLmodel"))
    mlmodel = s3.get_object(Bucket=MLFLOW_BUCKET, Key=mlmodel_key)["Body"].read().decode()
    for feature in FEATURES:  # the signature names the columns MLServer's MLflow runtime expects
        assert f'\\"name\\": \\"{feature}\\"' in mlmodel or f'"name": "{feature}"' in mlmodel, mlmodel

    assert memory.limit and memory.peak < memory.limit, (memory.peak, memory.limit)
    assert memory.oom_kills == 0, memory.oom_kills
    assert _scheduler_inspect()["RestartCount"] == 0  # never killed nor restarted while it built and trained
    peak, limit = memory.peak, memory.limit
    print(
        f"\n{TRAINING_DAG} run {run_id}: {int(metrics['rows'])} rows ({int(metrics['train_rows'])} train, "
        f"{int(metrics['test_rows'])} held out), accuracy {metrics['accuracy']:.4f} vs baseline "
        f"{metrics['baseline_accuracy']:.4f}, {MODEL_NAME} version {result['version']}, champion: {champion}; "
        f"{len(keys)} objects in s3://{MLFLOW_BUCKET}/{exp_id}/; "
        f"scheduler peak {peak / 2**20:.0f} MiB (without page cache, sampled every {memory.interval} s) of "
        f"{limit / 2**20:.0f} MiB over both runs, "
        f"no OOM kill, no restart; the scheduled run {scheduled['dag_run_id']} for {scheduled['logical_date'][:10]}: "
        f"{scheduled['state']}"
        f"\nvenv (uv, PyPI) built in {build.total_seconds():.1f} s by the first run's train; task seconds, first run "
        f"(builds): {_fmt(first_s)}; second run (cached): {_fmt(second_s)}"
    )


def _fmt(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(seconds.items()))


def test_too_little_data_fails_with_one_message(stack: dict[str, str]) -> None:
    """A day with a handful of rows, and nothing else in the table: the extract task fails saying why."""
    ep = stack
    _clickhouse(ep, "TRUNCATE TABLE market.signals")
    rows, _ = _signal_rows(dt.date(2026, 1, 2))
    _clickhouse(ep, "INSERT INTO market.signals FORMAT TabSeparated", ("\n".join(rows[:5]) + "\n").encode())
    af = Airflow(ep)
    af.wait_for_dag(TRAINING_DAG, 180)
    af.call("PATCH", f"/dags/{TRAINING_DAG}", {"is_paused": False})
    run = af.call("POST", f"/dags/{TRAINING_DAG}/dagRuns", {"logical_date": "2026-01-02T12:00:00Z"})
    run_id = run["dag_run_id"]
    deadline, state = time.monotonic() + 300, run["state"]
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(5)
        state = af.call("GET", f"/dags/{TRAINING_DAG}/dagRuns/{run_id}")["state"]
    report = af.task_report(TRAINING_DAG, run_id)
    assert state == "failed", report
    assert "extract: failed" in report and "not enough data to train: 4 labelled rows" in report, report
    print(f"\ntoo little data: run {run_id} failed as it should:\n{report[-800:]}")


DEFERRED_DAG = "devstack_deferred_sensor"


def test_a_deferred_sensor_resumes_through_the_triggerer(stack: dict[str, str], env: dict[str, str]) -> None:
    """Deferrable operators and sensors (the default of many providers) hand their wait to the triggerer and
    resume only when it fires: without one the task stays `deferred` for ever. The sensor waits for a time 45 s
    after its run started, so it always defers (a task starts within seconds of its run here)."""
    dags = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "config" / "airflow" / "dags"
    (dags / f"{DEFERRED_DAG}.py").write_text(
        "import datetime as dt\n"
        "from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync\n"
        "from airflow.sdk import dag\n\n\n"
        f"@dag(dag_id={DEFERRED_DAG!r}, schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False)\n"
        "def deferred():\n"
        "    DateTimeSensorAsync(task_id='wait', target_time='{{ dag_run.start_date + macros.timedelta(seconds=45) }}')"
        "\n\n\n"
        "deferred()\n",
        encoding="utf-8",
    )
    af = Airflow(stack)
    af.wait_for_dag(DEFERRED_DAG, timeout_s=300)
    run_id = af.trigger(DEFERRED_DAG)
    seen: list[str] = []
    deadline = time.monotonic() + 600
    state = ""
    while time.monotonic() < deadline:
        ti = af.call("GET", f"/dags/{DEFERRED_DAG}/dagRuns/{run_id}/taskInstances/wait")
        state = str(ti.get("state"))
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in ("success", "failed", "upstream_failed", "skipped"):
            break
        time.sleep(2)
    print(f"\nthe sensor's states: {' -> '.join(seen)}")
    assert state == "success", f"{seen} ({af.task_report(DEFERRED_DAG, run_id)})"
    assert "deferred" in seen, seen


def test_the_dag_processor_looks_for_new_files_every_30s(stack: dict[str, str]) -> None:
    """Airflow's default looks for new DAG files every 300 s: a DAG a user just wrote would not be listed for up to
    5 minutes. What Airflow makes of the DAG processor's own configuration (its image, environment, mounts and
    user), not what the Compose file says. Asked in a container of its own: a second Airflow process inside the
    processor's memory limit (288 MiB at this budget) was OOM-killed there, with the processor parsing beside it."""
    processor = f"{PROJECT}-airflow-dag-processor-1"
    info = json.loads(subprocess.run(["docker", "inspect", processor], capture_output=True, text=True).stdout)[0]
    get = ["docker", "run", "--rm", "--network", "none", "--volumes-from", processor]
    get += ["--user", info["Config"]["User"]] if info["Config"]["User"] else []
    for var in info["Config"]["Env"]:
        get += ["-e", var]
    get += ["--entrypoint", "airflow", info["Config"]["Image"]]
    get += ["config", "get-value", "dag_processor", "refresh_interval"]
    r = subprocess.run(get, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "30", r.stdout


def _run_healthcheck(of: str, inside: str, hostname: str) -> tuple[int, int, str]:
    """`of`'s Compose healthcheck, run as Docker runs it (its test from `docker inspect`: CMD or CMD-SHELL) but
    in container `inside` with `of`'s hostname, since a paused container cannot exec: its exit code, the peak
    memory (KiB) of the processes it started, and its output."""
    test = json.loads(subprocess.run(["docker", "inspect", of], capture_output=True, text=True).stdout)[0]["Config"][
        "Healthcheck"
    ]["Test"]
    argv = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    measure = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, (r.stdout + r.stderr)[-300:])"
    )
    r = subprocess.run(
        ["docker", "exec", "-e", f"HOSTNAME={hostname}", inside, "python", "-c", measure, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    code, kib, out = r.stdout.split(" ", 2)
    return int(code), int(kib), out


def test_the_dag_processor_and_triggerer_healthchecks_are_the_heartbeat_test_and_cheap(stack: dict[str, str]) -> None:
    """Each one says whether its own job heartbeat in time, as `airflow jobs check` does, without importing Airflow:
    that command took 100 MB more inside the triggerer's 320 MiB while it started on a busy machine, and the kernel
    OOM-killed the triggerer (the parallel test run, the kernel's memcg log). The processor is paused past its
    threshold (2.1 heartbeats, 10.5 s): its check must say so, and cheaply too (the old check then fell back to
    `airflow jobs check`), and pass again once it heartbeats."""
    processor, triggerer = f"{PROJECT}-airflow-dag-processor-1", f"{PROJECT}-airflow-triggerer-1"

    def hostname(c: str) -> str:
        return subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Hostname}}", c], capture_output=True, text=True
        ).stdout.strip()

    code, kib, out = _run_healthcheck(triggerer, processor, hostname(triggerer))
    assert code == 0 and kib < 64 * 1024, (code, kib, out)
    code, kib, out = _run_healthcheck(processor, triggerer, hostname(processor))
    assert code == 0 and kib < 64 * 1024, (code, kib, out)
    subprocess.run(["docker", "pause", processor], check=True, capture_output=True)
    try:
        time.sleep(15)
        code, kib, out = _run_healthcheck(processor, triggerer, hostname(processor))
    finally:
        subprocess.run(["docker", "unpause", processor], check=True, capture_output=True)
    assert kib < 64 * 1024, f"a failing check cost {kib} KiB: {out}"
    assert code != 0 and "no alive DagProcessorJob" in out, (code, out)
    deadline = time.monotonic() + 120
    while (code := _run_healthcheck(processor, triggerer, hostname(processor))[0]) != 0:
        assert time.monotonic() < deadline, "the DAG processor's check did not pass again within 120 s of unpausing"
        time.sleep(3)
