"""The dashboard, `top` and `stats` against the real test-bed stack: Textual pilot tests drive the same app the
CLI runs (the real backend, the real engine), and tmux drives the CLI as a user's terminal would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.ui.tui.app import DashboardApp
from devstack.ui.tui.backend import make_backend
from devstack.ui.tui.widgets import ServicesTable
from tests.conftest import REPO, run_cli, up_failed
from tests.testbed_images import testbed_images as images_for_tests

pytestmark = pytest.mark.engine
STACK = "dash"
PROJECT = f"devstack-{STACK}"
COMPOSE = ["kafka", "spark", "clickhouse", "postgres", "minio", "redis", "mlflow", "airflow", "jupyter", "prometheus"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    images = images_for_tests()
    if "DEVSTACK_IMAGE_AIRFLOW" not in images:
        pytest.fail("test images missing: run bash tests/testbed/setup.sh")
    e = {**images, "XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}
    saved = {k: os.environ.get(k) for k in e}
    os.environ.update(e)  # the pilot tests run the app in this process: same state dir and images as the CLI
    # a run killed half-way leaves containers and volumes whose passwords this new state dir does not know
    forget = ["docker", "compose", "-p", PROJECT, "down", "--volumes", "--remove-orphans"]
    subprocess.run(forget, capture_output=True)
    try:
        # every Compose service of the full profile; Seldon's k3d cluster runs in test_seldon_cluster.py's own stack
        r = run_cli("up", "--services", ",".join(COMPOSE), "--budget", "16g", "--stack", STACK, "--json", env=e)
        assert r.returncode == 0, up_failed(r)
        yield e
    finally:
        run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)
        subprocess.run(forget, capture_output=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_app(app: DashboardApp, size: tuple[int, int], body: Callable) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await body(pilot)

    asyncio.run(main())


async def until(pilot, cond: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        await pilot.pause(0.05)
    return time.monotonic() - t0


def cell(app: DashboardApp, service: str, column: str) -> str:
    table = app.query_one(ServicesTable)
    return str(table.get_cell(service, column))


def container(service: str) -> str:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out, f"no container for {service}"
    return out[0]


def select_row(app: DashboardApp, service: str) -> None:
    table = app.query_one(ServicesTable)
    table.move_cursor(row=table.get_row_index(service))


def test_table_shows_every_service_with_the_health_status_reports(env: dict[str, str]) -> None:
    status = json.loads(run_cli("status", "--stack", STACK, "--json", env=env).stdout)
    compose = {s["name"]: s for s in status["services"] if s["runtime"] == "compose"}
    assert set(compose) == set(COMPOSE)
    assert all(s["healthy"] for s in compose.values()), {n: s for n, s in compose.items() if not s["healthy"]}
    app = DashboardApp(make_backend(STACK), interval=0.5)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.ticks >= 3, 20, "three samples")
        for name in COMPOSE:
            assert cell(app, name, "health") == "healthy", name
            assert cell(app, name, "state") == "running", name
            assert "/" in cell(app, name, "used/limit"), name  # memory used of its limit
        assert cell(app, "mlflow", "url").startswith("http://127.0.0.1:")
        assert app.query_one("#host").render  # host panel drawn
        host = str(app.query_one("#host").render())
        assert "budget 16.0G" in host and "engine" in host, host

    run_app(app, (160, 48), body)


def test_killed_container_shows_unhealthy_within_3s_and_restart_key_brings_it_back(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend(STACK), interval=1.0)
    seen: dict[str, float] = {}

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.ticks >= 2 and cell(app, "redis", "health") == "healthy", 20, "redis healthy")
        subprocess.run(["docker", "kill", container("redis")], check=True, capture_output=True)
        seen["kill"] = await until(pilot, lambda: cell(app, "redis", "health") in ("down", "unhealthy"), 3, "down")
        assert "✖" in cell(app, "redis", "!")
        select_row(app, "redis")
        await pilot.press("r")
        seen["back"] = await until(pilot, lambda: cell(app, "redis", "health") == "healthy", 90, "redis healthy")
        assert app.busy is None or "restart" in (app.busy or "")
        # Docker restarts the killed container itself (restart: unless-stopped), so redis may show healthy while
        # the restart key's own restart is still under way: status is asked once that is done and redis is back
        await until(pilot, lambda: app.busy is None and cell(app, "redis", "health") == "healthy", 120, "restart done")

    run_app(app, (160, 48), body)
    print(f"\nkill seen after {seen['kill']:.2f}s; healthy again {seen['back']:.1f}s after pressing r")
    st = json.loads(run_cli("status", "--stack", STACK, "--json", env=env).stdout)
    assert st["healthy"], [(s["name"], s["state"], s["detail"]) for s in st["services"] if not s["healthy"]]


def test_stop_and_start_keys_and_a_container_removed_by_hand(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend(STACK), interval=0.5)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.ticks >= 2, 20, "samples")
        select_row(app, "redis")
        await pilot.press("x")
        await until(pilot, lambda: cell(app, "redis", "state") == "stopped", 40, "redis stopped by x")
        subprocess.run(["docker", "rm", "-f", "-v", container("redis")], check=True, capture_output=True)
        await until(pilot, lambda: cell(app, "redis", "state") == "missing", 5, "redis shown missing")
        await pilot.press("s")
        await until(pilot, lambda: cell(app, "redis", "health") == "healthy", 90, "redis recreated by s")

    run_app(app, (120, 40), body)


def test_plan_screen_previews_another_budget(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend(STACK), interval=1.0)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.plan is not None, 20, "plan loaded")
        await pilot.press("p")
        await pilot.pause(0.2)
        budget = app.screen.query_one("#budget")
        budget.value = ""
        await pilot.press(*"14g")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.shown is not None, 30, "preview shown")  # type: ignore[attr-defined]
        shown = app.screen.shown  # type: ignore[attr-defined]
        assert shown.error is None and shown.plan.budget_mib == 14 * 1024
        assert shown.changes and all("->" in c for c in shown.changes)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.plan is not None and app.plan.budget_mib == 16 * 1024  # nothing applied

    run_app(app, (80, 24), body)


def test_a_budget_too_small_is_shown_on_the_plan_screen_not_raised(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend(STACK), interval=1.0)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.plan is not None, 20, "plan loaded")
        await pilot.press("p")
        await pilot.pause(0.2)
        app.screen.query_one("#budget").value = "2g"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.shown is not None, 30, "preview")  # type: ignore[attr-defined]
        assert "--budget" in app.screen.shown.error  # type: ignore[attr-defined]

    run_app(app, (80, 24), body)


class SocketProxy:
    """A unix-socket pass-through to the engine that can be cut: Docker stopping, as the app sees it, without
    stopping the engine the other tests share."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.conns: list[socket.socket] = []
        self.server: socket.socket | None = None

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(self.path))
        self.server.listen(32)
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.server:
            self.server.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns.clear()
        self.path.unlink(missing_ok=True)


