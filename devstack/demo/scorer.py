"""Scores the processed signals with the served model: each signal's features go to Redis (the latest per symbol,
with the TTL bootstrap recorded) and to MLServer's V2 endpoint; each prediction goes to the predictions topic."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from devstack import pipeline
from devstack.services.kafka import SCORER_GROUP, Login


def v2_request(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A V2 request in MLServer's pandas codec: one named input per feature column, as the model's signature
    names them (MLflow enforces the schema by column name; the DAG logs every feature as a double)."""
    inputs = [
        {"name": col, "datatype": "FP64", "shape": [len(rows)], "data": [float(r[col]) for r in rows]}
        for col in pipeline.FEATURES
    ]
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def infer(base_url: str, rows: list[dict[str, Any]]) -> list[Any]:
    req = urllib.request.Request(
        f"{base_url.rstrip('/')}/v2/models/{pipeline.MODEL_NAME}/infer",
        data=json.dumps(v2_request(rows)).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())
    return list(out["outputs"][0]["data"])


def score(
    kafka: Login,
    redis_url: str,
    model_url: str,
    *,
    model_version: int,
    idle_s: float = 8.0,
    limit_s: float = 300,
) -> int:
    """Consume every signal not yet scored (consumer group: resumes where the last run stopped), until the topic
    has been quiet for `idle_s`. Returns how many predictions were produced."""
    import redis
    from confluent_kafka import Consumer, Producer

    r = redis.Redis.from_url(redis_url, socket_timeout=10)
    raw = r.get(pipeline.FEATURE_TTL_KEY)
    ttl = int(raw.decode() if isinstance(raw, bytes) else pipeline.FEATURE_TTL_SECONDS)
    consumer = Consumer(
        kafka.config(**{"group.id": SCORER_GROUP, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    )
    producer = Producer(kafka.config(acks="all", **{"linger.ms": 20}))
    consumer.subscribe([pipeline.SIGNALS_TOPIC])
    produced, quiet_since, start = 0, time.monotonic(), time.monotonic()
    try:
        while time.monotonic() - quiet_since < idle_s and time.monotonic() - start < limit_s:
            msgs = [m for m in consumer.consume(num_messages=500, timeout=1.0) if m.error() is None]
            if not msgs:
                continue
            quiet_since = time.monotonic()
            rows = [json.loads(m.value() or b"{}") for m in msgs]
            labels = infer(model_url, rows)
            pipe = r.pipeline()
            for row in rows:
                key = pipeline.feature_key(row["symbol"])
                pipe.hset(key, mapping={c: row[c] for c in (*pipeline.FEATURES, "close", "window_start")})
                pipe.expire(key, ttl)
            pipe.execute()
            now_ms = int(time.time() * 1000)
            for row, label in zip(rows, labels, strict=True):
                value = {
                    "symbol": row["symbol"],
                    "window_start": row["window_start"],
                    "prediction": label,
                    "model": pipeline.MODEL_NAME,
                    "model_version": model_version,
                    "scored_ms": now_ms,
                }
                producer.produce(pipeline.PREDICTIONS_TOPIC, key=row["symbol"], value=json.dumps(value))
                produced += 1
            producer.flush(30)
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
        r.close()
    return produced
