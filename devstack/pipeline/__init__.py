"""The reference pipeline's names, shared by bootstrap, the demo, the Spark job, the Airflow DAGs and the notebooks.

Code that runs inside containers (the Spark job, the DAGs, the notebooks) cannot import devstack, so it carries
the same names as defaults of environment variables; tests/unit/test_pipeline_names.py checks they agree with
these.
"""

from __future__ import annotations

import datetime as dt

# Kafka topics: raw ticks in, processed signals (features per window) and model predictions out
TICKS_TOPIC = "market.ticks"
SIGNALS_TOPIC = "market.signals"
PREDICTIONS_TOPIC = "model.predictions"
TOPICS = (TICKS_TOPIC, SIGNALS_TOPIC, PREDICTIONS_TOPIC)
KAFKA_TOPICS = {"ticks": TICKS_TOPIC, "signals": SIGNALS_TOPIC, "predictions": PREDICTIONS_TOPIC}  # by role

# MinIO buckets, every one versioned; MLflow's artifacts bucket is the one compose/mlflow.yaml serves
DATASETS_BUCKET = "datasets"
MODELS_BUCKET = "models"
MLFLOW_BUCKET = "mlflow-artifacts"
BUCKETS = (DATASETS_BUCKET, MODELS_BUCKET, MLFLOW_BUCKET)
BUCKET_ROLES = {"datasets": DATASETS_BUCKET, "models": MODELS_BUCKET, "mlflow": MLFLOW_BUCKET}  # by role

# ClickHouse: tables and materialized views in clickhouse.sql (valid for 18.16 and current releases)
CLICKHOUSE_DB = "market"

# MLflow: one experiment per day's models, one registered model they all version
MODEL_NAME = "pattern-pursuit"
EXPERIMENT_PREFIX = "pattern-pursuit"

# the model's input columns, in order (features of one symbol over one window), and what it predicts
FEATURES = ("ret", "volatility", "vwap_gap", "ticks")
LABEL = "next_up"  # 1 when the symbol's next window closes above this one's close

# Redis: the latest features of each symbol, a hash under this prefix, expiring after the TTL
FEATURE_KEY_PREFIX = "features:"
FEATURE_TTL_SECONDS = 300
FEATURE_TTL_KEY = "devstack:features:ttl"  # where bootstrap records the TTL that writers use

# the Airflow DAG that trains and evaluates each day's model
TRAINING_DAG = "pattern_pursuit_daily"


def experiment_name(day: dt.date) -> str:
    """Each day's models go to their own experiment, so a day's runs compare against each other only."""
    return f"{EXPERIMENT_PREFIX}/{day.isoformat()}"


def feature_key(symbol: str) -> str:
    return f"{FEATURE_KEY_PREFIX}{symbol}"
