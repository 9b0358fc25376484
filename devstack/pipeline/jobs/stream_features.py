"""The reference pipeline's Spark Structured Streaming job: Kafka ticks -> ClickHouse ticks, and features per
symbol over 10-second event-time windows -> ClickHouse market.signals and Kafka market.signals.

    python stream_features.py                  run until stopped (a micro-batch every 5 s)
    python stream_features.py --available-now  process what the topic holds, then exit (notebooks, tests)

Two queries read topic market.ticks (JSON values {"symbol", "ts_ms", "price", "size", "seq"}, key = symbol):
  ticks     every tick, as is, to ClickHouse market.ticks (ts = ts_ms // 1000, epoch seconds)
  signals   per symbol and 10-second tumbling window of event time (watermark 30 s, output mode update, so a
            window is written again while late ticks change it): ticks, open, close, vwap, ret = close/open - 1,
            volatility = stddev_pop(price)/avg(price), vwap_gap = close/vwap - 1, updated_ms (when the row was
            computed, epoch ms: ClickHouse's ReplacingMergeTree keeps the newest row per window by it), to
            ClickHouse market.signals and to Kafka market.signals (key = symbol; the value is JSON with the same
            fields as the table's columns; window_start and window_end are epoch seconds, UTC, integers).

Both sinks are foreachBatch writes: ClickHouse over HTTP (INSERT ... FORMAT JSONEachRow, from the driver),
Kafka through Spark's Kafka sink (from the executor). Delivery is at least once: a batch that fails is written
again on restart; market.signals dedupes by its key, market.ticks does not.

Environment (the names `devstack env` prints and compose/jupyter.yaml sets in the stack):
  KAFKA_BOOTSTRAP_SERVERS, KAFKA_USERNAME and KAFKA_PASSWORD (the brokers ask for SASL SCRAM-SHA-512; without a
  user name the job connects unauthenticated, to a Kafka of one's own), CLICKHOUSE_URL, CLICKHOUSE_USER,
  CLICKHOUSE_PASSWORD, SPARK_MASTER_URL,
  SPARK_DRIVER_HOST (default: this host's name; executors connect back to it), DEVSTACK_CHECKPOINT_DIR (default
  /tmp/devstack-checkpoints; one subdirectory per query), DEVSTACK_SPARK_DRIVER_MEMORY (optional).
The checkpoint directory is a local path: the driver writes offsets there and the executor its window state
under the same path on the worker's own disk, which is right for the single executor the stack's worker runs.

This file runs inside containers where devstack is not installed: it carries devstack.pipeline's names itself
(tests/unit/test_notebooks.py checks they agree). pyspark is imported inside the functions, so the pure parts
import without it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# devstack.pipeline's names
TICKS_TOPIC = "market.ticks"
SIGNALS_TOPIC = "market.signals"
CLICKHOUSE_DB = "market"

APP_NAME = "devstack-stream-features"
# Spark 4 is built for Scala 2.13; 4.0.0 as compose/templates/jupyter-spark-defaults.conf says why
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0"
WINDOW = "10 seconds"
WATERMARK = "30 seconds"
TRIGGER = "5 seconds"
MAX_OFFSETS_PER_TRIGGER = 50_000  # bounds a batch (the driver collects ClickHouse rows)
INSERT_CHUNK = 10_000

# the tick's JSON fields, in order, as Spark SQL types
TICK_SCHEMA = (("symbol", "STRING"), ("ts_ms", "BIGINT"), ("price", "DOUBLE"), ("size", "BIGINT"), ("seq", "BIGINT"))
TICK_COLUMNS = ("symbol", "ts", "ts_ms", "price", "size", "seq")  # market.ticks
SIGNAL_COLUMNS = (  # market.signals, and the fields of each market.signals message
    "symbol",
    "window_start",
    "window_end",
    "ticks",
    "open",
    "close",
    "vwap",
    "ret",
    "volatility",
    "vwap_gap",
    "updated_ms",
)


@dataclass(frozen=True)
class Settings:
    kafka: str
    clickhouse_url: str
    clickhouse_user: str
    clickhouse_password: str = field(repr=False)
    master: str
    driver_host: str
    checkpoint_dir: str
    driver_memory: str = ""
    kafka_user: str = ""
    kafka_password: str = field(default="", repr=False)
    kafka_mechanism: str = "SCRAM-SHA-512"

    def kafka_options(self) -> dict[str, str]:
        """Spark's Kafka source and sink options: the brokers, and the job's principal where one is given."""
        out = {"kafka.bootstrap.servers": self.kafka}
        if self.kafka_user:
            login = f'username="{self.kafka_user}" password="{self.kafka_password}";'
            out |= {
                "kafka.security.protocol": "SASL_PLAINTEXT",
                "kafka.sasl.mechanism": self.kafka_mechanism,
                "kafka.sasl.jaas.config": f"org.apache.kafka.common.security.scram.ScramLoginModule required {login}",
            }
        return out


def settings(env: Mapping[str, str], *, master: str = "", checkpoint_dir: str = "") -> Settings:
    """Endpoints from the environment; a missing one is an error naming the variable."""
    missing = [n for n in ("KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL") if not env.get(n)]
    if missing:
        raise SystemExit(f"stream_features: set {', '.join(missing)} (devstack env prints them for a stack)")
    return Settings(
        kafka=env["KAFKA_BOOTSTRAP_SERVERS"],
        clickhouse_url=env["CLICKHOUSE_URL"].rstrip("/"),
        clickhouse_user=env.get("CLICKHOUSE_USER", "default"),
        clickhouse_password=env.get("CLICKHOUSE_PASSWORD", ""),
        master=master or env.get("SPARK_MASTER_URL", "") or "local[1]",
        driver_host=env.get("SPARK_DRIVER_HOST") or socket.gethostname(),
        checkpoint_dir=checkpoint_dir or env.get("DEVSTACK_CHECKPOINT_DIR") or "/tmp/devstack-checkpoints",
        driver_memory=env.get("DEVSTACK_SPARK_DRIVER_MEMORY", ""),
        kafka_user=env.get("KAFKA_USERNAME", ""),
        kafka_password=env.get("KAFKA_PASSWORD", ""),
        kafka_mechanism=env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
    )


def tick_schema_ddl() -> str:
    return ", ".join(f"{name} {kind}" for name, kind in TICK_SCHEMA)


def insert_sql(table: str) -> str:
    return f"INSERT INTO {CLICKHOUSE_DB}.{table} FORMAT JSONEachRow"


def clickhouse_request(s: Settings, sql: str, body: bytes) -> urllib.request.Request:
    """One POST to ClickHouse's HTTP interface: the statement and credentials as URL parameters (every release
    takes them so, 18.16 included), the rows as the body."""
    query = urllib.parse.urlencode({"query": sql, "user": s.clickhouse_user, "password": s.clickhouse_password})
    return urllib.request.Request(f"{s.clickhouse_url}/?{query}", data=body, method="POST")


def json_lines(rows: Iterable[str]) -> Iterator[bytes]:
    """JSONEachRow bodies of at most INSERT_CHUNK rows each."""
    chunk: list[str] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= INSERT_CHUNK:
            yield ("\n".join(chunk) + "\n").encode()
            chunk = []
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


def insert_rows(s: Settings, table: str, rows: Sequence[str]) -> int:
    """Insert JSON rows into market.<table>; ClickHouse's own first error line when it refuses them."""
    for body in json_lines(rows):
        try:
            with urllib.request.urlopen(clickhouse_request(s, insert_sql(table), body), timeout=60) as r:
                r.read()
        except urllib.error.HTTPError as e:
            first = e.read().decode(errors="replace").strip().splitlines()[:1]
            raise RuntimeError(
                f"ClickHouse refused rows for {CLICKHOUSE_DB}.{table}: {(first or [str(e)])[0]}"
            ) from None
        except urllib.error.URLError as e:
            raise RuntimeError(f"ClickHouse at {s.clickhouse_url} cannot be reached: {e.reason}") from None
    return len(rows)


