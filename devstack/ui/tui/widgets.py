"""The dashboard's widgets. They draw immutable snapshots they are handed; none of them calls Docker."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

from devstack.monitor.sampler import History, ServiceSample, Snapshot
from devstack.planning.plan import Plan
from devstack.ui.tui.alerts import HOT, marks, pressure
from devstack.ui.tui.fmt import bar, mib, uptime

HEALTH_STYLE = {"healthy": "green", "starting": "yellow", "unhealthy": "bold red", "down": "red"}
COLUMNS = [("!", 2), ("service", 11), ("state", 10), ("health", 9), ("up", 6), ("memory", 10), ("used/limit", 11)]
COLUMNS += [("cpu", 6), ("url", 26)]


class ServicesTable(DataTable[Text]):
    """One row per planned service; rows keep their keys so the cursor stays on its service across ticks."""

    def __init__(self, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)  # type: ignore[arg-type]
        self.restarts_at_start: dict[str, int] = {}
        self._shown: dict[str, list[Text]] = {}

    def on_mount(self) -> None:
        for label, width in COLUMNS:
            self.add_column(label, width=width, key=label)

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def show(self, services: dict[str, ServiceSample], at: float, urls: dict[str, str], stale: bool) -> None:
        order = [str(k.value) for k in self.rows]
        if order != list(services)[: len(order)]:  # the plan arrived after the first sample: take its order
            keep = self.selected if self.cursor_row > 0 else None  # row 0: the user has not moved yet
            self.clear()
            self._shown.clear()
            if keep in services:
                self.call_after_refresh(lambda: self.move_cursor(row=self.get_row_index(keep)))
        for name, s in services.items():
            self.restarts_at_start.setdefault(name, s.restarts)
            cells = self._cells(s, at, urls.get(name, ""), stale)
            if name in self.rows:
                before = self._shown.get(name, [])
                for i, ((label, _), value) in enumerate(zip(COLUMNS, cells, strict=True)):
                    if i >= len(before) or before[i] != value:  # a redraw only where something changed
                        self.update_cell(name, label, value)
            else:
                self.add_row(*cells, key=name)
            self._shown[name] = cells
        for gone in [str(k.value) for k in list(self.rows) if str(k.value) not in services]:
            self.remove_row(gone)

    def _cells(self, s: ServiceSample, at: float, url: str, stale: bool) -> list[Text]:
        mark = marks(s, self.restarts_at_start.get(s.name, 0))
        health = "?" if stale else s.health
        hot = pressure(s) >= HOT
        return [
            Text(mark, style="bold red"),
            Text(s.name, style="bold" if not mark else "bold red"),
            Text(s.state, style="dim" if s.state in ("missing", "stopped") else ""),
            Text(health, style="dim" if stale else HEALTH_STYLE.get(s.health, "")),
            Text(uptime(s.started_at, at)),
            Text(bar(s.used, s.limit, 10), style="red" if hot else "green"),
            Text(f"{mib(s.used)}/{mib(s.limit)}" if s.limit else "-", style="red" if hot else ""),
            Text(f"{s.cpu_pct:.0f}%" if s.state != "missing" else "-"),
            Text(url, style="underline" if url else ""),
        ]


class HostPanel(Static):
    """Host RAM, the engine's memory, the plan's budget against the stack's total and peak, sampling health."""

    def show(self, snap: Snapshot | None, plan: Plan | None, history: History, note: str = "") -> None:
        t = Text()
        if snap is not None:
            t.append("host ", style="bold")
            t.append(f"{mib(snap.host_used)}/{mib(snap.host_total)}  ")
            t.append("engine ", style="bold")
            t.append(f"{mib(snap.engine_total) if snap.engine_total else '?'}  ")
        t.append("stack ", style="bold")
        if snap is not None and not snap.engine_error:
            budget = (plan.budget_mib << 20) if plan else 0
            t.append(f"{mib(snap.used)}", style="red" if budget and snap.used > budget * HOT else "")
            t.append(f" peak {mib(history.total_peak)}")
            if plan:
                t.append(f" / budget {mib(budget)} ({plan.profile})")
            t.append(f"  tick {snap.latency * 1000:.0f}ms", style="dim")
        elif snap is not None:
            t.append(f"{snap.engine_error}: retrying", style="bold red")
        else:
            t.append("sampling…", style="dim")
        if note:
            t.append(f"\n{note}", style="italic")
        self.update(t)


class MemoryChart(Widget):
    """Memory over time as columns of eighth-blocks, with the limit (or the budget) as a red line."""

    DEFAULT_CSS = "MemoryChart { height: 1fr; min-height: 4; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.series: list[int] = []
        self.limit = 0
        self.title = ""

    def plot(self, title: str, series: list[int], limit: int) -> None:
        self.title, self.series, self.limit = title, series, limit
        self.refresh()

    def render(self) -> Text:
        width, height = max(1, self.size.width), max(2, self.size.height)
        rows = height - 1
        values = self.series[-width:]
        top = max([self.limit, *values, 1])
        limit_row = rows - 1 - min(rows - 1, int(self.limit / top * rows)) if self.limit else None
        lines = []
        hot = self.limit * HOT if self.limit else None
        for r in range(rows):
            level_hi = (rows - r) / rows * top
            level_lo = (rows - r - 1) / rows * top
            cells: list[tuple[str, str]] = []
            for v in values:
                if v >= level_hi:
                    ch = "█"
                elif v > level_lo:
                    ch = " ▁▂▃▄▅▆▇█"[max(1, int((v - level_lo) / (level_hi - level_lo) * 8))]
                else:
                    ch = "─" if r == limit_row else " "
                cells.append((ch, "red" if ch == "─" or (hot is not None and v >= hot) else "cyan"))
            pad = width - len(values)
            if pad > 0:
                cells.append((("─" if r == limit_row else " ") * pad, "red"))
            line = Text()
            run, style = "", ""
            for ch, st in cells:  # one span per run of a style, not one per cell
                if st != style and run:
                    line.append(run, style=style)
                    run = ""
                run, style = run + ch, st
            if run:
                line.append(run, style=style)
            lines.append(line)
        head = Text(self.title[:width], style="bold")
        return Text("\n").join([head, *lines])