def test_docker_stopping_mid_session_is_said_plainly_and_the_app_recovers(env: dict[str, str], tmp_path: Path) -> None:
    proxy = SocketProxy(tmp_path / "docker.sock")
    proxy.start()
    app = DashboardApp(make_backend(STACK, docker_url=f"unix://{proxy.path}"), interval=0.5, follow_logs=False)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.ticks >= 2 and cell(app, "kafka", "health") == "healthy", 20, "sampling")
        proxy.stop()
        await until(pilot, lambda: app.last is not None and app.last.engine_error is not None, 10, "engine error")
        host = str(app.query_one("#host").render())
        assert "Docker is not running" in host and "retrying" in host, host
        assert cell(app, "kafka", "health") == "?"  # the last known state, marked stale, not a guess
        await pilot.press("question_mark")  # the UI still answers keys
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        proxy.start()
        await until(pilot, lambda: app.last is not None and app.last.engine_error is None, 10, "engine back")
        await until(pilot, lambda: cell(app, "kafka", "health") == "healthy", 10, "table back")

    try:
        run_app(app, (100, 30), body)
    finally:
        proxy.stop()


def test_a_stack_that_was_never_started(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend("never"), interval=0.5)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.ticks >= 2, 10, "samples")
        host = str(app.query_one("#host").render())
        assert "never started" in host and "press u" in host, host

    run_app(app, (80, 24), body)