# ---- the DataFrame logic: pure functions of DataFrames (pyspark imported inside) ----


def parse_ticks(raw: Any) -> Any:
    """Kafka records (a `value` column of bytes) -> typed ticks with `event_time` (a timestamp from ts_ms).
    Records that are not a tick (bad JSON, a field missing) are dropped."""
    from pyspark.sql import functions as F

    t = F.from_json(F.col("value").cast("string"), tick_schema_ddl()).alias("t")
    return (
        raw.select(t)
        .select("t.*")
        .where(F.col("symbol").isNotNull() & F.col("ts_ms").isNotNull() & F.col("price").isNotNull())
        .withColumn("size", F.coalesce(F.col("size"), F.lit(0)))
        .withColumn("seq", F.coalesce(F.col("seq"), F.lit(0)))
        .withColumn("event_time", F.timestamp_millis(F.col("ts_ms")))
    )


def tick_rows(ticks: Any) -> Any:
    """Ticks as market.ticks rows (ts: epoch seconds, which ClickHouse reads as a DateTime in any time zone)."""
    from pyspark.sql import functions as F

    return ticks.select(
        "symbol",
        F.floor(F.col("ts_ms") / 1000).cast("long").alias("ts"),
        "ts_ms",
        "price",
        F.col("size").cast("long").alias("size"),
        F.col("seq").cast("long").alias("seq"),
    )


