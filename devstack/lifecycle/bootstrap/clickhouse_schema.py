"""The pipeline's database, tables and materialized views, over ClickHouse's HTTP interface."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import CREATED, OK, Change
from devstack.lifecycle.bootstrap.spec import SchemaObject
from devstack.services.clickhouse import NAME as CLICKHOUSE


def query(url: str, user: str, password: str, sql: str, timeout: float = 30) -> str:
    req = urllib.request.Request(
        url.rstrip("/") + "/", data=sql.encode(), headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": password}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return str(r.read().decode())
    except urllib.error.HTTPError as e:
        raise EnvironmentProblem(
            f"ClickHouse refused {sql.split(chr(10))[0][:80]!r}: {e.read().decode(errors='replace').strip()[:300]}", ""
        ) from None
    except (urllib.error.URLError, OSError) as e:
        raise EnvironmentProblem(f"ClickHouse did not answer at {url}: {e}", "run `devstack status`.") from None


def existing(url: str, user: str, password: str) -> set[str]:
    rows = query(url, user, password, "SELECT name FROM system.databases FORMAT TSV").split()
    tables = query(url, user, password, "SELECT database, name FROM system.tables FORMAT TSV").splitlines()
    return set(rows) | {".".join(line.split("\t")) for line in tables if line}


def apply(schema: Sequence[SchemaObject], url: str, user: str, password: str) -> list[Change]:
    """Objects are created in file order when missing; an existing one is left as it is (CREATE ... IF NOT EXISTS
    never rewrites a table, and dropping one to change it would lose its data)."""
    have = existing(url, user, password)
    out = []
    for obj in schema:
        kind = obj.kind.lower()
        if obj.name in have:
            out.append(Change(CLICKHOUSE, f"{kind} {obj.name}", OK))
            continue
        query(url, user, password, obj.statement)
        out.append(Change(CLICKHOUSE, f"{kind} {obj.name}", CREATED))
    return out
