"""The dashboard app: wiring only. Workers ask the backend and post immutable results as messages; handlers on
the UI thread update the history and the widgets. Polls never overlap: the next one is scheduled when the last
one has been drawn, so a slow engine slows the ticks, never the keys."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, RichLog
from textual.worker import get_current_worker

from devstack.core.errors import DevstackError
from devstack.monitor.sampler import History, ServiceSample, Snapshot, elsewhere
from devstack.planning.alerts import ActiveAlert
from devstack.planning.plan import Plan
from devstack.ui.tui.alerts import alerts
from devstack.ui.tui.backend import Backend
from devstack.ui.tui.fmt import mib
from devstack.ui.tui.screens import ConfirmScreen, HelpScreen, PlanScreen
from devstack.ui.tui.widgets import HostPanel, MemoryChart, ServicesTable

# seconds between asks of Prometheus's alerts: its rules are evaluated every 15 s
ALERTS_EVERY_S = 15.0


class Sampled(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SamplingFailed(Message):
    """A sample raised (a bug, or an engine answer nobody expected): said on screen, and sampling goes on."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class LogLines(Message):
    def __init__(self, service: str, lines: list[str]) -> None:
        super().__init__()
        self.service, self.lines = service, lines


class ActionFinished(Message):
    def __init__(self, what: str, ok: bool, detail: str) -> None:
        super().__init__()
        self.what, self.ok, self.detail = what, ok, detail


class RuleAlerts(Message):
    """What Prometheus's alerting rules hold firing now (none when the stack has no Prometheus)."""

    def __init__(self, firing: list[ActiveAlert]) -> None:
        super().__init__()
        self.firing = firing


class Progressed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


@dataclass
class _LogFollow:
    service: str
    stop: threading.Event