def test_stats_json_once_and_peaks_recorded(env: dict[str, str]) -> None:
    r = run_cli("stats", "--stack", STACK, "--json", "--once", env=env)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    by = {s["name"]: s for s in d["services"]}
    assert set(COMPOSE) <= set(by)
    for name in COMPOSE:
        assert by[name]["used_mib"] > 0 and by[name]["limit_mib"] > 0, by[name]
        assert by[name]["cpu_percent"] is not None
    assert by["kafka"]["limit_mib"] == sum(c["limit_mib"] for c in by["kafka"]["containers"])
    assert len(by["kafka"]["containers"]) == 3
    peaks = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "peaks.json").read_text())
    assert set(COMPOSE) <= set(peaks["services"])
    r = run_cli("plan", "--from-peaks", "--stack", STACK, "--services", ",".join(COMPOSE), "--json", env=env)
    assert r.returncode == 0, r.stderr
    learned = json.loads(r.stdout)
    assert learned["budget_mib"] == 16 * 1024 and learned["total_mib"] <= learned["budget_mib"]
    print("\nlearned from peaks:", *[x["reason"] for x in learned["learned"]], sep="\n  ")
    # an idle test stack uses little of most limits: somebody gives memory back
    assert any(x["new_target_mib"] < x["old_target_mib"] for x in learned["learned"])


def test_stats_for_a_stack_that_was_never_started(env: dict[str, str]) -> None:
    r = run_cli("stats", "--stack", "never2", "--once", env=env)
    assert r.returncode == 2 and "devstack up" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by tests/testbed/setup.sh")
def test_dashboard_in_tmux_as_a_user_runs_it(env: dict[str, str]) -> None:
    session = "devstack-dash-test"
    cmd = f"cd {REPO} && PYTHONPATH={REPO} python -m devstack dashboard --stack {STACK}"
    tmux_env = ["-e", f"XDG_STATE_HOME={env['XDG_STATE_HOME']}", "-e", "TERM=xterm-256color"]
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", *tmux_env, cmd], check=True)

    def screen() -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
        ).stdout

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and screen().count("healthy") < 8:
            time.sleep(0.5)
        text = screen()
        for name in COMPOSE[:8]:  # the rows an 80x24 terminal shows at once
            assert name in text, text
        assert text.count("healthy") >= 8, text
        subprocess.run(["tmux", "send-keys", "-t", session, "?"], check=True)
        time.sleep(1.5)
        assert "restart the selected service" in screen(), screen()
        subprocess.run(["tmux", "send-keys", "-t", session, "Escape"], check=True)
        time.sleep(1.0)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 15

        def alive() -> bool:
            return subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0

        while time.monotonic() < deadline and alive():  # the session ends when the dashboard exits
            time.sleep(0.3)
        gone = not alive()
        assert gone, "q did not quit the dashboard: " + screen()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by tests/testbed/setup.sh")
@pytest.mark.parametrize("width,height", [(120, 50), (80, 24)])
def test_top_in_tmux(env: dict[str, str], width: int, height: int) -> None:
    """At 120x50 the brokers are listed under kafka; at 80x24 (Terminal.app's default) every service still shows."""
    session = "devstack-top-test"
    # a terminal of exactly this size: COLUMNS and LINES inherited from whatever started the tmux server win over
    # the pane's size in rich (as in top(1)), and a CI runner may export them
    cmd = f"cd {REPO} && PYTHONPATH={REPO} env -u COLUMNS -u LINES python -m devstack top --stack {STACK} --interval 1"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
         "-e", f"XDG_STATE_HOME={env['XDG_STATE_HOME']}", cmd],
        check=True,
    )  # fmt: skip
    tall = height >= 50
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            if all(name in text for name in COMPOSE) and ("kafka-3" in text) == tall:
                break
            time.sleep(0.5)
        for name in COMPOSE:
            assert name in text, text
        assert "budget" in text, text
        if tall:
            assert "kafka-3" in text and "folded" not in text, text  # brokers listed under their service
        else:
            assert "kafka-3" not in text and "folded" in text, text  # containers folded so that services fit
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
        ):
            time.sleep(0.3)
        assert subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_up_key_on_a_healthy_stack_changes_nothing_and_says_so(env: dict[str, str]) -> None:
    app = DashboardApp(make_backend(STACK), interval=1.0, follow_logs=False)

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: app.plan is not None and app.ticks >= 1, 20, "plan loaded")
        await pilot.press("u")
        # up of a healthy stack probes each service once, but on loaded cores a probe can take a while
        await until(
            pilot, lambda: app.busy is None and "up:" in app.note, 600, lambda: f"up finished (note: {app.note!r})"
        )
        assert "nothing changed" in app.note, app.note

    run_app(app, (100, 30), body)