def features(ticks: Any, window: str = WINDOW, watermark: str = WATERMARK) -> Any:
    """Features per symbol and tumbling event-time window, in SIGNAL_COLUMNS order. open and close are the
    prices of the window's first and last tick by (ts_ms, seq); updated_ms is the micro-batch's time."""
    from pyspark.sql import functions as F

    first = F.min(F.struct("ts_ms", "seq", "price"))
    last = F.max(F.struct("ts_ms", "seq", "price"))
    agg = (
        ticks.withWatermark("event_time", watermark)
        .groupBy(F.window("event_time", window).alias("w"), F.col("symbol"))
        .agg(
            F.count(F.lit(1)).alias("ticks"),
            first["price"].alias("open"),
            last["price"].alias("close"),
            (F.sum(F.col("price") * F.col("size")) / F.sum("size")).alias("vwap_raw"),
            F.avg("price").alias("avg_price"),
            F.stddev_pop("price").alias("std_price"),
        )
    )
    # a window whose sizes sum to 0 has no volume to weigh: its vwap is the plain average price
    vwap = F.coalesce(F.col("vwap_raw"), F.col("avg_price"))
    return agg.select(
        "symbol",
        F.unix_timestamp(F.col("w.start")).alias("window_start"),
        F.unix_timestamp(F.col("w.end")).alias("window_end"),
        F.col("ticks").cast("long").alias("ticks"),
        "open",
        "close",
        vwap.alias("vwap"),
        (F.col("close") / F.col("open") - 1).alias("ret"),
        F.coalesce(F.col("std_price") / F.col("avg_price"), F.lit(0.0)).alias("volatility"),
        (F.col("close") / vwap - 1).alias("vwap_gap"),
        F.unix_millis(F.current_timestamp()).alias("updated_ms"),
    )


def kafka_records(signals: Any) -> Any:
    """Signals as Kafka records: key = symbol, value = JSON of every column."""
    from pyspark.sql import functions as F

    return signals.select(
        F.col("symbol").alias("key"), F.to_json(F.struct(*[F.col(c) for c in SIGNAL_COLUMNS])).alias("value")
    )


# ---- the application ----


@dataclass
class Counts:
    """What the queries wrote, per sink (foreachBatch runs on the driver, so plain counters do)."""

    ticks: int = 0
    signals: int = 0
    signal_messages: int = 0
    batches: dict[str, int] = field(default_factory=lambda: {"ticks": 0, "signals": 0})


