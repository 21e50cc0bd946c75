"""The fleet view: the mode and counts, then every device, live, sorted and filtered."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input, Static

from tui import rows
from tui.base import View
from tui.client import DeviceRow, FleetSnapshot
from tui.table import FleetTable


def summary(snapshot: FleetSnapshot | None, shown: int, query: str, problem: str = "") -> Text:
    """`FULL  4/5 active  1 degraded ...`: the mode and counts, and what the filter keeps."""
    if snapshot is None and problem:
        return Text(f"fleet  not connected: {problem}", style="bold red")
    if snapshot is None:
        return Text("fleet  connecting to the controller…", style="dim")
    text = Text("fleet ", style="bold")
    text.append(f" {snapshot.mode} ", style=rows.MODE_STYLE.get(snapshot.mode, "bold"))
    text.append(f"  {snapshot.active}/{snapshot.total} active", style="green")
    for count, label, style in ((snapshot.degraded, "degraded", "yellow"),
                                (snapshot.offline, "offline", "red"),
                                (snapshot.quarantined, "quarantined", "magenta")):
        text.append(f"  {count} {label}", style=style if count else "dim")
    if query:
        text.append(f"   /{query}: {shown} shown", style="bold cyan")
    if snapshot.problem:
        text.append(f"   {snapshot.problem}", style="bold red")
    return text


class FleetScreen(View):
    """The first view: k9s-like, `/` filters, `s` cycles the sort column, enter drills in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "id"
        self.reverse = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Static(summary(None, 0, ""), id="summary")
        yield FleetTable(id="devices")
        yield Input(placeholder="filter: words of the id, site, profile or state", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.watch(self.app, "snapshot", self._redraw)

    def _redraw(self, _: object = None) -> None:
        snapshot = self.fleet_app.snapshot
        devices = snapshot.devices if snapshot else ()
        now = snapshot.at if snapshot else 0.0
        arranged = rows.arrange(devices, now, sort=self.sort, reverse=self.reverse,
                                query=self.filter_text)
        empty = f"no device matches /{self.filter_text}" if self.filter_text else "no devices"
        self.query_one(FleetTable).show(arranged, now, sort=self.sort, reverse=self.reverse,
                                        empty_text=empty)
        self.query_one("#summary", Static).update(
            summary(snapshot, len(arranged), self.filter_text, self.fleet_app.start_problem))

    def shown(self) -> list[DeviceRow]:
        """The rows the table shows now: the filter's, in the sort's order."""
        return list(self.query_one(FleetTable).rows)

    def action_sort(self) -> None:
        self.sort = rows.next_sort(self.sort)
        self._redraw()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.query_one(FleetTable).focus()
        self._redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.action_clear_filter()
        else:
            self.query_one(FleetTable).focus()

    def on_fleet_table_opened(self, event: FleetTable.Opened) -> None:
        self.fleet_app.open_device(event.device)
