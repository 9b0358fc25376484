"""Prometheus's scrape targets, as `devstack status` reports them. Pure: JSON in, values out; no I/O.

Prometheus answers `GET /api/v1/targets` with every active target, its job, its health (`up`, `down` or
`unknown` before the first scrape) and the last scrape's error. devstack reads it to tell, per scrape job, whether
the metrics a user's dashboards and alerts depend on are really arriving, and why not. The jobs devstack rendered
into prometheus.yml (`render.scrape_jobs`) are passed in too, so a job Prometheus does not know at all (an old
config never reloaded) is reported as missing rather than silently absent. Fetching lives in `health.py`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


class TargetsError(ValueError):
    """The answer is not Prometheus's targets document (a proxy's page, an error status, another API)."""


@dataclass(frozen=True)
class Target:
    """One scraped endpoint as Prometheus last saw it."""

    job: str
    instance: str
    url: str
    health: str  # up, down, unknown
    last_error: str
    last_scrape: str  # RFC 3339, as Prometheus gives it; "0001-01-01T00:00:00Z" before the first scrape
    scrape_seconds: float


@dataclass(frozen=True)
class JobHealth:
    """A scrape job's targets summed up: the row `devstack status` prints for it."""

    job: str
    health: str  # up (every target up), down (some target down), unknown (not scraped yet), missing (no such job)
    up: int
    total: int
    last_error: str  # the first down target's error, "" when none
    instances: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.health == "up"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["instances"] = list(self.instances)
        return d


def parse_targets(doc: Mapping[str, Any]) -> list[Target]:
    """The active targets of a `/api/v1/targets` answer, in Prometheus's order. Raises TargetsError when the
    document is not one (status not "success", or no `data.activeTargets` list)."""
    if not isinstance(doc, Mapping) or doc.get("status") != "success":
        err = doc.get("error") if isinstance(doc, Mapping) else None
        raise TargetsError(f"Prometheus did not answer with its targets: {err or 'status is not success'}")
    data = doc.get("data")
    active = data.get("activeTargets") if isinstance(data, Mapping) else None
    if not isinstance(active, list):
        raise TargetsError("Prometheus's answer has no data.activeTargets list")
    out = []
    for t in active:
        labels = t.get("labels") or {}
        job = str(labels.get("job") or t.get("scrapePool") or "")
        out.append(
            Target(
                job=job,
                instance=str(labels.get("instance", "")),
                url=str(t.get("scrapeUrl", "")),
                health=str(t.get("health", "unknown")),
                last_error=str(t.get("lastError") or ""),
                last_scrape=str(t.get("lastScrape", "")),
                scrape_seconds=float(t.get("lastScrapeDuration") or 0.0),
            )
        )
    return out


def summarize(targets: Iterable[Target], expected: Iterable[str] = ()) -> list[JobHealth]:
    """One JobHealth per job: the expected jobs first, in the order given (the order of prometheus.yml), then any
    other job Prometheus scrapes, by name. A job is up only when every one of its targets is."""
    by_job: dict[str, list[Target]] = {}
    for t in targets:
        by_job.setdefault(t.job, []).append(t)
    order = list(dict.fromkeys(expected))
    order += sorted(j for j in by_job if j not in order)
    out = []
    for job in order:
        ts = by_job.get(job, [])
        if not ts:
            out.append(JobHealth(job, "missing", 0, 0, "Prometheus has no such job: its config was not (re)loaded", ()))
            continue
        up = sum(1 for t in ts if t.health == "up")
        down = [t for t in ts if t.health == "down"]
        health = "down" if down else ("up" if up == len(ts) else "unknown")
        out.append(
            JobHealth(
                job=job,
                health=health,
                up=up,
                total=len(ts),
                last_error=down[0].last_error if down else "",
                instances=tuple(t.instance for t in ts),
            )
        )
    return out


def describe(jobs: Iterable[JobHealth]) -> str:
    """One line for a probe's detail: `7/8 targets up (down: clickhouse)`."""
    jobs = list(jobs)
    up = sum(j.up for j in jobs)
    total = sum(j.total for j in jobs)
    bad = [j.job for j in jobs if not j.ok]
    return f"{up}/{total} targets up" + (f" (not up: {', '.join(bad)})" if bad else "")
