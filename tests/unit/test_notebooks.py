"""The notebooks as files: valid nbformat 4 JSON saved without outputs, endpoints only from the environment
names devstack sets, the pipeline's names equal to devstack.pipeline's; and the Spark job's pure parts."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack import pipeline
from devstack.planning.catalog import CATALOG
from devstack.planning.endpoints import environment
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.state import SECRET_NAMES

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
JOB = REPO / "devstack" / "pipeline" / "jobs" / "stream_features.py"
EXPECTED = [
    "01_kafka_produce_consume",
    "02_spark_streaming_to_clickhouse",
    "03_clickhouse_materialized_views",
    "04_mlflow_training",
    "05_serving_and_predicting",
    "06_redis_features",
]
# what notebooks may read: the endpoints `devstack env` prints (and compose/jupyter.yaml sets in the stack),
# the optional model server, and the flag JupyterLab's container sets
ENDPOINT_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_USERNAME",
    "KAFKA_PASSWORD",
    "SPARK_MASTER_URL",
    "CLICKHOUSE_URL",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "REDIS_URL",
}
# what `devstack env` adds on the host when the plan has the TLS proxy (JupyterLab, inside, dials the plain ports)
TLS_ENV = {"KAFKA_SSL_CA_LOCATION", "DEVSTACK_CA_CERT"}
ALLOWED_ENV = ENDPOINT_ENV | TLS_ENV | {"MODEL_SERVER_URL", "DEVSTACK_IN_STACK", "GIT_PYTHON_REFRESH"}
PIP_PINS = re.compile(r"^%pip install -q (.+)$", re.M)


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _code(nb: dict[str, Any]) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _python(nb: dict[str, Any]) -> str:
    """The notebook's code cells as one module, IPython magics left out."""
    return "\n".join(ln for src in _code(nb) for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!")))


def test_the_six_notebooks_are_there_in_order() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    readme = (REPO / "notebooks" / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert f"{name}.ipynb" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_valid_nbformat_4_without_outputs(path: Path) -> None:
    nb = _load(path)
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    ids = [c["id"] for c in nb["cells"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[A-Za-z0-9-_]{1,64}", i) for i in ids)
    for c in nb["cells"]:
        assert c["cell_type"] in ("markdown", "code")
        assert isinstance(c["source"], list) and all(isinstance(s, str) for s in c["source"])
        if c["cell_type"] == "code":
            assert c["execution_count"] is None and c["outputs"] == [], f"{path.name} was saved with outputs"
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    ast.parse(_python(nb), filename=path.name)  # every code cell is Python


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_endpoints_only_from_the_environment(path: Path) -> None:
    src = _python(_load(path))
    used = set(re.findall(r"os\.environ(?:\.get|\.setdefault)?[\[(]\s*[\"']([A-Z0-9_]+)[\"']", src))
    assert used, "a notebook reads its endpoints from the environment"
    assert used <= ALLOWED_ENV, used - ALLOWED_ENV
    # no endpoint written into the notebook: no host:port, no service host name
    assert not re.search(r"(localhost|127\.0\.0\.1|://(kafka|clickhouse|mlflow|minio|redis|spark)[-:\w]*)", src)
    assert re.search(r"os\.environ", src)


def test_the_endpoint_names_are_what_devstack_env_and_the_stack_set() -> None:
    services = ("kafka", "spark", "clickhouse", "minio", "redis", "mlflow", "jupyter")
    plan = make_plan(PlanRequest("full", services, budget_mib=20 * 1024))
    secrets = {k: "x" for k in SECRET_NAMES}
    assert set(environment(plan, secrets)) >= ENDPOINT_ENV
    with_tls = make_plan(PlanRequest("full", (*services, "tls"), budget_mib=20 * 1024))
    assert set(environment(with_tls, secrets, "/stack/tls/ca.crt")) >= ENDPOINT_ENV | TLS_ENV
    jupyter = (REPO / "compose" / CATALOG["jupyter"].compose_file).read_text(encoding="utf-8")  # type: ignore[operator]
    for name in ENDPOINT_ENV | {"DEVSTACK_IN_STACK"}:
        assert re.search(rf"^\s+{name}:", jupyter, re.M), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_installs_the_pinned_extras(path: Path) -> None:
    """The official image lacks confluent-kafka, redis, boto3 and mlflow-skinny: the first code cell installs
    them with the test image's pins (images/jupyter/constraints.txt), so both kernels run the same code."""
    first = _code(_load(path))[0].strip()
    lines = PIP_PINS.findall(first)
    assert lines and first.startswith("%pip"), first
    pins = dict(p.split("==") for line in lines for p in line.split())
    lock = (REPO / "tests" / "testbed" / "images" / "jupyter" / "constraints.txt").read_text(encoding="utf-8")
    image = dict(ln.split("==") for ln in lock.splitlines() if "==" in ln and not ln.startswith("#"))
    for name, version in pins.items():
        assert image.get(name) == version, f"{name}=={version} vs the test image's {image.get(name)}"
    assert pins["mlflow-skinny"] == "3.10.1"  # the stack's MLflow server


def _constants(src: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


PIPELINE_NAMES = {n: getattr(pipeline, n) for n in dir(pipeline) if n.isupper()}


@pytest.mark.parametrize("path", [*NOTEBOOKS, JOB], ids=lambda p: p.stem)
def test_names_agree_with_devstack_pipeline(path: Path) -> None:
    src = JOB.read_text(encoding="utf-8") if path == JOB else _python(_load(path))
    consts = _constants(src)
    shared = {n: v for n, v in consts.items() if n in PIPELINE_NAMES}
    for name, value in shared.items():
        assert value == PIPELINE_NAMES[name], (
            f"{path.name}: {name} = {value!r}, devstack.pipeline has {PIPELINE_NAMES[name]!r}"
        )
    if path != JOB:
        assert shared or "market." in src
    # table and topic names spelled out in SQL and code are the pipeline's
    for table in re.findall(r"\bmarket\.(\w+)", src):
        assert table in {"ticks", "signals", "ohlcv_1m", "bars_1m", "signal_rate_1m"}, table
    assert "pattern-pursuit" not in src or consts.get("MODEL_NAME") == pipeline.MODEL_NAME


def test_the_model_features_are_the_pipelines() -> None:
    for path in NOTEBOOKS:
        consts = _constants(_python(_load(path)))
        if "FEATURES" in consts:
            assert tuple(consts["FEATURES"]) == pipeline.FEATURES


# ---- the Spark job's pure parts (pyspark is not on the host: the DataFrame logic runs in the e2e) ----


@pytest.fixture(scope="module")
def job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stream_features", JOB)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["stream_features"] = mod
    spec.loader.exec_module(mod)
    assert "pyspark" not in sys.modules  # importable without pyspark: notebooks import it before Spark starts
    return mod


def test_job_columns_match_the_clickhouse_schema(job: ModuleType) -> None:
    sql = (REPO / "devstack" / "pipeline" / "clickhouse.sql").read_text(encoding="utf-8")

    def columns(table: str) -> list[str]:
        body = re.search(rf"CREATE TABLE IF NOT EXISTS market\.{table}\s*\((.*?)\)\s*ENGINE", sql, re.S)
        assert body
        return [ln.strip().split()[0] for ln in body.group(1).strip().splitlines() if ln.strip()]

    assert list(job.SIGNAL_COLUMNS) == columns("signals")
    assert list(job.TICK_COLUMNS) == columns("ticks")
    assert job.tick_schema_ddl() == "symbol STRING, ts_ms BIGINT, price DOUBLE, size BIGINT, seq BIGINT"
    assert job.TICKS_TOPIC == pipeline.TICKS_TOPIC and job.SIGNALS_TOPIC == pipeline.SIGNALS_TOPIC


def test_job_settings_from_the_environment(job: ModuleType) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:19092",
        "CLICKHOUSE_URL": "http://clickhouse:8123/",
        "CLICKHOUSE_PASSWORD": "s3cret",
        "SPARK_MASTER_URL": "spark://spark-master:7077",
        "SPARK_DRIVER_HOST": "stream-features",
    }
    s = job.settings(env)
    assert (s.kafka, s.clickhouse_url, s.clickhouse_user) == ("kafka-1:19092", "http://clickhouse:8123", "default")
    assert (s.master, s.driver_host, s.checkpoint_dir) == (
        "spark://spark-master:7077",
        "stream-features",
        "/tmp/devstack-checkpoints",
    )
    assert "s3cret" not in repr(s)
    assert job.settings(env, master="local[1]", checkpoint_dir="/c").master == "local[1]"
    import socket

    assert job.settings({k: v for k, v in env.items() if k != "SPARK_DRIVER_HOST"}).driver_host == socket.gethostname()
    with pytest.raises(SystemExit, match="KAFKA_BOOTSTRAP_SERVERS"):
        job.settings({"CLICKHOUSE_URL": "http://x"})


def test_job_clickhouse_insert_request(job: ModuleType) -> None:
    s = job.settings(
        {"KAFKA_BOOTSTRAP_SERVERS": "k:1", "CLICKHOUSE_URL": "http://ch:8123", "CLICKHOUSE_PASSWORD": "p w"}
    )
    req = job.clickhouse_request(s, job.insert_sql("ticks"), b"{}\n")
    assert req.get_method() == "POST" and req.data == b"{}\n"
    assert req.full_url.startswith("http://ch:8123/?query=INSERT+INTO+market.ticks+FORMAT+JSONEachRow&")
    assert "password=p+w" in req.full_url and "user=default" in req.full_url
    chunks = list(job.json_lines(json.dumps({"n": i}) for i in range(job.INSERT_CHUNK + 1)))
    assert len(chunks) == 2 and chunks[1] == b'{"n": %d}\n' % job.INSERT_CHUNK
    assert list(job.json_lines([])) == []


def test_job_arguments(job: ModuleType) -> None:
    a = job.parse_args(["--available-now", "--master", "local[1]"])
    assert a.available_now and a.master == "local[1]" and a.checkpoint_dir == ""
    assert not job.parse_args([]).available_now


def test_every_spark_app_takes_one_core() -> None:
    conf = (REPO / "compose" / "templates" / "jupyter-spark-defaults.conf").read_text(encoding="utf-8")
    assert re.search(r"^spark\.cores\.max\s+1$", conf, re.M)
    pkg = re.search(r"^spark\.jars\.packages\s+(\S+)$", conf, re.M)
    assert pkg and pkg.group(1) == "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0"
    src = JOB.read_text(encoding="utf-8")
    assert '.config("spark.cores.max", "1")' in src and f'"{pkg.group(1)}"' in src
    assert "spark.stop()" in src
    assert "spark.stop()" in "".join(_code(_load(REPO / "notebooks" / "02_spark_streaming_to_clickhouse.ipynb"))) or (
        "stream_features.main(" in "".join(_code(_load(REPO / "notebooks" / "02_spark_streaming_to_clickhouse.ipynb")))
    )
