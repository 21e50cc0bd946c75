"""The plan view: `fleet plan STACK` in the TUI, and the way to deploy that plan (it asks first)."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static

from fleet.render.plan import render
from tui.base import View
from tui.client import PlanResult
from tui.dialogs import Confirm


def confirmation(result: PlanResult) -> str:
    """What deploying this plan will do, said before it is done."""
    plan = result.plan
    return (f"Deploy stack [b]{escape(result.stack)}[/b] ({escape(result.path)})?\n\n"
            f"{len(plan.placements)} container(s) on {plan.devices_used} device(s), "
            f"{len(plan.moves)} move(s), {len(plan.stops)} stop(s). Containers that differ "
            "from the plan are replaced, and the stack's containers the plan drops are "
            "removed, on every device.")


class PlanScreen(View):
    """A stack file's plan: placements per device against budgets, and what cannot be placed."""

    AUTO_FOCUS = "#plan-box"  # keys are commands here; `e` edits the stack's path
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.switch_mode('fleet')", "Back"),
        Binding("D", "deploy", "Deploy…"),
        Binding("n", "dry_run", "Dry run"),
        Binding("e", "edit", "Stack file"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: PlanResult | None = None

    def compose(self) -> ComposeResult:
        yield Input(value=self.fleet_app.stack or "", id="stack",
                    placeholder="a compose stack file, then enter")
        with VerticalScroll(id="plan-box"):
            yield Static(Text("no plan yet: type a stack file's path and press enter",
                              style="dim"), id="plan")
        yield Footer()

    def on_mount(self) -> None:
        if self.fleet_app.stack:
            self.make_plan(self.fleet_app.stack)
        else:
            self.action_edit()

    def action_edit(self) -> None:
        self.query_one("#stack", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.make_plan(event.value.strip())
            self.query_one("#plan-box").focus()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def make_plan(self, path: str) -> None:
        self.app.call_from_thread(self._planning, path)
        result = self.fleet_app.client.plan(path)
        self.app.call_from_thread(self.show, result)

    def _planning(self, path: str) -> None:
        self.query_one("#plan", Static).update(Text(f"planning {path}…", style="dim"))

    def show(self, result: PlanResult) -> None:
        self.result = result
        self.fleet_app.stack = result.path
        # Which state the plan was made against, as `fleet plan` says it: a deploy reads the boards.
        basis = [Text(result.basis, style="dim")] if result.basis else []
        self.query_one("#plan", Static).update(Group(render(result.plan), *basis))
        self.query_one("#plan-box").border_title = f"plan: {result.stack}"

    def _ready(self) -> PlanResult | None:
        if self.result is None:
            self.notify("plan a stack first: its path, then enter", severity="warning")
            return None
        if self.result.plan.unplaced:
            self.notify("this plan leaves replicas unplaced: nothing would be deployed",
                        severity="warning")
            return None
        return self.result

    def action_deploy(self) -> None:
        result = self._ready()
        if result is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.fleet_app.start_deploy(result.path, dry_run=False)

        self.app.push_screen(Confirm(confirmation(result), "Deploy"), answered)

    def action_dry_run(self) -> None:
        result = self._ready()
        if result is not None:
            self.fleet_app.start_deploy(result.path, dry_run=True)
