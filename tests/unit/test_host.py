"""Engine facts from `docker info`'s JSON, recorded on the test bed (tests/fixtures/docker_info)."""

from __future__ import annotations

import json
import subprocess
import sys

from devstack.runtime.host import parse_docker_info
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "docker_info"


def test_an_engine_that_answers() -> None:
    e = parse_docker_info(json.loads((FIXTURES / "engine-up.json").read_text()))
    assert e.reachable and not e.error
    assert (e.cli, e.compose, e.server_version) == ("28.2.2", "2.40.3", "20.10.24+dfsg1")
    assert (e.mem_mib, e.cpus, e.arch) == (25276071936 // 2**20, 2, "amd64")
    assert e.operating_system.startswith("Debian") and not e.is_desktop and not e.start_interval


def test_a_daemon_that_is_down_is_a_fact_with_its_reason() -> None:
    reason = "Cannot connect to the Docker daemon at unix:///nonexistent.sock. Is the docker daemon running?"
    e = parse_docker_info(json.loads((FIXTURES / "engine-down.json").read_text()), 1, reason)
    assert not e.reachable and e.error == reason
    assert (e.cli, e.compose, e.mem_mib) == ("28.2.2", "2.40.3", 0)  # the CLI's half still answers


def test_docker_desktop_on_apple_silicon() -> None:
    info = json.loads((FIXTURES / "engine-up.json").read_text())
    info |= {"OperatingSystem": "Docker Desktop", "Architecture": "aarch64", "ServerVersion": "28.5.1"}
    e = parse_docker_info(info)
    assert e.is_desktop and e.arch == "arm64" and e.start_interval


def test_plan_and_render_import_no_docker_client_textual_or_compose_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # issue 14.7: commands that need no engine start quickly; plan asks the engine's memory with one docker call
    code = (
        "import sys, runpy\n"
        "sys.argv = ['devstack', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('devstack', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('docker', 'python_on_whales', 'textual',\n"
        "         'devstack.runtime.engine.compose', 'devstack.lifecycle.stack')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    for args in (
        ["--help"],
        ["profiles"],
        ["plan", "--budget", "12g"],
        ["render", "--budget", "12g", "--out", str(tmp_path)],
    ):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert r.stderr.strip().splitlines()[-1] == "[]", (args, r.stderr[-2000:])
