"""The reference DAGs run inside Airflow, where devstack is not installed: they carry devstack.pipeline's names as
their own constants. These tests read the files with `ast` (no Airflow on the host) and check that the names agree,
that every DAG file compiles, and that the heavy libraries reach Airflow only through the pinned venv of
@task.virtualenv tasks, never through the image nor _PIP_ADDITIONAL_REQUIREMENTS (the official image's entrypoint
kills a container that sets it after 10 minutes)."""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import pipeline
from tests.model_runtime import model_runtime_pins

DAGS = Path(pipeline.__file__).parent / "dags"
TRAINING = DAGS / "pattern_pursuit_daily.py"
HEAVY = {"pandas", "numpy", "sklearn", "mlflow", "scipy"}
REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose" / "airflow.yaml"
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\d+(\.\d+)*$")  # name==version, nothing looser


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level NAME = <literal> assignments."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def test_every_dag_file_compiles() -> None:
    files = sorted(DAGS.glob("*.py"))
    assert TRAINING in files
    for path in files:
        compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    "name", ["TRAINING_DAG", "CLICKHOUSE_DB", "MODEL_NAME", "EXPERIMENT_PREFIX", "FEATURES", "LABEL"]
)
def test_training_dag_carries_the_pipeline_names(name: str) -> None:
    consts = _constants(_tree(TRAINING))
    assert name in consts, f"{TRAINING.name} has no module-level {name} = <literal>"
    assert consts[name] == getattr(pipeline, name)


def test_training_dag_id_is_the_shared_name() -> None:
    calls = [n for n in ast.walk(_tree(TRAINING)) if isinstance(n, ast.Call)]
    dag_ids = [kw.value for c in calls for kw in c.keywords if kw.arg == "dag_id"]
    assert len(dag_ids) == 1 and isinstance(dag_ids[0], ast.Name) and dag_ids[0].id == "TRAINING_DAG"
    catchup = [kw.value for c in calls for kw in c.keywords if kw.arg == "catchup"]
    assert [ast.literal_eval(v) for v in catchup] == [False]


def test_training_dag_names_experiments_as_devstack_does() -> None:
    tree = _tree(TRAINING)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "experiment_name")
    consts = {k: v for k, v in _constants(tree).items() if k == "EXPERIMENT_PREFIX"}
    scope: dict[str, Any] = {"dt": dt, **consts}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(TRAINING), "exec"), scope)
    for day in (dt.date(2026, 1, 1), dt.date(2026, 11, 23)):
        assert scope["experiment_name"](day) == pipeline.experiment_name(day)


def test_dag_files_do_not_import_devstack() -> None:
    for path in sorted(DAGS.glob("*.py")):
        top = [a.name.split(".")[0] for n in _tree(path).body if isinstance(n, ast.Import) for a in n.names]
        top += [n.module.split(".")[0] for n in _tree(path).body if isinstance(n, ast.ImportFrom) and n.module]
        assert "devstack" not in top, f"{path.name} imports devstack, which Airflow does not have"


def _is_venv_task(fn: ast.FunctionDef) -> bool:
    """Decorated with @task.virtualenv(...)."""
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Attribute) and target.attr == "virtualenv":
            return True
    return False


def _venv_tasks(tree: ast.Module) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and _is_venv_task(n)]


def _decorator_kwargs(fn: ast.FunctionDef) -> dict[str, ast.expr]:
    call = next(d for d in fn.decorator_list if isinstance(d, ast.Call))
    return {kw.arg: kw.value for kw in call.keywords if kw.arg}


