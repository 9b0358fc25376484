"""What the official images' entrypoints do with devstack's Compose files, read from their sources (the note of
issue 13 names the file and revision of each), so behaviour does not hang on an entrypoint's detail."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose"


def _service(file: str, name: str) -> dict[str, object]:
    return dict(yaml.safe_load((COMPOSE / file).read_text(encoding="utf-8"))["services"][name])


def test_clickhouse_sets_what_the_entrypoint_sets_only_without_a_command() -> None:
    """clickhouse/clickhouse-server's docker/server/entrypoint.sh exports CLICKHOUSE_WATCHDOG_ENABLE=0 only when
    run with no arguments or `--` ones; with a command (devstack's) it execs it as is, so the watchdog would run."""
    ch = _service("clickhouse.yaml", "clickhouse")
    command = ch["command"]
    assert isinstance(command, list) and not str(command[0]).startswith("--")
    env = ch["environment"]
    assert isinstance(env, dict) and env.get("CLICKHOUSE_WATCHDOG_ENABLE") == "0"
    # any of these makes the entrypoint write users.d/default-user.xml, which removes devstack's `default` user
    rewrite = {"CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DB", "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"}
    assert not rewrite & set(env), rewrite & set(env)