class DashboardApp(App[None]):
    TITLE = "devstack"
    CSS = """
    #services { height: 1fr; min-height: 5; }
    #host { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    #bottom { height: 45%; min-height: 7; }
    #chart { width: 1fr; border-right: solid $primary-darken-2; padding: 0 1; }
    #logs { width: 2fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("s", "service('start')", "start"),
        Binding("x", "service('stop')", "stop"),
        Binding("r", "service('restart')", "restart"),
        Binding("o", "open", "open"),
        Binding("u", "up", "up"),
        Binding("d", "down", "down"),
        Binding("p", "plan", "plan"),
        Binding("t", "toggle_chart", "chart", show=False),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        interval: float = 1.0,
        stats_every: int = 3,
        history: int = 600,
        follow_logs: bool = True,
    ):
        super().__init__()
        self.backend = backend
        self.interval = interval
        self.stats_every = max(1, stats_every)  # state every tick, memory and CPU every n-th (the costly part)
        self.follow = follow_logs
        self.history = History(size=history)
        self.plan: Plan | None = None
        self.urls: dict[str, str] = {}
        self.last: Snapshot | None = None
        self.services: dict[str, ServiceSample] = {}
        self.chart_total = False
        self.busy: str | None = None
        self.note = ""
        self._following: _LogFollow | None = None
        self._peaks_saved = time.monotonic()
        self.ticks = 0
        self.sample_error: str | None = None  # the last sample's failure, until one succeeds again
        self.firing: list[ActiveAlert] = []  # Prometheus's rules firing now, asked every ALERTS_EVERY_S

    def compose(self) -> ComposeResult:
        # kept as references: `App.query_one` searches the screen on top, which is a modal while one is open
        self.table = ServicesTable(id="services")
        self.host = HostPanel(id="host")
        self.chart = MemoryChart(id="chart")
        self.logs = RichLog(id="logs", max_lines=2000, wrap=False, markup=False)
        yield Header(show_clock=False)
        with Vertical():
            yield self.table
            yield self.host
            with Horizontal(id="bottom"):
                yield self.chart
                yield self.logs
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"stack {self.backend.stack}"
        self.host.show(None, None, self.history)
        self._load_plan()
        self._sample()
        self._poll_alerts()
        self.set_interval(ALERTS_EVERY_S, self._poll_alerts)

    # ---------------------------------------------------------------- workers (never touch widgets)
    @work(thread=True, exclusive=True, group="alerts", exit_on_error=False)
    def _poll_alerts(self) -> None:
        try:
            firing = [a for a in self.backend.rule_alerts() if a.state == "firing"]
        except Exception:  # Prometheus away or not planned: the table already says why; no alerts to show
            firing = []
        self.post_message(RuleAlerts(firing))

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _load_plan(self) -> None:
        plan = self.backend.plan()
        urls = self.backend.urls() if plan else {}
        self.call_from_thread(self._plan_loaded, plan, urls)

    @work(thread=True, exclusive=True, group="sample", exit_on_error=False)
    def _sample(self) -> None:
        # every tick is re-armed by the message it posts: an exception that escaped here stopped sampling for good,
        # silently (exit_on_error=False), with the table frozen on its last figures
        try:
            snap = self.backend.sample(stats=self.ticks % self.stats_every == 0)
        except Exception as e:
            self.post_message(SamplingFailed(f"{type(e).__name__}: {e}"))
        else:
            self.post_message(Sampled(snap))

    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def _follow_logs(self, follow: _LogFollow) -> None:
        batch: list[str] = []
        lock = threading.Lock()

        def on_line(line: str) -> None:
            with lock:
                batch.append(line)

        def flush() -> None:
            while not follow.stop.wait(0.25):
                with lock:
                    lines = batch[:]
                    batch.clear()
                if lines:
                    self.post_message(LogLines(follow.service, lines))

        flusher = threading.Thread(target=flush, daemon=True)
        flusher.start()
        cancelled = get_current_worker().cancelled_event  # set when the app shuts down: stop following then too

        def relay() -> None:
            while not follow.stop.wait(0.5):
                if cancelled.is_set():
                    follow.stop.set()

        threading.Thread(target=relay, daemon=True).start()
        try:
            self.backend.follow_logs(follow.service, on_line, follow.stop)
        except Exception as e:
            on_line(f"(logs unavailable: {e})")
        follow.stop.wait(0.3) if not follow.stop.is_set() else None
        with lock:
            if batch:
                self.post_message(LogLines(follow.service, batch[:]))

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run(self, what: str, verb: str, service: str = "", profile: str = "", budget: str = "") -> None:
        def step(text: str) -> None:
            self.post_message(Progressed(f"{what}: {text}"))

        try:
            if verb == "up":
                detail = self.backend.up(step, profile or None, budget or None)
            elif verb == "down":
                detail = self.backend.down(step)
            else:
                detail = self.backend.act(verb, service)
            self.post_message(ActionFinished(what, True, detail))
        except DevstackError as e:
            self.post_message(ActionFinished(what, False, e.one_line()))
        except Exception as e:  # never a traceback on screen: the engine said something unexpected
            self.post_message(ActionFinished(what, False, f"{type(e).__name__}: {e}"))

    # ---------------------------------------------------------------- handlers (UI thread)
    def _plan_loaded(self, plan: Plan | None, urls: dict[str, str]) -> None:
        self.plan, self.urls = plan, urls
        if plan is None:
            self.note = f"Stack {self.backend.stack!r} was never started: press u to bring it up, p to plan it."
        self._draw()

    def on_sampling_failed(self, message: SamplingFailed) -> None:
        self.ticks += 1
        if message.error != self.sample_error:  # once per new error, not every tick
            self.notify(message.error, title="sampling failed", severity="error", timeout=8)
        self.sample_error = message.error
        self.note = f"sampling failed ({message.error}); trying again every {self.interval:g}s"
        self._draw_host()
        self.set_timer(self.interval, self._sample)

    def on_sampled(self, message: Sampled) -> None:
        snap = message.snapshot
        self.ticks += 1
        if self.sample_error is not None:
            self.sample_error, self.note = None, "sampling works again"
        if snap.engine_error is None:
            planned = self.plan.names() if self.plan else []
            now = snap.services(planned, elsewhere(self.plan))
            if self.services and self.last is not None and self.last.engine_error is None:
                for a in alerts(self.services, now):
                    self.notify(a.message, severity="error" if a.severity == "error" else "warning", timeout=8)
            self.services = now
            self.history.add(snap)
        self.last = snap
        self._draw(chart=snap.fresh or snap.engine_error is not None)
        if time.monotonic() - self._peaks_saved > 30:
            self._save_peaks()
        self.set_timer(self.interval, self._sample)

    @work(thread=True, exclusive=True, group="peaks", exit_on_error=False)
    def _save_peaks(self) -> None:
        self._peaks_saved = time.monotonic()
        self.backend.save_peaks(dict(self.history.peaks))

    def on_rule_alerts(self, message: RuleAlerts) -> None:
        before = {(a.name, a.service, tuple(sorted(a.labels.items()))) for a in self.firing}
        for a in message.firing:  # a toast when an alert starts firing; the header line while it does
            if (a.name, a.service, tuple(sorted(a.labels.items()))) not in before:
                self.notify(
                    a.summary or a.name,
                    title=f"{a.name} firing",
                    severity="error" if a.severity == "critical" else "warning",
                    timeout=10,
                )
        self.firing = message.firing
        self._draw_host()

    def on_log_lines(self, message: LogLines) -> None:
        if self._following is not None and message.service == self._following.service:
            log = self.logs
            for line in message.lines:
                log.write(Text(line))

    def on_progressed(self, message: Progressed) -> None:
        self.note = message.text
        self._draw_host()

    def on_action_finished(self, message: ActionFinished) -> None:
        self.busy = None
        self.note = f"{message.what}: {message.detail}"
        self.notify(message.detail, title=message.what, severity="information" if message.ok else "error", timeout=6)
        self._load_plan()
        self._draw_host()

    def on_data_table_row_highlighted(self, event: ServicesTable.RowHighlighted) -> None:
        service = str(event.row_key.value) if event.row_key.value is not None else None
        if service:
            self._follow(service)
            self._draw_chart()

    # ---------------------------------------------------------------- drawing
    def _stale(self) -> bool:
        return self.last is not None and self.last.engine_error is not None

    def _draw(self, chart: bool = True) -> None:
        table = self.table
        if self.services or self.plan:
            shown = self.services or {n: _missing(n) for n in (self.plan.names() if self.plan else [])}
            table.show(shown, self.last.at if self.last else time.time(), self.urls, self._stale())
        self._draw_host()
        if chart:
            self._draw_chart()

    def _draw_host(self) -> None:
        note = (self.busy or "") or self.note
        if self.firing:
            names = ", ".join(f"{a.name} ({a.service})" if a.service else a.name for a in self.firing)
            note = f"{note}  |  alerts firing: {names}" if note else f"alerts firing: {names}"
        self.host.show(self.last, self.plan, self.history, note)

    def _draw_chart(self) -> None:
        chart = self.chart
        selected = None if self.chart_total else self.table.selected
        series = [v for _, v in self.history.series(selected)]
        if selected is None:
            limit = (self.plan.budget_mib << 20) if self.plan else 0
            peak = self.history.total_peak
            title = f"stack total {mib(series[-1] if series else 0)}, peak {mib(peak)}, budget {mib(limit)}"
        else:
            s = self.services.get(selected)
            limit = s.limit if s else 0
            peak_mib = self.history.peaks[selected].used_mib if selected in self.history.peaks else 0
            title = f"{selected} {mib(s.used if s else 0)} of {mib(limit)}, peak {peak_mib}M"
        chart.plot(title, series, limit)

    # ---------------------------------------------------------------- actions
    def _follow(self, service: str) -> None:
        if not self.follow or (self._following is not None and self._following.service == service):
            return
        if self._following is not None:
            self._following.stop.set()
        self._following = _LogFollow(service, threading.Event())
        log = self.logs
        log.clear()
        log.write(Text(f"── {service} logs (following) ──", style="bold"))
        self._follow_logs(self._following)

    def _selected(self) -> str | None:
        return self.table.selected

    def _start(self, what: str, verb: str, **kw: str) -> None:
        if self.busy:
            self.notify(f"busy: {self.busy}", severity="warning")
            return
        self.busy = f"{what}…"
        self._draw_host()
        self._run(what, verb, **kw)

    def action_service(self, verb: str) -> None:
        service = self._selected()
        if service is None:
            self.notify("No service selected.", severity="warning")
            return
        self._start(f"{verb} {service}", verb, service=service)

    def action_up(self) -> None:
        self._start("up", "up")

    def action_down(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._start("down", "down")

        self.push_screen(
            ConfirmScreen(f"Stop every container of stack {self.backend.stack!r}? Data is kept."), answered
        )

    def action_open(self) -> None:
        service = self._selected()
        url = self.urls.get(service or "")
        if not url:
            self.notify(f"{service} has no web page.", severity="warning")
            return
        self.open_url(url)
        self.notify(f"opened {url}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_chart(self) -> None:
        self.chart_total = not self.chart_total
        self._draw_chart()

    def action_plan(self) -> None:
        def chosen(result: tuple[str, str] | None) -> None:
            if result:
                profile, budget = result
                self._start(f"up {profile} at {budget}", "up", profile=profile, budget=budget)

        self.push_screen(PlanScreen(self.plan, self.backend.preview), chosen)

    def on_unmount(self) -> None:
        if self._following is not None:
            self._following.stop.set()

    async def action_quit(self) -> None:
        if self._following is not None:
            self._following.stop.set()
        self.backend.save_peaks(dict(self.history.peaks))
        self.exit()


def _missing(name: str, state: str = "missing", health: str = "down") -> ServiceSample:
    return ServiceSample(name, state, health, 0, 0, 0.0, 0, False, "", ())