def test_heavy_libraries_are_imported_in_venv_tasks_only() -> None:
    """Airflow's image has no pandas, scikit-learn nor mlflow: only a venv task (its own interpreter) may import
    them, and the module level never does (the dag-processor imports the file every 30 s or so)."""
    for path in sorted(DAGS.glob("*.py")):
        tree = _tree(path)
        inside = {id(n) for fn in _venv_tasks(tree) for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if id(node) in inside:
                continue
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not HEAVY & set(names), f"{path.name}:{node.lineno} imports {HEAVY & set(names)} outside a venv task"


def test_training_venv_requirements_are_pinned() -> None:
    reqs = model_runtime_pins()
    assert reqs and all(PIN.match(r) for r in reqs), reqs
    pins = dict(r.split("==") for r in reqs)
    assert {"mlflow-skinny", "scikit-learn", "pandas"} <= set(pins), pins
    # the client matches the stack's MLflow server
    server = re.search(r"ghcr\.io/mlflow/mlflow:v([\d.]+)", (REPO / "compose" / "mlflow.yaml").read_text())
    assert server and pins["mlflow-skinny"] == server.group(1), (pins, server)
    # every venv task uses those pins, without the system site (so nothing leaks in from Airflow's image), and a
    # cache on the scheduler's venv volume, so only the first run builds it
    tasks = _venv_tasks(_tree(TRAINING))
    assert {fn.name for fn in tasks} == {"train", "promote"}
    for fn in tasks:
        kw = _decorator_kwargs(fn)
        assert isinstance(kw["requirements"], ast.Name) and kw["requirements"].id == "TRAIN_REQUIREMENTS", fn.name
        assert ast.literal_eval(kw["system_site_packages"]) is False, fn.name
        assert isinstance(kw["venv_cache_path"], ast.Name) and kw["venv_cache_path"].id == "VENV_CACHE", fn.name


def test_venv_tasks_are_self_contained() -> None:
    """A venv task runs as a script of its own source: every name it uses is its own (argument, local, import
    inside) or a builtin, never one of the DAG module's."""
    for path in sorted(DAGS.glob("*.py")):
        for fn in _venv_tasks(_tree(path)):
            bound = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
            loaded = set()
            for node in (n for part in (fn.args, *fn.body) for n in ast.walk(part)):  # not the decorator
                if isinstance(node, ast.Name):
                    (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
                elif isinstance(node, ast.alias):
                    bound.add((node.asname or node.name).split(".")[0])
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.ExceptHandler)) and node.name:
                    bound.add(node.name)
                elif isinstance(node, ast.arg):
                    bound.add(node.arg)
            free = loaded - bound - set(dir(builtins))
            assert not free, f"{path.name}: {fn.name} uses module names {sorted(free)}, unseen in its venv"


def test_compose_sets_no_pip_additional_requirements() -> None:
    """The official entrypoint pip-installs _PIP_ADDITIONAL_REQUIREMENTS at every start and then kills the
    container after 600 s: devstack must not set it for any Airflow container."""
    doc = yaml.safe_load(COMPOSE.read_text())
    envs = {"x-airflow": doc["x-airflow"]["environment"]}
    envs |= {name: svc.get("environment") or {} for name, svc in doc["services"].items()}
    for name, env in envs.items():
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env, name


def test_scheduler_keeps_the_venvs_on_a_volume_it_can_write() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    cache = _constants(_tree(TRAINING))["VENV_CACHE"]
    assert f"airflow-venvs:{cache}" in doc["services"]["airflow-scheduler"]["volumes"]
    assert "airflow-venvs" in doc["volumes"]
    # a new named volume is root's: the init job hands it to the airflow user (50000, group 0) first
    init = doc["services"]["airflow-init"]
    assert f"airflow-venvs:{cache}" in init["volumes"] and init["user"] == "0:0"
    script = " ".join(init["command"])
    assert f"chown 50000:0 {cache}" in script and "setpriv --reuid=50000" in script and "db migrate" in script


def _labelled_fn() -> Any:
    tree = _tree(TRAINING)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_labelled")
    scope: dict[str, Any] = {"Any": Any, **{k: v for k, v in _constants(tree).items() if k in ("FEATURES", "LABEL")}}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(TRAINING), "exec"), scope)
    return scope["_labelled"]


def test_extract_labels_rows_with_the_standard_library() -> None:
    """extract runs in Airflow's own environment (no pandas): labels per symbol, in time order, from the next
    window's close; a symbol's last window and rows with a non-finite feature are dropped."""
    labelled = _labelled_fn()
    head = "\t".join(["symbol", "ts", "close", *pipeline.FEATURES])
    rows = [
        ("BBB", 120, 10.0, "0.1", "0.2", "0.3", "5"),
        ("AAA", 60, 2.0, "0.1", "0.2", "0.3", "5"),
        ("AAA", 0, 1.0, "0.1", "0.2", "0.3", "5"),
        ("BBB", 60, 11.0, "nan", "0.2", "0.3", "5"),
        ("AAA", 120, 1.5, "0.1", "inf", "0.3", "5"),
        ("BBB", 0, 12.0, "-0.1", "0.2", "0.3", "7"),
        ("AAA", 180, 1.0, "0.1", "0.2", "0.3", "5"),
    ]
    tsv = "\n".join([head, *("\t".join(str(c) for c in r) for r in rows)]) + "\n"
    got = labelled(tsv)
    assert list(got) == ["symbol", "ts", *pipeline.FEATURES, pipeline.LABEL]
    # AAA 0 -> 60 up, AAA 60 -> 120 down, AAA 120 has inf (dropped), AAA 180 last; BBB 0 -> 60 down, BBB 60 nan,
    # BBB 120 last
    assert list(zip(got["symbol"], got["ts"], got[pipeline.LABEL], strict=True)) == [
        ("AAA", 0, 1),
        ("AAA", 60, 0),
        ("BBB", 0, 0),
    ]
    assert got["ticks"] == [5.0, 5.0, 7.0] and all(isinstance(v, float) for v in got["ret"])
    empty = labelled("")
    assert all(v == [] for v in empty.values()) and pipeline.LABEL in empty