def session(s: Settings) -> Any:
    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.appName(APP_NAME)
        .master(s.master)
        .config("spark.cores.max", "1")  # the stack's worker fits one executor: never take more than one core
        .config("spark.sql.shuffle.partitions", "2")  # small data; also the state store's partitions
        .config("spark.jars.packages", KAFKA_PACKAGE)
        .config("spark.sql.session.timeZone", "UTC")
    )
    if not s.master.startswith("local"):
        b = b.config("spark.driver.host", s.driver_host)
    if s.driver_memory:
        b = b.config("spark.driver.memory", s.driver_memory)
    return b.getOrCreate()


def start_queries(spark: Any, s: Settings, *, available_now: bool, counts: Counts) -> list[Any]:
    raw = (
        spark.readStream.format("kafka")
        .options(**s.kafka_options())
        .option("subscribe", TICKS_TOPIC)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .option("maxOffsetsPerTrigger", MAX_OFFSETS_PER_TRIGGER)
        .load()
    )
    ticks = parse_ticks(raw)

    def write_ticks(batch: Any, batch_id: int) -> None:
        rows = tick_rows(batch).toJSON().collect()
        counts.ticks += insert_rows(s, "ticks", rows)
        counts.batches["ticks"] += 1

    def write_signals(batch: Any, batch_id: int) -> None:
        batch.persist()
        try:
            rows = batch.toJSON().collect()
            if rows:
                counts.signals += insert_rows(s, "signals", rows)
                kafka_records(batch).write.format("kafka").options(**s.kafka_options()).option(
                    "topic", SIGNALS_TOPIC
                ).save()
                counts.signal_messages += len(rows)
            counts.batches["signals"] += 1
        finally:
            batch.unpersist()

    out = []
    for name, df, sink, mode in (
        ("ticks", ticks, write_ticks, "append"),
        ("signals", features(ticks), write_signals, "update"),
    ):
        w = (
            df.writeStream.queryName(f"{name}")
            .outputMode(mode)
            .option("checkpointLocation", os.path.join(s.checkpoint_dir, name))
            .foreachBatch(sink)
        )
        w = w.trigger(availableNow=True) if available_now else w.trigger(processingTime=TRIGGER)
        out.append(w.start())
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stream_features.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--available-now", action="store_true", help="process what the topic holds, then exit")
    p.add_argument("--master", default="", help="Spark master (default: $SPARK_MASTER_URL, else local[1])")
    p.add_argument("--checkpoint-dir", default="", help="default: $DEVSTACK_CHECKPOINT_DIR")
    return p.parse_args(argv)


def run(s: Settings, *, available_now: bool) -> Counts:
    """Start both queries; with available_now wait until they have drained the topic. The session is stopped
    either way (the worker fits one executor: a session left running holds it)."""
    counts = Counts()
    spark = session(s)
    spark.sparkContext.setLogLevel("WARN")
    try:
        queries = start_queries(spark, s, available_now=available_now, counts=counts)
        if available_now:
            for q in queries:
                q.awaitTermination()
        else:
            spark.streams.awaitAnyTermination()
        for q in queries:
            if q.exception() is not None:
                raise RuntimeError(f"query {q.name} failed: {q.exception()}")
    finally:
        for q in spark.streams.active:
            q.stop()
        spark.stop()
    return counts


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the job; returns what it wrote ({"ticks": n, "signals": n, "signal_messages": n, "batches": {...},
    "seconds": s}), which it also prints as one JSON line."""
    args = parse_args(argv)
    s = settings(os.environ, master=args.master, checkpoint_dir=args.checkpoint_dir)
    if not args.available_now and threading_main():
        # a service's stop (SIGTERM) stops the queries and the session instead of killing the driver mid-batch
        signal.signal(signal.SIGTERM, _interrupt)
    start = time.monotonic()
    counts = run(s, available_now=args.available_now)
    summary = {
        "ticks": counts.ticks,
        "signals": counts.signals,
        "signal_messages": counts.signal_messages,
        "batches": dict(counts.batches),
        "seconds": round(time.monotonic() - start, 1),
    }
    print(json.dumps(summary), flush=True)
    return summary


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(0)
