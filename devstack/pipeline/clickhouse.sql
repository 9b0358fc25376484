-- The reference pipeline's ClickHouse schema, applied by `devstack bootstrap` statement by statement (each one
-- ends with a semicolon at the end of a line). Valid for ClickHouse 18.16 (the test bed) and current releases
-- (checked with chdb): no DateTime64, no SimpleAggregateFunction, no LowCardinality.

CREATE DATABASE IF NOT EXISTS market;

-- raw ticks as the Spark job reads them from Kafka (ts_ms: event time in epoch milliseconds)
CREATE TABLE IF NOT EXISTS market.ticks
(
    symbol String,
    ts DateTime,
    ts_ms UInt64,
    price Float64,
    size UInt32,
    seq UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (symbol, ts_ms);

-- 1-minute OHLCV bars, kept as aggregate states: the view below finalizes them
CREATE TABLE IF NOT EXISTS market.bars_1m
(
    symbol String,
    minute DateTime,
    open AggregateFunction(argMin, Float64, UInt64),
    high AggregateFunction(max, Float64),
    low AggregateFunction(min, Float64),
    close AggregateFunction(argMax, Float64, UInt64),
    volume AggregateFunction(sum, UInt64),
    trades AggregateFunction(count)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (symbol, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS market.bars_1m_mv TO market.bars_1m AS
SELECT
    symbol,
    toStartOfMinute(ts) AS minute,
    argMinState(price, ts_ms) AS open,
    maxState(price) AS high,
    minState(price) AS low,
    argMaxState(price, ts_ms) AS close,
    sumState(toUInt64(size)) AS volume,
    countState() AS trades
FROM market.ticks
GROUP BY symbol, minute;

CREATE VIEW IF NOT EXISTS market.ohlcv_1m AS
SELECT
    symbol,
    minute,
    argMinMerge(open) AS open,
    maxMerge(high) AS high,
    minMerge(low) AS low,
    argMaxMerge(close) AS close,
    sumMerge(volume) AS volume,
    countMerge(trades) AS trades
FROM market.bars_1m
GROUP BY symbol, minute;

-- features per symbol and window, written by the Spark job (a window is written again as late ticks update it:
-- the newest row per (symbol, window_start) wins, by updated_ms)
CREATE TABLE IF NOT EXISTS market.signals
(
    symbol String,
    window_start DateTime,
    window_end DateTime,
    ticks UInt32,
    open Float64,
    close Float64,
    vwap Float64,
    ret Float64,
    volatility Float64,
    vwap_gap Float64,
    updated_ms UInt64
)
ENGINE = ReplacingMergeTree(updated_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (symbol, window_start);

-- signal rows per symbol and minute as they arrive: how busy the feature stream is
CREATE TABLE IF NOT EXISTS market.signal_rate_1m
(
    symbol String,
    minute DateTime,
    rows UInt64
)
ENGINE = SummingMergeTree
ORDER BY (symbol, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS market.signal_rate_1m_mv TO market.signal_rate_1m AS
SELECT symbol, toStartOfMinute(window_start) AS minute, count() AS rows
FROM market.signals
GROUP BY symbol, minute;
