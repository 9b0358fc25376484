"""Alertmanager, the service added as one module (issue 14.1), and the alerting rules the services declare (issue
15.2): the rendered rules pass Prometheus's own checker, and in a real stack on the test images Alertmanager comes
up healthy through `devstack up`, Prometheus sends it alerts, and a scrape target that stops answering fires
TargetDown there. The container rules fire from cAdvisor's view of the real containers: a process holding most of
Redis's memory limit, the kernel's OOM kill in that container, an exporter Docker restarts three times, and the disk
under Docker's data root (with a threshold below its real fill)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, up_failed
from tests.shifted_stack import config_path, configure, shifted_env
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
STACK = "e2e-alerts"
PROJECT = f"devstack-{STACK}"
SERVICES = "redis,prometheus,alertmanager"
SHIFT = 26000  # every published port moved by a devstack.yaml: no other stack's ports are needed
ALERTMANAGER = f"http://127.0.0.1:{9095 + SHIFT}"
PROM = f"http://127.0.0.1:{9090 + SHIFT}"
# devstack.yaml's `alerts:` for this stack, as a user may set them: thresholds the test crosses on purpose, and no
# `for`, so each fires at the first evaluation that sees it (cAdvisor's housekeeping and Prometheus's scrape: 15 s)
ALERTS: dict[str, dict[str, Any]] = {
    "ContainerMemoryNearLimit": {"threshold": 0.6, "for": "0s"},
    "VolumeDiskNearFull": {"threshold": 0.0001, "for": "0s"},  # the real disk's real fill: any disk is above it
}


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
    assert "SUCCESS: 8 rules found" in prom.stdout + prom.stderr, prom.stdout + prom.stderr
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
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        ["REDIS", "PROMETHEUS", "REDIS_EXPORTER", "ALERTMANAGER", "CADVISOR"],
    )
    configure(e, alerts=ALERTS)
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


def _firing(name: str, labels: dict[str, str], timeout: float = 240) -> dict[str, Any]:
    """The firing alert of that rule with these labels, from Prometheus's own alerts API, once there is one."""
    deadline, found = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        found = [a for a in _get(f"{PROM}/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == name]
        for a in found:
            if a["state"] == "firing" and all(a["labels"].get(k) == v for k, v in labels.items()):
                return dict(a)
        time.sleep(3)
    raise AssertionError(f"{name} {labels} did not fire in {timeout:.0f} s; active: {found}")


def _docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def test_cadvisor_runs_beside_prometheus_and_is_scraped(up: dict[str, Any]) -> None:
    deadline, targets = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        targets = [
            t for t in _get(f"{PROM}/api/v1/targets")["data"]["activeTargets"] if t["labels"]["job"] == "containers"
        ]
        if targets and targets[0]["health"] == "up":
            break
        time.sleep(3)
    assert [(t["labels"]["service"], t["health"]) for t in targets] == [("prometheus", "up")], targets
    # inside Prometheus's planned memory, at the fixed limit the plan gave it
    limit = _docker("inspect", "-f", "{{.HostConfig.Memory}}", f"{PROJECT}-cadvisor-1").stdout.strip()
    assert int(limit) == 64 * 1024 * 1024


def test_a_container_near_its_memory_limit_and_then_an_oom_kill_fire(up: dict[str, Any], env: dict[str, str]) -> None:
    redis = f"{PROJECT}-redis-1"
    limit = int(_docker("inspect", "-f", "{{.HostConfig.Memory}}", redis).stdout)
    mib = limit // (1024 * 1024)
    # a process in Redis's container holding 75 % of its limit (tail keeps a line with no newline whole), for 10 min
    hold = f"(head -c {mib * 3 // 4}M /dev/zero; sleep 600) | tail > /dev/null"
    _docker("exec", "-d", redis, "sh", "-c", hold)
    try:
        alert = _firing("ContainerMemoryNearLimit", {"name": redis, "service": "redis"})
        assert float(alert["value"]) > 0.6, alert
        assert alert["labels"]["container_label_com_docker_compose_project"] == PROJECT
        # then past the limit: the kernel kills the largest process in the container's cgroup
        r = _docker("exec", redis, "sh", "-c", f"head -c {mib * 2}M /dev/zero | tail > /dev/null", check=False)
        assert r.returncode != 0, r  # tail (or the holder) killed: 137 for the one exec'd here
        alert = _firing("ContainerOOMKilled", {"name": redis, "service": "redis"})
        assert alert["labels"]["severity"] == "critical"
        assert "killed for its memory limit" in alert["annotations"]["summary"]
        # Redis itself lives on (the kernel chose a hog), and status shows the alert in the prometheus entry
        assert _docker("inspect", "-f", "{{.State.Running}}", redis).stdout.strip() == "true"
        r = run_cli("status", "--stack", STACK, "--json", env=env)
        prom = next(s for s in json.loads(r.stdout)["services"] if s["name"] == "prometheus")
        assert ("ContainerOOMKilled", "firing", "redis") in [
            (a["name"], a["state"], a["service"]) for a in prom["alerts"]
        ]
    finally:
        _docker("exec", redis, "sh", "-c", "kill -9 -1", check=False)  # every process but Redis (PID 1)


def test_a_container_docker_restarts_again_and_again_fires_restart_loop(up: dict[str, Any]) -> None:
    import os
    import signal

    exporter = f"{PROJECT}-redis-exporter-1"
    for _ in range(3):
        started = _docker("inspect", "-f", "{{.State.StartedAt}}", exporter).stdout
        # a crash: its process killed from outside Docker (`docker kill` counts as a stop by hand, which the
        # restart policy respects), as the test bed's engine runs on this host
        os.kill(int(_docker("inspect", "-f", "{{.State.Pid}}", exporter).stdout), signal.SIGKILL)
        deadline = time.monotonic() + 60  # the restart policy brings it back (Docker's backoff: 100 ms, doubling)
        while _docker("inspect", "-f", "{{.State.StartedAt}}", exporter).stdout == started:
            assert time.monotonic() < deadline, "Docker did not restart the killed exporter"
            time.sleep(1)
        time.sleep(16)  # one cAdvisor housekeeping, so each start is a sample of its own
    alert = _firing("ContainerRestartLoop", {"name": exporter, "service": "prometheus"})
    assert float(alert["value"]) >= 3, alert


def test_the_disk_under_the_stacks_volumes_fires_past_its_threshold(up: dict[str, Any]) -> None:
    alert = _firing("VolumeDiskNearFull", {})
    # the device is the one under this stack's containers (Docker's data root, where its named volumes are too)
    q = urllib.parse.quote(f'container_fs_limit_bytes{{container_label_com_docker_compose_project="{PROJECT}"}}')
    devices = {r["metric"]["device"] for r in _get(f"{PROM}/api/v1/query?query={q}")["data"]["result"]}
    assert alert["labels"]["device"] in devices, (alert, devices)
    assert 0 < float(alert["value"]) < 1, alert
