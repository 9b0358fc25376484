"""The reference DAGs run inside Airflow, where devstack is not installed: they carry devstack.pipeline's names as
their own constants. These tests read the files with `ast` (no Airflow on the host) and check that the names agree,
that every DAG file compiles, and that the heavy libraries are imported inside the tasks only."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from devstack import pipeline

DAGS = Path(pipeline.__file__).parent / "dags"
TRAINING = DAGS / "pattern_pursuit_daily.py"
HEAVY = {"pandas", "numpy", "sklearn", "mlflow", "scipy"}


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


def test_heavy_libraries_are_imported_inside_tasks_only() -> None:
    """The dag-processor imports the file every 30 s or so: pandas, scikit-learn and mlflow wait for the tasks."""
    for path in sorted(DAGS.glob("*.py")):
        top = []
        for node in _tree(path).body:
            if isinstance(node, ast.Import):
                top += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.append(node.module.split(".")[0])
        assert not HEAVY & set(top), f"{path.name} imports {HEAVY & set(top)} at module level"
        assert "devstack" not in top, f"{path.name} imports devstack, which Airflow does not have"
