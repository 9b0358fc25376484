"""The notebooks on a real stack (the test images), run headless in order INSIDE JupyterLab's container, as a
user's kernel runs them: `up` (which also bootstraps topics, tables, buckets and the experiment), then each
notebook through nbclient (kernel python3); a failing cell fails the test with its error. Notebook 02 runs the
Spark job on the stack's Spark cluster with Spark's Kafka connector from Maven Central. Afterwards: every tick in
Kafka is in ClickHouse, bars and signals exist, and the model registry has a version."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO, run_cli, up_failed
from tests.notebook_runner import run_notebook
from tests.shifted_stack import config_path, shifted_env

pytestmark = pytest.mark.engine
STACK = "nbtest"
PROJECT = f"devstack-{STACK}"
SERVICES = "kafka,spark,clickhouse,postgres,minio,redis,mlflow,jupyter"
SHIFT = 22000  # every published port moved by a devstack.yaml: no other stack's ports are needed
# 10g: the smallest budget that gives Spark's executor and the kernel's driver the 450 MiB heap Spark insists on
# (8g plans 384m for both); one broker keeps the 2-core test machines responsive
BUDGET = "10g"
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 600


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        ["KAFKA", "SPARK", "CLICKHOUSE", "POSTGRES", "MINIO", "REDIS", "MLFLOW", "JUPYTER"],
        extra={"kafka": {"replicas": 1}},
    )
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def stack_env(env: dict[str, str]) -> dict[str, str]:
    config = config_path(env)
    up = ("up", "--services", SERVICES, "--budget", BUDGET, "--stack", STACK, "--config", config, "--json")
    r = run_cli(*up, env=env)
    assert r.returncode == 0, up_failed(r)
    assert json.loads(r.stdout)["ok"], up_failed(r)
    r = run_cli("bootstrap", "--stack", STACK, "--json", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    r = run_cli("env", "--stack", STACK, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _jupyter_container() -> str:
    r = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            "label=com.docker.compose.service=jupyter",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = r.stdout.split()
    assert len(ids) == 1, f"expected one jupyter container, found {ids}"
    return ids[0]


def _ch(e: dict[str, str], sql: str) -> str:
    q = urllib.parse.urlencode({"user": e["CLICKHOUSE_USER"], "password": e["CLICKHOUSE_PASSWORD"]})
    req = urllib.request.Request(f"{e['CLICKHOUSE_URL']}/?{q}", data=sql.encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(r.read().decode()).strip()


RESULTS: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(stack_env: dict[str, str], notebook: str) -> None:
    if notebook[:2] > "01":
        previous = [n for n in NOTEBOOKS if n < notebook]
        failed = [n for n in previous if not RESULTS.get(n, {}).get("ok")]
        if failed:
            pytest.fail(f"{notebook} needs the notebooks before it, and {', '.join(failed)} did not run")
    result = run_notebook(_jupyter_container(), notebook, CELL_TIMEOUT)
    RESULTS[notebook] = result
    assert result["ok"], f"{notebook} failed:\n{result['error']}"
    print(f"{notebook}: {result['seconds']} s")


def test_facts_after_the_notebooks(stack_env: dict[str, str]) -> None:
    if not all(RESULTS.get(n, {}).get("ok") for n in NOTEBOOKS):
        pytest.fail("the notebooks did not all run")
    e = stack_env
    ticks = int(_ch(e, "SELECT count() FROM market.ticks"))
    in_bars = int(_ch(e, "SELECT sum(trades) FROM market.ohlcv_1m"))
    bars = int(_ch(e, "SELECT count() FROM market.ohlcv_1m"))
    windows = int(_ch(e, "SELECT count() FROM market.signals FINAL"))
    signal_rows = int(_ch(e, "SELECT count() FROM market.signals"))
    produced = 200 + 2000  # notebooks 01 and 02
    print(
        f"ticks produced {produced}, in ClickHouse {ticks}, bars {bars}, signal windows {windows} ({signal_rows} rows)"
    )
    assert ticks == produced  # the topic held only the notebooks' ticks, each written once
    assert in_bars == ticks
    # 2,000 ticks of 4 symbols 1 s apart span 50 or 51 ten-second windows per symbol
    assert 4 * 50 <= windows <= 4 * 53, windows
    with urllib.request.urlopen(
        f"{e['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/registered-models/get?name=pattern-pursuit", timeout=30
    ) as r:
        model = json.load(r)["registered_model"]
    assert model.get("latest_versions"), model


UDF_JOB = """
import json, socket, sys
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf

spark = SparkSession.builder.appName("devstack-python-udf").getOrCreate()

@udf("string")
def where(_):
    import socket, sys
    return "%d.%d %s" % (sys.version_info[0], sys.version_info[1], socket.gethostname())

seen = sorted({r.w for r in spark.range(8).repartition(2).select(where("id").alias("w")).collect()})
squares = spark.sparkContext.parallelize(range(6), 2).map(lambda x: x * x).collect()
print(json.dumps({"driver": "%d.%d" % sys.version_info[:2], "executors": seen, "squares": squares}))
spark.stop()
"""


def test_a_python_udf_runs_on_the_clusters_executors(stack_env: dict[str, str]) -> None:
    """A notebook's Python UDF and RDD lambda run in the worker's Python, which must be the kernel's minor: Spark
    refuses a Python worker of another minor ("Python in worker has different version"). The driver is JupyterLab's
    kernel, as a user's is."""
    r = subprocess.run(
        ["docker", "exec", _jupyter_container(), "python", "-c", UDF_JOB],
        capture_output=True,
        text=True,
        timeout=CELL_TIMEOUT,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-6000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["squares"] == [0, 1, 4, 9, 16, 25], got
    assert got["executors"] == [f"{got['driver']} spark-worker"], got  # ran on the worker, in the driver's minor
