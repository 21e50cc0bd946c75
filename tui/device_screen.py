"""One device: its readings against budget, sparklines, impedance components, recent events."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Label, Sparkline, Static

from tui import rows
from tui.base import View
from tui.client import DeviceDetail, DeviceRow, EventRow
from tui.history import FIELDS

DETAIL_S = 1.0  # the detail and events are asked for at most this often
SPARK_TITLES = {"cpu": "CPU %", "mem": "memory % of budget", "disk": "disk % of budget",
                "temp": "temperature °C", "z": "impedance (0-1000)"}


def _mb(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} GiB" if value >= 1024 else f"{value} MiB"


def readings(row: DeviceRow, detail: DeviceDetail | None, now: float) -> RenderableType:
    """The device's latest heartbeat, each figure against its budget where it has one."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    state = Text(row.state, style=rows.STATE_STYLE.get(row.state, ""))
    grid.add_row("state", state + Text("" if row.managed else "  (not in the inventory)"))
    grid.add_row("site / profile", f"{row.site} / {row.profile}")
    if row.profile_mismatch:
        grid.add_row("", Text(f"not a {row.profile}: {row.profile_mismatch}", style="red"))
    if detail is not None and detail.host:
        grid.add_row("host", f"{detail.host} ({detail.arch})")
    grid.add_row("CPU", rows.bar(row.cpu_pct) + Text(
        f"  load {detail.load1:.2f}" if detail and detail.load1 is not None else ""))
    for name, used, budget in (("memory", row.mem_used_mb, row.mem_budget_mb),
                               ("disk", row.disk_used_mb, row.disk_budget_mb)):
        pct = None if used is None or not budget else 100.0 * used / budget
        grid.add_row(name, rows.bar(pct) + Text(f"  {_mb(used)} of {_mb(budget)}"))
    temp = "-" if row.temp_c is None else f"{row.temp_c:.1f} °C"
    grid.add_row("temperature", temp + (f"  throttled: {', '.join(row.throttled)}"
                                        if row.throttled else ""))
    if detail is not None and detail.gpu_pct is not None:
        grid.add_row("GPU", rows.bar(detail.gpu_pct))
    containers = ("dockerd did not answer" if row.containers_running is None
                  else f"{row.containers_running} running of {row.containers_total}")
    grid.add_row("containers", containers)
    seen = rows.age(row, now)
    grid.add_row("last heartbeat", "never" if seen is None else f"{seen:.0f} s ago")
    if row.problems:
        grid.add_row("problems", Text(", ".join(row.problems), style="bold red"))
    if detail is not None and detail.bad_payloads:
        grid.add_row("bad payloads", f"{detail.bad_payloads} ({detail.last_bad})")
    return grid


def impedance(detail: DeviceDetail | None) -> RenderableType:
    """Z = latency + processing x (1 + 0.1 x queue) + 2 x drift, each part shown."""
    parts = detail.impedance if detail else None
    if parts is None:
        return Text("impedance: not measured yet", style="dim")
    grid = Table("latency", "processing", "queue", "drift", "reliability", "Z", "score",
                 title="impedance", title_justify="left", box=None, padding=(0, 1))
    grid.add_row(f"{parts.latency_ms:.1f} ms", f"{parts.processing_ms:.1f} ms", str(parts.queue),
                 f"{parts.drift_ms:.1f} ms", f"{parts.reliability:.0%}", f"{parts.z_ms:.0f} ms",
                 str(parts.score))
    return grid


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f}m ago" if seconds < 7200 else f"{seconds / 3600:.0f}h ago"


def event_lines(found: tuple[EventRow, ...], now: float, has_store: bool = True
                ) -> RenderableType:
    """The newest events last, each with its age (ages, not clock times: no time zone)."""
    if not found:
        return Text("no events recorded" if has_store else "no store: events not kept",
                    style="dim")
    lines = [Text.assemble((f"{ago(now - e.at):>8}", "dim"), "  ", (e.kind, "bold"), "  ",
                           e.detail) for e in found[-20:]]
    return Group(*lines)


class DeviceScreen(View):
    """Pushed over the fleet view by enter; esc goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device
        self.detail: DeviceDetail | None = None
        self.events: tuple[EventRow, ...] = ()
        self._asked = 0.0

    def compose(self) -> ComposeResult:
        yield Static(Text(self.device, style="bold"), id="device-title")
        with Horizontal(id="device-body"):
            yield Static(id="readings")
            with Vertical(id="sparks"):
                for field in FIELDS:
                    yield Label(SPARK_TITLES[field], classes="spark-title")
                    yield Sparkline([], id=f"spark-{field}")
        yield Static(id="impedance")
        with VerticalScroll(id="events-box"):
            yield Static(id="events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#events-box").border_title = "recent events"
        self.watch(self.app, "snapshot", self._redraw)

    def _redraw(self, _: object = None) -> None:
        snapshot = self.fleet_app.snapshot
        found = next((r for r in snapshot.devices if r.id == self.device), None) \
            if snapshot else None
        if found is not None and snapshot is not None:
            self.query_one("#readings", Static).update(readings(found, self.detail, snapshot.at))
        history = self.fleet_app.history
        for field in FIELDS:
            self.query_one(f"#spark-{field}", Sparkline).data = history.series(self.device, field)
        if time.monotonic() - self._asked >= DETAIL_S:
            self._asked = time.monotonic()
            self._fetch()

    @work(thread=True, exclusive=True, group="device", exit_on_error=False)
    def _fetch(self) -> None:
        client = self.fleet_app.client
        detail = client.device(self.device)
        found = client.events(self.device)
        self.app.call_from_thread(self._fetched, detail, found)

    def _fetched(self, detail: DeviceDetail, found: tuple[EventRow, ...]) -> None:
        if not self.is_attached:
            return  # the user went back while it was asked for
        self.detail, self.events = detail, found
        self.query_one("#impedance", Static).update(impedance(detail))
        snapshot = self.fleet_app.snapshot
        now = snapshot.at if snapshot else time.time()
        self.query_one("#events", Static).update(
            event_lines(found, now, self.fleet_app.has_store))
        self.query_one("#readings", Static).update(readings(detail.row, detail, now))
