"""How many records each stage of the pipeline holds right now, asked of each system in its own protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from devstack import pipeline
from devstack.services.kafka import COUNTER_GROUP


@dataclass
class Counts:
    ticks_produced: int = 0
    ticks_topic: int = 0
    ticks_clickhouse: int = 0
    bars_1m: int = 0
    signals_clickhouse: int = 0
    signals_topic: int = 0
    dag_run: str = ""
    model_version: int = 0
    predictions_topic: int = 0
    features_redis: int = 0
    features_ttl_s: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        """(stage, figure) in the order records flow: totals in each system, but for the ticks this run produced."""
        return [
            ("ticks produced by this run", str(self.ticks_produced)),
            (f"Kafka {pipeline.TICKS_TOPIC}", str(self.ticks_topic)),
            ("ClickHouse market.ticks", str(self.ticks_clickhouse)),
            ("ClickHouse market.ohlcv_1m (bars)", str(self.bars_1m)),
            ("ClickHouse market.signals (windows)", str(self.signals_clickhouse)),
            (f"Kafka {pipeline.SIGNALS_TOPIC}", str(self.signals_topic)),
            (f"Airflow {pipeline.TRAINING_DAG}", self.dag_run or "-"),
            (f"MLflow model {pipeline.MODEL_NAME}", f"version {self.model_version}" if self.model_version else "-"),
            (f"Kafka {pipeline.PREDICTIONS_TOPIC}", str(self.predictions_topic)),
            (
                "Redis features:*",
                f"{self.features_redis} keys, TTL {self.features_ttl_s}s" if self.features_redis else "0",
            ),
        ]


def topic_records(admin_conf: dict[str, Any], topic: str) -> int:
    """Records in a topic: the sum over partitions of high minus low watermark (nothing is compacted here)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**admin_conf, "group.id": COUNTER_GROUP, "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            return 0
        total = 0
        for p in meta.topics[topic].partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += max(0, high - low)
        return total
    finally:
        c.close()


def clickhouse_counts(env: dict[str, str]) -> tuple[int, int, int]:
    from devstack.lifecycle.bootstrap.clickhouse_schema import query

    def one(sql: str) -> int:
        return int(query(env["CLICKHOUSE_URL"], env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"], sql).strip() or 0)

    return (
        one("SELECT count() FROM market.ticks"),
        one("SELECT count() FROM market.ohlcv_1m"),
        one("SELECT count() FROM market.signals FINAL"),
    )


def redis_features(redis_url: str) -> tuple[int, int]:
    """(feature keys, the smallest TTL among them; -1 if one has none)."""
    import redis

    r = redis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        keys = list(r.scan_iter(match=f"{pipeline.FEATURE_KEY_PREFIX}*", count=500))
        ttls = [int(str(r.ttl(k))) for k in keys]
        return len(keys), (min(ttls) if ttls else 0)
    finally:
        r.close()
