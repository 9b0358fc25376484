"""Synthetic market ticks for the reference pipeline: a few symbols, each a random walk that switches between
regimes (trending up, trending down, choppy), so there is a pattern for the model to pursue. Pure and seeded:
the same seed gives the same ticks, which keeps the demo's counts comparable from run to run."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass

SYMBOLS = ("ACME", "GLOBX", "INITECH", "UMBRL")
REGIMES = {"up": 0.0006, "down": -0.0006, "chop": 0.0}  # drift per tick


@dataclass(frozen=True)
class Tick:
    symbol: str
    ts_ms: int  # event time, epoch milliseconds
    price: float
    size: int
    seq: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def ticks(
    count: int,
    *,
    start_ms: int,
    spacing_ms: int = 1000,
    symbols: tuple[str, ...] = SYMBOLS,
    seed: int = 7,
    first_seq: int = 0,
) -> Iterator[Tick]:
    """`count` ticks round-robin over the symbols; each symbol's ticks are `spacing_ms` apart in event time."""
    rng = random.Random(seed)
    prices = {s: 50.0 + 25.0 * i for i, s in enumerate(symbols)}
    regime = {s: rng.choice(list(REGIMES)) for s in symbols}
    for n in range(count):
        s = symbols[n % len(symbols)]
        if rng.random() < 0.02:  # a regime lasts about 50 ticks of its symbol
            regime[s] = rng.choice(list(REGIMES))
        prices[s] = max(0.01, prices[s] * (1 + REGIMES[regime[s]] + rng.gauss(0, 0.002)))
        step = n // len(symbols)
        yield Tick(s, start_ms + step * spacing_ms, round(prices[s], 4), rng.randint(1, 500), first_seq + n)
