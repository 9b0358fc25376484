"""The CLI as a user meets it: fast help, JSON plans, the issue's budgets, a headless core."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli

HEADLESS = [
    "planning.catalog",
    "core.knobs",
    "planning.plan",
    "planning.profiles",
    "planning.profile_schema",
    "planning.settings",
    "planning.stack_names",
    "core.files",
    "render.project",
    "runtime.host",
    "lifecycle.doctor",
    "render.state",
    "planning.config",
    "core.units",
    "monitor.sampler",
    "planning.peaks",
]


def test_help_and_version_import_nothing_heavy() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from devstack.ui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "mods = ('pydantic', 'docker', 'python_on_whales', 'textual', 'rich', 'yaml', 'psutil')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_core_is_headless() -> None:
    mods = ", ".join(f"devstack.{m}" for m in HEADLESS)
    code = (
        f"import sys, importlib\nfor m in '{mods}'.split(', '): importlib.import_module(m)\n"
        "print([m for m in ('textual', 'rich') if m in sys.modules])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_version_and_module_entry_point() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("devstack ")


def test_plan_json_full_28g() -> None:
    # --force: the planner for the seed's Mac Studio, on an engine that may have less (plan refuses it else)
    r = run_cli("plan", "--profile", "full", "--budget", "28g", "--json", "--force")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["total_mib"] <= 28 * 1024
    assert {s["name"] for s in plan["services"]} == {
        "kafka",
        "spark",
        "clickhouse",
        "postgres",
        "minio",
        "redis",
        "mlflow",
        "airflow",
        "jupyter",
        "prometheus",
        "alertmanager",
        "seldon",
    }


def test_plan_24g_and_12g_shrink_with_reasons() -> None:
    p24 = json.loads(run_cli("plan", "--budget", "24g", "--json", "--force").stdout)
    p12 = json.loads(run_cli("plan", "--budget", "12g", "--json").stdout)
    assert p12["total_mib"] < p24["total_mib"] <= 24 * 1024
    assert any("broker" in r for r in p12["reasons"])
    table = run_cli("plan", "--budget", "12g")
    assert table.returncode == 0 and "What the budget cost" in table.stdout


def test_plan_3g_refuses_with_smallest_budget() -> None:
    r = run_cli("plan", "--budget", "3g")
    assert r.returncode == 2
    assert "--budget 12g" in r.stderr and "Traceback" not in r.stderr


def test_profiles_listed() -> None:
    r = run_cli("profiles", "--json")
    assert {p["name"] for p in json.loads(r.stdout)} == {"full", "streaming", "ml", "minimal"}


def test_doctor_json_answers_without_traceback() -> None:
    r = run_cli("doctor", "--profile", "minimal", "--json")
    assert r.returncode in (0, 3), r.stderr
    report = json.loads(r.stdout)
    checks = {f["check"] for f in report["findings"]}
    assert {"cpu arch", "host memory", "disk"} <= checks


@pytest.mark.engine
def test_doctor_and_plan_give_one_least_budget() -> None:
    # doctor summed the floors itself, without the exporters: "needs at least 11.4 GiB" for a full plan that
    # plan refused below 11.5 GiB
    doctor = json.loads(run_cli("doctor", "--profile", "full", "--json").stdout)
    (finding,) = [f for f in doctor["findings"] if f["check"] == "engine memory"]
    r = run_cli("plan", "--profile", "full", "--budget", "2g")
    assert r.returncode == 2, r.stdout + r.stderr
    least = re.search(r"needs at least ([0-9.]+ [GM]iB)", r.stderr)
    assert least and least.group(1) in finding["detail"], (r.stderr, finding)


def test_doctor_without_docker_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("doctor", "--profile", "minimal", "--json", env={"PATH": str(tmp_path)})
    report = json.loads(r.stdout)
    docker = [f for f in report["findings"] if f["check"] == "docker"]
    assert r.returncode == 3 and docker and docker[0]["level"] == "error" and docker[0]["fix"]


def test_plan_is_readable_at_80_columns() -> None:
    # issue 14.4: at 80 columns the one-table plan wrapped every cell and cut knobs short ("KAFKA_HEAP_…")
    r = run_cli("plan", "--profile", "full", "--budget", "16g", "--force", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in r.stdout, r.stdout
    plan = json.loads(run_cli("plan", "--profile", "full", "--budget", "16g", "--force", "--json").stdout)
    for s in plan["services"]:
        for k, v in s["knobs"].items():
            if k != "kafka.brokers":
                assert any(f"{k}={v}" in line for line in lines), (k, v)
        for c in s["containers"]:
            assert c in r.stdout
    # a byte count shows its size too
    assert re.search(r"max_server_memory_usage=\d+ \([0-9.]+ [GM]iB\)", r.stdout), r.stdout


def test_endpoints_are_whole_at_80_columns() -> None:
    from rich.console import Console

    from devstack.planning.config import plan_request, select
    from devstack.planning.endpoints import endpoints
    from devstack.planning.plan import make_plan
    from devstack.ui.output import print_endpoints

    sel = select(profile="full", services=None, budget="16g", config=None, stack=None)
    plan = make_plan(plan_request(sel, engine_mib=None, host_mib=32768, arch="amd64"))
    console = Console(width=80, record=True)
    print_endpoints(console, plan, "default")
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80, text
    for e in endpoints(plan):
        if e.service != "seldon":
            for url in (e.url, *e.extra.values()):
                assert url in text, (url, text)  # on one line, whole: it can be copied
