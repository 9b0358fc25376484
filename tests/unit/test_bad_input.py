"""Bad input, tried through the real CLI as a user would: one clear line naming the cause and the fix,
exit code 2, no traceback, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

CASES: dict[str, tuple[str, list[str], str]] = {
    # name: (devstack.yaml text or "" for none, extra args, text the message must contain)
    "broken yaml": ("budget: [20g\n", [], "broken YAML"),
    "tab-indented yaml": ("services:\n\tredis: {}\n", [], "broken YAML"),
    "duplicate key": ("budget: 20g\nbudget: 22g\n", [], "duplicate key"),
    "top level not a mapping": ("- redis\n- kafka\n", [], "top level must be a mapping"),
    "unknown top-level field": ("budgett: 20g\n", [], "budgett"),
    "unknown service in override": ("services:\n  kafak: {}\n", [], "unknown service 'kafak'"),
    "unknown field of a service": ("services:\n  redis:\n    memroy: 1g\n", [], "memroy"),
    "negative size": ("services:\n  redis:\n    memory: -1g\n", [], "is not a size"),
    "bare number size": ("budget: 20\n", [], "is not a size"),
    "absurd size": ("budget: 900000t\n", [], "absurdly large"),
    "memory below floor": ("services:\n  clickhouse:\n    memory: 256m\n", [], "clickhouse needs 1536m"),
    "too many replicas": ("services:\n  kafka:\n    replicas: 7\n", [], "runs 1-3 replicas, not 7"),
    "replicas not a number": ("services:\n  kafka:\n    replicas: three\n", [], "replicas"),
    "port clash in override": ("services:\n  redis:\n    ports: {redis: 5432}\n", ["--profile", "ml"], "5432"),
    "port out of range": ("services:\n  redis:\n    ports: {redis: 70000}\n", [], "outside 1-65535"),
    "unknown port name": ("services:\n  redis:\n    ports: {http: 6380}\n", [], "redis has ports redis"),
    "bad image reference": ("services:\n  redis:\n    image: 'not an image'\n", [], "not an image reference"),
    "bad bind address": ("bind: localhost-ish\n", [], "not an IP address"),
    "unknown profile": ("", ["--profile", "fulll"], "unknown profile 'fulll'"),
    "unknown service flag": ("", ["--services", "redis,kafak"], "unknown service 'kafak'"),
    "empty services flag": ("", ["--services", ","], "--services is empty"),
    "budget below floors": ("", ["--budget", "3g"], "needs at least"),
    "budget not a size": ("", ["--budget", "lots"], "is not a size"),
    "missing config file": ("", ["--config", "/nonexistent/devstack.yaml"], "no such file"),
    "config is a directory": ("", ["--config", "/tmp"], "is a directory"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_one_line_exit_2(name: str, tmp_path: Path) -> None:
    text, args, expect = CASES[name]
    if text:
        (tmp_path / "devstack.yaml").write_text(text)
    r = run_cli("plan", *args, cwd=tmp_path, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "Traceback" not in r.stderr + r.stdout
    assert len(err.splitlines()) == 1, err
    assert expect in err, err
    assert "Fix:" in err, err
    if text and name not in ("unknown profile", "port clash in override"):
        assert "devstack.yaml" in err  # the file is named


def test_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "devstack.yaml").write_text("budget: 20g\nservices:\n  redis: {}\n  kafka:\n    replicas: 9\n")
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2
    assert "devstack.yaml:5: services.kafka.replicas" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_override(tmp_path: Path) -> None:
    f = tmp_path / "devstack.yaml"
    f.write_text("budget: 20g\n")
    f.chmod(0)
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2 and "permission denied" in r.stderr


def test_unreadable_override_as_root_is_reported_too(tmp_path: Path) -> None:
    f = tmp_path / "devstack.yaml"
    f.write_bytes(b"\xff\xfe budget")
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2 and "not UTF-8" in r.stderr and "Traceback" not in r.stderr


def test_render_refuses_a_foreign_directory_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run_cli("render", "--profile", "minimal", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "not a devstack stack" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_budget_below_floors_renders_nothing(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    r = run_cli("render", "--budget", "1g", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and not out.exists()
