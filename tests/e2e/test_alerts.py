"""Alertmanager, the service added as one module (issue 14.1), and the alerting rules the services declare (issue
15.2): the rendered rules pass Prometheus's own checker, and in a real stack on the test images Alertmanager comes
up healthy through `devstack up`, Prometheus sends it alerts, and a scrape target that stops answering fires
TargetDown there."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, up_failed
from tests.shifted_stack import config_path, shifted_env
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
STACK = "e2e-alerts"
PROJECT = f"devstack-{STACK}"
SERVICES = "redis,prometheus,alertmanager"
SHIFT = 26000  # every published port moved by a devstack.yaml: no other stack's ports are needed
ALERTMANAGER = f"http://127.0.0.1:{9095 + SHIFT}"
PROM = f"http://127.0.0.1:{9090 + SHIFT}"


def _image(name: str) -> str:
    images = testbed_images()
    key = f"DEVSTACK_IMAGE_{name}"
    if key not in images:
        pytest.fail(f"test image missing ({name}): run bash tests/testbed/setup.sh")
    return images[key]


def test_rendered_rules_and_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    r = run_cli(
        "render", "--services", "kafka,redis,minio,prometheus,alertmanager", "--budget", "8g", "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    mount = f"{out / 'config/prometheus'}:/etc/prometheus:ro"
    check = ["check", "config", "/etc/prometheus/prometheus.yml"]
    prom = subprocess.run(
        ["docker", "run", "--rm", "-v", mount, "--entrypoint", "/bin/promtool", _image("PROMETHEUS"), *check],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert prom.returncode == 0, prom.stdout + prom.stderr
    # every service's rules were read, not just a file that parses
    assert "SUCCESS: 4 rules found" in prom.stdout + prom.stderr, prom.stdout + prom.stderr
    mount = f"{out / 'config/alertmanager'}:/etc/alertmanager:ro"
    check = ["check-config", "/etc/alertmanager/alertmanager.yml"]
    am = subprocess.run(
        ["docker", "run", "--rm", "-v", mount, "--entrypoint", "/bin/amtool", _image("ALERTMANAGER"), *check],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert am.returncode == 0, am.stdout + am.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"), SERVICES, SHIFT, ["REDIS", "PROMETHEUS", "REDIS_EXPORTER", "ALERTMANAGER"]
    )
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(
        "up",
        "--services",
        SERVICES,
        "--budget",
        "2g",
        "--stack",
        STACK,
        "--config",
        config_path(env),
        "--json",
        env=env,
    )
    assert r.returncode == 0, up_failed(r)
    return dict(json.loads(r.stdout))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def test_alertmanager_comes_up_healthy_and_prometheus_sends_to_it(up: dict[str, Any]) -> None:
    assert up["services"]["alertmanager"]["ok"], up["services"]["alertmanager"]
    assert up["services"]["alertmanager"]["detail"] == "ready, and its API answers"
    assert _get(f"{ALERTMANAGER}/api/v2/status")["versionInfo"]["version"] == "0.29.0"
    # Prometheus found it: its alertmanagers API lists the one the plan rendered, on the Compose network
    deadline, active = time.monotonic() + 90, []
    while time.monotonic() < deadline and not active:
        active = _get(f"{PROM}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        time.sleep(3)
    assert [a["url"] for a in active] == ["http://alertmanager:9093/api/v2/alerts"]


def test_a_target_that_stops_answering_fires_target_down(up: dict[str, Any], env: dict[str, str]) -> None:
    subprocess.run(["docker", "stop", "-t", "2", f"{PROJECT}-redis-exporter-1"], check=True, capture_output=True)
    try:
        # scraped every 15 s, `for: 1m`, evaluated every 15 s, then sent: about two minutes
        deadline, firing = time.monotonic() + 300, []
        while time.monotonic() < deadline:
            alerts = _get(f"{ALERTMANAGER}/api/v2/alerts?active=true")
            firing = [a for a in alerts if a["labels"].get("alertname") == "TargetDown"]
            if firing:
                break
            time.sleep(5)
        assert [(a["labels"]["job"], a["labels"]["service"], a["labels"]["severity"]) for a in firing] == [
            ("redis", "redis", "critical")
        ], firing
        assert "has not answered Prometheus" in firing[0]["annotations"]["summary"]
        # status shows it too, from Prometheus's own alerts API: in the prometheus entry of --json and in a table
        r = run_cli("status", "--stack", STACK, "--json", env=env)
        prom = next(s for s in json.loads(r.stdout)["services"] if s["name"] == "prometheus")
        assert ("TargetDown", "firing", "redis") in [(a["name"], a["state"], a["service"]) for a in prom["alerts"]]
        r = run_cli("status", "--stack", STACK, env=env)
        assert "Alerts: Prometheus rules" in r.stdout and "TargetDown" in r.stdout, r.stdout
    finally:
        subprocess.run(["docker", "start", f"{PROJECT}-redis-exporter-1"], check=True, capture_output=True)
