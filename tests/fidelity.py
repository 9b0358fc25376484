"""The fidelity table of tests/testbed/CONTRACT.md, read as data: what each official image devstack pins is (user,
entrypoint, HEALTHCHECK, curl, Python), what its stand-in does not reproduce, and where each fact was read. The
table is the one place these facts live; tests/unit/test_fidelity_table.py checks it covers every pinned image,
tests/e2e/test_testbed_fidelity.py checks each stand-in against it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CONTRACT = Path(__file__).resolve().parent / "testbed" / "CONTRACT.md"
COLUMNS = ("image", "user", "entrypoint", "healthcheck", "curl", "python", "stand-in differs", "read from")
CHECKED = ("user", "entrypoint", "healthcheck", "curl", "python")


@dataclass(frozen=True)
class Row:
    image: str
    user: str
    entrypoint: str
    healthcheck: str
    curl: str
    python: str
    differs: dict[str, str]  # checked column -> why the stand-in differs there
    source: str

    def expected(self, column: str) -> str:
        return str(getattr(self, column))

    def python_minor(self) -> str | None:
        head = self.python.split(";")[0].strip()
        return None if head == "-" else head

    def libraries(self) -> dict[str, str]:
        """`3.13; pyspark 4.0.1, pandas 2.2.3` -> {"pyspark": "4.0.1", "pandas": "2.2.3"}."""
        _, _, libs = self.python.partition(";")
        return dict(item.split() for item in (x.strip() for x in libs.split(",")) if item)


def _cell(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def rows(contract: Path = CONTRACT) -> list[Row]:
    lines = contract.read_text(encoding="utf-8").splitlines()
    header = "| " + " | ".join(COLUMNS) + " |"
    start = lines.index(header) + 2  # past the |---| line
    out = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [_cell(c) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        cells = [c.replace("\\|", "|") for c in cells]
        if len(cells) != len(COLUMNS):
            raise ValueError(f"{contract.name}: {line[:60]}...: {len(cells)} cells, the header has {len(COLUMNS)}")
        image, user, entrypoint, healthcheck, curl, python, differs, source = cells
        out.append(Row(image, user, entrypoint, healthcheck, curl, python, _differs(differs), source))
    return out


DIFFERENCE_KINDS = (*CHECKED, "version", "other")
_NEXT_KIND = re.compile(rf";\s*(?=(?:{'|'.join(DIFFERENCE_KINDS)}):)")


def _differs(cell: str) -> dict[str, str]:
    """`python: Debian's 3.11; other: no shell` -> {"python": "Debian's 3.11", "other": "no shell"}: a `;` starts a
    new entry only before a kind's name, so the reasons may use one."""
    out = {}
    for item in (x.strip() for x in _NEXT_KIND.split(cell)):
        if not item or item == "-":
            continue
        column, _, why = item.partition(":")
        out[column.strip()] = why.strip()
    return out


def healthcheck_of(config: dict[str, object]) -> str:
    """`docker image inspect`'s Config.Healthcheck as the table writes it: `CMD-SHELL <cmd> (3s/1s/3s/3)`."""
    hc = config.get("Healthcheck")
    if not isinstance(hc, dict) or not hc.get("Test") or hc["Test"] == ["NONE"]:
        return "none"

    def s(key: str) -> str:
        ns = int(hc.get(key) or 0)
        return f"{ns // 1_000_000_000}s" if ns else "-"

    test = list(hc["Test"])
    timing = f"{s('Interval')}/{s('Timeout')}/{s('StartPeriod')}/{hc.get('Retries') or '-'}"
    return f"{test[0]} {' '.join(test[1:])} ({timing})"


def entrypoint_of(config: dict[str, object]) -> str:
    ep = config.get("Entrypoint")
    return json.dumps(ep) if ep else "none"


def user_of(config: dict[str, object]) -> str:
    return str(config.get("User") or "root")
