"""Modal screens: help, the plan (try another budget or profile before applying it), and a yes/no question."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from devstack.planning.plan import Plan
from devstack.ui.tui.backend import Preview

KEYS = [
    ("↑ ↓", "select a service"),
    ("s", "start the selected service"),
    ("x", "stop the selected service"),
    ("r", "restart the selected service"),
    ("o", "open the selected service's web page"),
    ("u", "bring the whole stack up (waits until healthy)"),
    ("d", "bring the whole stack down (data kept)"),
    ("p", "plan: try another budget or profile, then apply it"),
    ("t", "memory chart: the selected service / the stack's total"),
    ("?", "this help"),
    ("q", "quit (the stack keeps running)"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "close")]
    DEFAULT_CSS = "HelpScreen { align: center middle; } #help { width: 64; height: auto; border: round $accent; }"

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("devstack dashboard: keys\n\n", style="bold")
        for key, what in KEYS:
            t.append(f"{key:>5}  ", style="bold cyan")
            t.append(f"{what}\n")
        t.append(
            "\nMarks: ✖ unhealthy or down, ▲ above 90 % of its memory limit, ☠ OOM-killed, ↻ restarted.\n", style="dim"
        )
        t.append("Esc closes.", style="dim")
        yield Static(t, id="help")


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "yes", "yes"), Binding("n,escape", "no", "no")]
    DEFAULT_CSS = "ConfirmScreen { align: center middle; } #ask { width: 60; height: auto; border: round $warning; }"

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.question}\n\n[y] yes   [n] no"), id="ask")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


def plan_table(plan: Plan, old: Plan | None = None) -> Table:
    t = Table(show_edge=False, pad_edge=False, expand=True)
    for col, just in (("service", "left"), ("limit", "right"), ("was", "right"), ("replicas", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in plan.services:
        before = None
        if old is not None and s.name in old.names():
            before = old.service(s.name).limit_mib
        changed = before is not None and before != s.limit_mib
        t.add_row(
            s.name,
            Text(f"{s.limit_mib} MiB", style="bold yellow" if changed or (before is None and old) else ""),
            f"{before} MiB" if before is not None else ("new" if old else ""),
            str(s.replicas),
        )
    t.add_row("total", f"{plan.total_mib} MiB", f"{old.total_mib} MiB" if old else "", "")
    return t


class PlanScreen(ModalScreen[tuple[str, str] | None]):
    """The current plan, and a preview of another budget or profile. Enter previews; `a` applies (returns the
    profile and budget to bring up); Esc leaves everything as it is."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "back"),
        Binding("ctrl+a", "apply", "apply", priority=True),
        Binding("enter", "preview", "preview", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    PlanScreen { align: center middle; }
    #plan-box { width: 96%; height: 96%; border: round $accent; padding: 0 1; }
    #plan-inputs { height: 3; }
    #plan-inputs Input { width: 1fr; }
    #plan-result { height: 1fr; }
    """

    def __init__(self, current: Plan | None, preview: Callable[[str, str], Preview]) -> None:
        super().__init__()
        self.current = current
        self._preview = preview
        self.shown: Preview | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="plan-box"):
            yield Static(Text("Plan: type a budget (e.g. 12g) or a profile, Enter previews, ctrl+a applies, Esc"))
            with Horizontal(id="plan-inputs"):
                yield Input(
                    value=f"{self.current.budget_mib}m" if self.current else "",
                    placeholder="budget, e.g. 16g",
                    id="budget",
                )
                yield Input(value=self.current.profile if self.current else "", placeholder="profile", id="profile")
            with VerticalScroll(id="plan-result"):
                yield Static(id="plan-view")

    def on_mount(self) -> None:
        view = self.query_one("#plan-view", Static)
        if self.current is not None:
            view.update(plan_table(self.current))
        else:
            view.update("No plan yet: this stack was never brought up. Type a budget and press Enter.")
        self.query_one("#budget", Input).focus()

    def action_preview(self) -> None:
        budget = self.query_one("#budget", Input).value.strip()
        profile = self.query_one("#profile", Input).value.strip()
        self.run_worker(lambda: self._run_preview(profile, budget), thread=True, exclusive=True, group="preview")

    def _run_preview(self, profile: str, budget: str) -> None:
        result = self._preview(profile, budget)
        self.app.call_from_thread(self._show, result)

    def _show(self, p: Preview) -> None:
        self.shown = p
        view = self.query_one("#plan-view", Static)
        if p.error or p.plan is None:
            view.update(Text(p.error or "no plan", style="bold red"))
            return
        head = Text(
            f"{p.plan.profile}: {p.plan.total_mib} MiB of a {p.plan.budget_mib} MiB budget. "
            + ("Changes: " + "; ".join(p.changes) if p.changes else "No change.")
            + " ctrl+a applies.\n",
            style="bold",
        )
        from rich.console import Group

        view.update(Group(head, plan_table(p.plan, self.current), *[Text(r, style="yellow") for r in p.plan.reasons]))

    def action_apply(self) -> None:
        if self.shown is None or self.shown.plan is None:
            self.notify("Preview a plan first (Enter).", severity="warning")
            return
        self.dismiss((self.shown.plan.profile, f"{self.shown.plan.budget_mib}m"))

    def action_cancel(self) -> None:
        self.dismiss(None)
