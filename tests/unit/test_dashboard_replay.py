"""The dashboard's screens and keys on a recording of a real test-bed stack: SVG snapshots at 80x24 and 160x48
(identical on every run: the figures are recorded, not live), and the keys reaching the backend. The same app
runs against the live stack in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.widgets import Input

from devstack.monitor.sampler import Snapshot
from devstack.ui.tui.app import DashboardApp
from devstack.ui.tui.widgets import ServicesTable
from tests.dashboard_replay import ReplayBackend

SIZES = [(80, 24), (160, 48)]


def make_app() -> tuple[DashboardApp, ReplayBackend]:
    backend = ReplayBackend()
    return DashboardApp(backend, interval=0.01), backend


def settled(app: DashboardApp, backend: ReplayBackend) -> Callable:  # type: ignore[type-arg]
    async def wait(pilot) -> None:  # type: ignore[no-untyped-def]
        first = backend.plan().names()[0]  # type: ignore[union-attr]
        want = 1 + len(backend._logs.get(first, [""]))  # the pane's title line and the recorded lines
        for _ in range(1000):  # on a loaded CI machine the log batcher may need several flushes
            if backend.exhausted and app.ticks > len(backend._snaps) and len(app.logs.lines) >= want:
                break
            await pilot.pause(0.02)
        assert len(app.logs.lines) >= want, "the recorded log never reached the pane"
        await pilot.pause(0.2)
        # the pane follows its last line; on a loaded machine a scroll may still be pending when the picture is
        # taken (one line off): settle it, as a person looking at the screen would see it a moment later
        await pilot.wait_for_scheduled_animations()
        app.logs.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.1)

    return wait


def test_main_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, backend = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app, backend))


def test_main_screen_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, backend = make_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=settled(app, backend))


def test_help_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, backend = make_app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        await pilot.press("question_mark")
        for _ in range(200):  # on a loaded machine the help screen may take more than a moment to mount
            if app.screen is not app.screen_stack[0]:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _plan_preview(app: DashboardApp, backend: ReplayBackend, budget: str) -> Callable:  # type: ignore[type-arg]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        await pilot.press("p")
        for _ in range(200):  # on a loaded machine the plan screen may take more than a moment to mount
            if app.screen.query(Input):
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor is a different picture every half second
        app.screen.query_one("#budget", Input).value = budget
        await pilot.press("enter")
        for _ in range(200):
            if getattr(app.screen, "shown", None) is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()

    return run_before


def test_plan_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, backend = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_plan_preview(app, backend, "12g"))


def test_plan_screen_160x48(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, backend = make_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=_plan_preview(app, backend, "12g"))


def run(app: DashboardApp, size: tuple[int, int], body: Callable) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await body(pilot)

    asyncio.run(main())


def test_keys_reach_the_backend_and_down_asks_first() -> None:
    app, backend = make_app()

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        table = app.query_one(ServicesTable)
        table.move_cursor(row=table.get_row_index("redis"))
        for key in ("r", "x", "s"):
            await pilot.press(key)
            for _ in range(100):
                if app.busy is None:
                    break
                await pilot.pause(0.02)
        assert backend.actions == [("restart", "redis"), ("stop", "redis"), ("start", "redis")]
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("n")  # declined: nothing happens
        await pilot.pause(0.1)
        assert ("down", "") not in backend.actions
        await pilot.press("d", "y")
        for _ in range(100):
            if ("down", "") in backend.actions:
                break
            await pilot.pause(0.02)
        assert ("down", "") in backend.actions

    run(app, (100, 30), body)


def test_plan_screen_applies_the_previewed_budget() -> None:
    app, backend = make_app()

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await _plan_preview(app, backend, "14g")(pilot)
        await pilot.press("ctrl+a")
        for _ in range(100):
            if any(a == "up" for a, _ in backend.actions):
                break
            await pilot.pause(0.02)
        assert ("up", f"{backend.plan().profile}:{14 * 1024}m") in backend.actions  # type: ignore[union-attr]

    run(app, (80, 24), body)


def test_the_table_marks_what_the_recording_saw() -> None:
    app, backend = make_app()
    seen: dict[str, str] = {}

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        table = app.query_one(ServicesTable)
        for name in backend.plan().names():  # type: ignore[union-attr]
            seen[name] = str(table.get_cell(name, "health"))

    run(app, (160, 48), body)
    assert seen["seldon"] == "n/a"
    assert all(v == "healthy" for k, v in seen.items() if k != "seldon"), seen


def test_open_key_opens_the_selected_services_page_and_says_when_there_is_none() -> None:
    app, backend = make_app()
    opened: list[str] = []
    app.open_url = lambda url, new_tab=True: opened.append(url)  # type: ignore[method-assign]

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        table = app.query_one(ServicesTable)
        table.move_cursor(row=table.get_row_index("mlflow"))
        await pilot.press("o")
        table.move_cursor(row=table.get_row_index("redis"))  # no web page
        await pilot.press("o")
        await pilot.pause(0.1)

    run(app, (100, 30), body)
    assert opened == [app.urls["mlflow"]] and opened[0].startswith("http://127.0.0.1:")


class FlakyBackend(ReplayBackend):
    """Raises on the 2nd and 3rd sample (as a bug in a parser or an engine surprise would), then recovers."""

    def sample(self, stats: bool = True) -> Snapshot:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls in (2, 3):
            raise KeyError("Memory")
        return super().sample(stats)


def test_sampling_survives_an_exception_and_says_so() -> None:
    backend = FlakyBackend()
    app = DashboardApp(backend, interval=0.2)  # the failing state lasts two ticks: long enough to be seen
    seen: list[str] = []

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        for _ in range(500):
            seen.append(app.note)
            if backend.calls > 6 and app.note == "sampling works again":
                break
            await pilot.pause(0.02)
        assert backend.calls > 6, "sampling stopped after the exception"
        assert any("sampling failed (KeyError: 'Memory')" in n for n in seen), seen
        assert app.sample_error is None and app.note == "sampling works again"
        assert app.services, "the samples after the failure reached the table"

    run(app, (120, 40), body)


def test_firing_rule_alerts_are_toasted_and_named_under_the_host_line() -> None:
    # issue 15.2: the dashboard shows what Prometheus's rules hold firing (a real /api/v1/alerts answer: one rule
    # firing, one pending); a pending alert is not toasted, as it may clear before its `for`
    import json
    from pathlib import Path

    from devstack.planning.alerts import parse_alerts

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus_alerts_testbed.json"
    app, backend = make_app()
    backend.alerts = parse_alerts(json.loads(fixture.read_text()))

    async def body(pilot) -> None:  # type: ignore[no-untyped-def]
        await settled(app, backend)(pilot)
        for _ in range(500):
            if app.firing:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        assert [(a.name, a.service) for a in app.firing] == [("TargetDown", "redis")]
        assert [n.title for n in app._notifications] == ["TargetDown firing"]
        assert "alerts firing: TargetDown (redis)" in str(app.host.render())

    run(app, (120, 40), body)
