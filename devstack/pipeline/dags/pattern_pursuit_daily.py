"""Train and evaluate each day's pattern-pursuit model.

extract   the day's newest row per (symbol, window_start) of market.signals from ClickHouse (all days' rows when
          the day has too few), labelled: next_up = 1 when the symbol's next window closes above this one's close
train     a small scikit-learn model on FEATURES (in that order, every one a double), evaluated on a time-ordered
          holdout against the majority class of the training rows; params, metrics and the model (signature and
          input example over the named FEATURES columns, as MLServer's MLflow runtime serves it) logged to MLflow
          in experiment pattern-pursuit/<logical date>, registered as a new version of pattern-pursuit
promote   the registered model's alias `champion` moves to the new version when it beats the baseline; the run and
          the version say so in their tags either way

This file runs in Airflow, where devstack is not installed: the names below are devstack.pipeline's, checked
equal by tests/unit/test_dags.py. Connections come from the environment compose/airflow.yaml sets:
CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, MLFLOW_TRACKING_URI.

Where the tasks run: extract in Airflow's own environment (the standard library only). train and promote need
mlflow, scikit-learn and pandas, which Airflow's image does not have: they are @task.virtualenv tasks, in a venv
of TRAIN_REQUIREMENTS (pinned) that the standard provider builds on first use (with uv, which the official image
ships; from PyPI) and keeps in VENV_CACHE, a volume of the scheduler's, so later runs start at once. Such a task
runs as a script in that venv: its function carries its own imports and constants (no module-level helper is
reachable from there) and takes and returns plain values (pickled in, XCom out). Do not add these packages to
the image through _PIP_ADDITIONAL_REQUIREMENTS: the official entrypoint kills a container that uses it after
10 minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

# devstack.pipeline's names (tests/unit/test_dags.py checks they agree)
TRAINING_DAG = "pattern_pursuit_daily"
CLICKHOUSE_DB = "market"
MODEL_NAME = "pattern-pursuit"
EXPERIMENT_PREFIX = "pattern-pursuit"
FEATURES = ("ret", "volatility", "vwap_gap", "ticks")
LABEL = "next_up"

CHAMPION_ALIAS = "champion"
MIN_ROWS = 20  # labelled rows below which no model is trained: the task fails with a message saying so

# the venv of train and promote: the model runtime that devstack's MLServer image is built from too (a
# scikit-learn pickle only loads reliably in the releases that wrote it), read from the one file both use:
# k3d/images/mlserver/model-runtime.txt, which `devstack render` ships beside this DAG. Changing a pin makes a
# new venv (the cache key is a hash of this list).
MODEL_RUNTIME = Path(__file__).with_name("model-runtime.txt")
TRAIN_REQUIREMENTS = [
    line.strip() for line in MODEL_RUNTIME.read_text(encoding="utf-8").splitlines() if line.strip()[:1] not in ("", "#")
]
VENV_CACHE = "/opt/airflow/venvs"  # the airflow-venvs volume, mounted in the scheduler (compose/airflow.yaml)

log = logging.getLogger(__name__)


def experiment_name(day: dt.date) -> str:
    """Each day's models go to their own experiment, so a day's runs compare against each other only."""
    return f"{EXPERIMENT_PREFIX}/{day.isoformat()}"


def _fail(message: str) -> None:
    """Fail the task at once (no retry) with one message a person can act on."""
    from airflow.exceptions import AirflowFailException

    log.error("%s", message)
    raise AirflowFailException(message)


def _clickhouse(sql: str) -> str:
    """Run one query over ClickHouse's HTTP interface; credentials as URL parameters (every release since 1.1
    takes them so, 18.16 included). Errors come back as ClickHouse's own first line, never the URL."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = os.environ.get("CLICKHOUSE_URL", "http://clickhouse:8123").rstrip("/")
    query = urllib.parse.urlencode(
        {"user": os.environ.get("CLICKHOUSE_USER", "default"), "password": os.environ.get("CLICKHOUSE_PASSWORD", "")}
    )
    req = urllib.request.Request(f"{base}/?{query}", data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return str(r.read().decode())
    except urllib.error.HTTPError as e:
        first = e.read().decode(errors="replace").strip().splitlines()[:1]
        raise RuntimeError(f"ClickHouse at {base} refused the query: {(first or [str(e)])[0]}") from None
    except urllib.error.URLError as e:
        raise RuntimeError(f"ClickHouse at {base} cannot be reached: {e.reason}") from None


def _signals_sql(start: int | None, end: int | None, limit: int) -> str:
    """The newest version of each (symbol, window_start) row (FINAL on the ReplacingMergeTree, by updated_ms),
    the latest `limit` windows; times as epoch seconds, so the server's time zone plays no part. Valid for
    ClickHouse 18.16 and current releases."""
    where = f"WHERE window_start >= toDateTime({start}) AND window_start < toDateTime({end})" if start else ""
    cols = ", ".join(["symbol", "toUInt32(window_start) AS ts", "close", *FEATURES])
    return (
        f"SELECT {cols} FROM {CLICKHOUSE_DB}.signals FINAL {where} "
        f"ORDER BY window_start DESC, symbol LIMIT {int(limit)} FORMAT TabSeparatedWithNames"
    )


def _labelled(tsv: str) -> dict[str, list[Any]]:
    """Rows with a LABEL, as columns (symbol, ts, FEATURES..., LABEL), in (symbol, ts) order: LABEL is 1 when the
    symbol's next window closes above this one's close. A symbol's last window has no next one yet, and rows with
    a non-finite feature are dropped. The standard library only: this runs in Airflow's own environment."""
    import itertools
    import math

    cols: dict[str, list[Any]] = {c: [] for c in ("symbol", "ts", *FEATURES, LABEL)}
    lines = tsv.strip().splitlines()
    if len(lines) < 2:
        return cols
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cell = dict(zip(header, line.split("\t"), strict=True))
        feats = [float(cell[f]) for f in FEATURES]
        rows.append((cell["symbol"], int(cell["ts"]), float(cell["close"]), feats))
    rows.sort(key=lambda r: (r[0], r[1]))
    for (symbol, ts, close, feats), nxt in itertools.pairwise(rows):
        if nxt[0] != symbol or not all(math.isfinite(v) for v in feats):
            continue
        cols["symbol"].append(symbol)
        cols["ts"].append(ts)
        for name, value in zip(FEATURES, feats, strict=True):
            cols[name].append(value)
        cols[LABEL].append(int(nxt[2] > close))
    return cols


def _day_of(context: dict[str, Any]) -> dt.date:
    """The run's day: its logical date (a scheduled run's is the start of the day it covers), or when the run has
    none (a trigger without one), the time it was asked to run."""
    when = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(when).in_timezone("UTC").date()


@dag(
    dag_id=TRAINING_DAG,
    description="Train, evaluate and register each day's pattern-pursuit model (ClickHouse -> scikit-learn -> MLflow)",
    # one run per day, after the day ends: the run for day D (logical date D) starts at D+1 00:00 UTC
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["devstack", "pattern-pursuit", "ml"],
    params={
        "holdout_fraction": Param(0.25, type="number", minimum=0.05, maximum=0.5),
        "max_rows": Param(50_000, type="integer", minimum=MIN_ROWS),
        "C": Param(1.0, type="number", exclusiveMinimum=0),
    },
    doc_md=__doc__,
)
def pattern_pursuit_daily() -> None:
    @task
    def extract(**context: Any) -> dict[str, Any]:
        """The day's labelled rows, or every day's when the day has fewer than MIN_ROWS (or a single class); with
        what train needs from the run's context (a venv task has no Airflow to ask)."""
        day = _day_of(context)
        params = context["params"]
        limit = int(params["max_rows"])
        start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
        data = _labelled(_clickhouse(_signals_sql(start, start + 86_400, limit)))
        scope = "day"
        if len(data[LABEL]) < MIN_ROWS or len(set(data[LABEL])) < 2:
            log.info("%s has %d labelled rows: training on every day's rows instead", day, len(data[LABEL]))
            data, scope = _labelled(_clickhouse(_signals_sql(None, None, limit))), "all"
        rows, classes = len(data[LABEL]), sorted(set(data[LABEL]))
        if rows < MIN_ROWS or len(classes) < 2:
            _fail(
                f"not enough data to train: {rows} labelled rows in {CLICKHOUSE_DB}.signals "
                f"(classes {classes}); {TRAINING_DAG} needs at least {MIN_ROWS} with both {LABEL}=0 and "
                f"{LABEL}=1. Let the Spark job write signals for longer, then clear this task."
            )
        log.info("extracted %d labelled rows (%s, %d symbols) for %s", rows, scope, len(set(data["symbol"])), day)
        return {
            "day": day.isoformat(),
            "scope": scope,
            "data": data,
            "params": {"C": float(params["C"]), "holdout_fraction": float(params["holdout_fraction"])},
            "run_id": context["dag_run"].run_id,
        }

    # what the venv tasks need from this module, handed over as an argument (they cannot see its globals)
    names = {
        "dag": TRAINING_DAG,
        "model": MODEL_NAME,
        "experiment_prefix": EXPERIMENT_PREFIX,
        "features": list(FEATURES),
        "label": LABEL,
        "min_rows": MIN_ROWS,
        "alias": CHAMPION_ALIAS,
    }

    @task.virtualenv(
        requirements=TRAIN_REQUIREMENTS,
        system_site_packages=False,
        venv_cache_path=VENV_CACHE,
    )
    def train(extracted: dict, names: dict) -> dict:
        """Fit on the earlier windows, evaluate on the later ones against the majority class, log to MLflow.
        Runs in the TRAIN_REQUIREMENTS venv: self-contained."""
        import datetime as dt
        import os

        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # no git in the image: MLflow need not say so
        import mlflow
        import mlflow.sklearn
        import numpy as np
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features, label, dag_id = list(names["features"]), names["label"], names["dag"]
        params = extracted["params"]
        df = pd.DataFrame(extracted["data"]).sort_values("ts", kind="mergesort").reset_index(drop=True)
        # time-ordered holdout: every window from the cutoff on is held out, so no test window precedes a
        # training one
        stamps = np.sort(df["ts"].unique())
        cutoff = stamps[min(len(stamps) - 1, max(1, int(len(stamps) * (1 - float(params["holdout_fraction"])))))]
        tr, te = df[df["ts"] < cutoff], df[df["ts"] >= cutoff]
        if tr[label].nunique() < 2 or len(tr) < names["min_rows"] // 2 or te.empty:
            raise RuntimeError(
                f"not enough data to train: the earlier {len(tr)} rows (before the holdout) hold "
                f"{tr[label].nunique()} class(es) and {len(te)} rows are held out; "
                f"{dag_id} needs both classes before the holdout. Let more signals arrive, then clear."
            )
        x_tr, x_te = tr[features].astype("float64"), te[features].astype("float64")
        y_tr, y_te = tr[label].astype("int64"), te[label].astype("int64")

        model = make_pipeline(StandardScaler(), LogisticRegression(C=float(params["C"]), max_iter=500))
        model.fit(x_tr, y_tr)
        pred = model.predict(x_te)
        majority = int(y_tr.mode().iloc[0])
        baseline = float(accuracy_score(y_te, np.full(len(y_te), majority)))
        accuracy = float(accuracy_score(y_te, pred))
        beats = bool(accuracy > baseline)
        metrics = {
            "accuracy": accuracy,
            "baseline_accuracy": baseline,
            "lift": accuracy - baseline,
            "f1": float(f1_score(y_te, pred, zero_division=0)),
            "rows": float(len(df)),
            "train_rows": float(len(tr)),
            "test_rows": float(len(te)),
            "symbols": float(df["symbol"].nunique()),
            "positive_rate_train": float(y_tr.mean()),
            "positive_rate_test": float(y_te.mean()),
        }
        if y_te.nunique() == 2:
            metrics["roc_auc"] = float(roc_auc_score(y_te, model.predict_proba(x_te)[:, 1]))

        day = extracted["day"]
        mlflow.set_experiment(f"{names['experiment_prefix']}/{day}")  # experiment_name(day), as devstack names it
        with mlflow.start_run(run_name=f"{dag_id} {day}") as run:
            mlflow.log_params(
                {
                    "model": "StandardScaler+LogisticRegression",
                    "C": float(params["C"]),
                    "features": ",".join(features),
                    "label": label,
                    "holdout_fraction": float(params["holdout_fraction"]),
                    "holdout_from": dt.datetime.fromtimestamp(int(cutoff), dt.UTC).isoformat(),
                    "data_scope": extracted["scope"],
                    "baseline": f"majority class ({majority})",
                }
            )
            mlflow.log_metrics(metrics)
            mlflow.set_tags(
                {"airflow.dag_id": dag_id, "airflow.run_id": extracted["run_id"], "beats_baseline": str(beats).lower()}
            )
            # explicit requirements: MLflow would otherwise load the model in a subprocess to infer them
            reqs = [f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(x_tr, model.predict(x_tr)),
                input_example=x_te.head(5),
                registered_model_name=names["model"],
                pip_requirements=reqs,
            )
        version = str(info.registered_model_version)
        print(
            f"run {run.info.run_id}: accuracy {accuracy:.4f} vs baseline {baseline:.4f} on {len(te)} held-out rows "
            f"({len(tr)} trained); {names['model']} version {version}",
            flush=True,
        )
        return {
            "run_id": run.info.run_id,
            "version": version,
            "beats_baseline": beats,
            "accuracy": accuracy,
            "baseline_accuracy": baseline,
        }

    @task.virtualenv(
        requirements=TRAIN_REQUIREMENTS,
        system_site_packages=False,
        venv_cache_path=VENV_CACHE,
    )
    def promote(trained: dict, names: dict) -> dict:
        """Point `champion` at the new version when it beats the baseline; tag the run and the version either way.
        Runs in the TRAIN_REQUIREMENTS venv (the same one as train's): self-contained."""
        import os

        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        from mlflow import MlflowClient

        client = MlflowClient()
        model, alias = names["model"], names["alias"]
        version, beats = trained["version"], bool(trained["beats_baseline"])
        verdict = (
            f"accuracy {trained['accuracy']:.4f} {'beats' if beats else 'does not beat'} "
            f"the majority-class baseline {trained['baseline_accuracy']:.4f}"
        )
        if beats:
            client.set_registered_model_alias(model, alias, version)
            verdict += f": version {version} is now {model}@{alias}"
        else:
            verdict += f": {alias} stays where it was"
        client.set_tag(trained["run_id"], alias, str(beats).lower())
        client.set_tag(trained["run_id"], "promotion", verdict)
        client.set_model_version_tag(model, version, "beats_baseline", str(beats).lower())
        print(verdict, flush=True)
        return {**trained, "champion": beats, "promotion": verdict}

    promote(train(extract(), names), names)


pattern_pursuit_daily()
