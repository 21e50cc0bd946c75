"""The cleanup view: reclaimable space per device and category; select, confirm, reclaim."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tui import reclaim
from tui.base import View
from tui.client import CleanupItem, CleanupResult, CleanupScan
from tui.dialogs import Confirm

COLUMNS = ("", "DEVICE", "CATEGORY", "ITEMS", "RECLAIMABLE", "DISK NOW", "AFTER", "RESULT")


class CleanupScreen(View):
    """Scans the devices the app names (`c` in the fleet or device view), then waits for choices.

    Scans and reclaims run in thread workers, one per request; their answers
    merge per device, so a late answer only replaces that device's rows.
    """

    AUTO_FOCUS = "#cleanup-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.switch_mode('fleet')", "Back"),
        Binding("space", "mark", "Select"),
        Binding("a", "mark_all", "All/none"),
        Binding("x", "apply", "Remove selected…"),
        Binding("r", "rescan", "Rescan"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scans: dict[str, CleanupScan] = {}  # in the order first asked for
        self.selected: set[reclaim.Key] = set()
        self.busy: set[str] = set()  # devices being scanned or cleaned
        self.results: dict[str, CleanupResult] = {}
        self.targets: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static(id="cleanup-title")
        table: DataTable[str | Text] = DataTable(id="cleanup-table", cursor_type="row",
                                                 zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.watch(self.app, "cleanup_ask", self._asked)

    def _asked(self, _: object = None) -> None:
        targets = self.fleet_app.cleanup_targets
        if targets:
            self.targets = targets
            self.scans = {d: self.scans[d] for d in targets if d in self.scans}
            self.selected = {k for k in self.selected if k[0] in targets}
            self.scan(targets)
        self._redraw()

    # -- workers -------------------------------------------------------------

    def scan(self, devices: tuple[str, ...]) -> None:
        self.busy.update(devices)
        self._redraw()
        self._scan(devices)

    @work(thread=True, group="cleanup-scan", exit_on_error=False, name="cleanup scan")
    def _scan(self, devices: tuple[str, ...]) -> None:
        try:
            found = self.fleet_app.client.cleanup_scan(devices)
        except Exception as e:  # each device's row says it, as an SSH failure would
            found = tuple(CleanupScan(d, error=str(e) or type(e).__name__) for d in devices)
        self.app.call_from_thread(self._scanned, devices, found)

    def _scanned(self, devices: tuple[str, ...], found: tuple[CleanupScan, ...]) -> None:
        self.busy.difference_update(devices)
        for s in found:
            self.scans[s.device] = s
            self.selected = {k for k in self.selected if k[0] != s.device
                             or any(i.category == k[1] for i in s.items)}
        failed = [s for s in found if s.error]
        if failed:
            self.notify(f"{len(failed)} device(s) could not be scanned: {failed[0].error}",
                        title="cleanup", severity="error")
        self._redraw()

    @work(thread=True, group="cleanup-apply", exit_on_error=False, name="cleanup")
    def _apply(self, device: str, items: tuple[CleanupItem, ...]) -> None:
        try:
            result = self.fleet_app.client.cleanup_apply(device, items)
        except Exception as e:  # shown on the device's row, as a playbook failure would be
            result = CleanupResult(device, False, error=str(e) or type(e).__name__)
        self.app.call_from_thread(self._applied, result)

    def _applied(self, result: CleanupResult) -> None:
        self.busy.discard(result.device)
        self.results[result.device] = result
        line = reclaim.outcome(result, self.scans.get(result.device)).plain
        self.notify(f"{result.device}: {line}", title="cleanup",
                    severity="information" if result.ok else "error")
        self.scan((result.device,))  # what is left, as the board says now

    # -- drawing -------------------------------------------------------------

    def _redraw(self, _: object = None) -> None:
        self.query_one("#cleanup-title", Static).update(self._title())
        table = self.query_one(DataTable)
        at = table.cursor_row
        table.clear()
        for r in reclaim.rows(self.scans[d] for d in self.targets if d in self.scans):
            table.add_row(*self._cells(r), key=f"{r.device}\t{r.category}")
        for d in self.targets:
            if d not in self.scans:
                table.add_row("", Text(d, style="bold"), Text("scanning…", style="dim"),
                              "", "", "", "", "", key=f"{d}\t")
        if table.row_count:
            table.move_cursor(row=min(at, table.row_count - 1))

    def _cells(self, r: reclaim.Row) -> tuple[str | Text, ...]:
        scan = self.scans[r.device]
        device = Text(r.device, style="bold")
        result = self._result(r.device)
        if not r.category:
            note = Text(r.note, style="red" if scan.error else "dim")
            disk = reclaim.pct(scan.disk_used, scan.disk_total) if not scan.error else ""
            return ("", device, note, "", "", disk, "", result)
        mark = Text("[x]", style="bold green") if r.key in self.selected else Text("[ ]")
        first = next(k for k, i in enumerate(scan.items) if i.category == r.category) == 0
        picked = reclaim.chosen([scan], self.selected).get(r.device, ())
        return (mark, device if first else Text(""), r.category, str(r.items),
                reclaim.mb(r.bytes),
                reclaim.pct(scan.disk_used, scan.disk_total) if first else "",
                reclaim.after(scan, picked) if first else "", result if first else "")

    def _result(self, device: str) -> Text:
        if device in self.busy:
            return Text("working…", style="cyan")
        found = self.results.get(device)
        return reclaim.outcome(found, None) if found else Text("")

    def _title(self) -> Text:
        scans = [self.scans[d] for d in self.targets if d in self.scans]
        if not self.targets:
            return Text("cleanup: press c in the fleet view (its filter picks the devices) "
                        "or in a device's view", style="dim")
        total = sum(s.bytes for s in scans)
        picked = reclaim.chosen(scans, self.selected)
        size = sum(i.bytes for items in picked.values() for i in items)
        text = Text("cleanup ", style="bold")
        text.append(f" {len(scans)}/{len(self.targets)} device(s) scanned, "
                    f"{reclaim.mb(total)} reclaimable")
        text.append(f"   selected: {sum(map(len, picked.values()))} item(s), {reclaim.mb(size)}",
                    style="bold cyan" if picked else "dim")
        return text

    # -- actions -------------------------------------------------------------

    def _current(self) -> reclaim.Row | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        device, _, category = key.partition("\t")
        return reclaim.Row(device, category) if category else None

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        self.selected ^= {row.key}
        self._redraw()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_mark()  # enter marks too, as space does

    def action_mark_all(self) -> None:
        every = {r.key for r in reclaim.rows(self.scans.values()) if r.category}
        self.selected = set() if every <= self.selected else every
        self._redraw()

    def action_rescan(self) -> None:
        if self.targets:
            self.scan(self.targets)

    def action_apply(self) -> None:
        picked = reclaim.chosen(self.scans.values(), self.selected)
        picked = {d: items for d, items in picked.items() if d not in self.busy}
        if not picked:
            self.notify("nothing selected: space marks a category, a marks them all",
                        severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            for device, items in picked.items():
                self.busy.add(device)
                self.selected = {k for k in self.selected if k[0] != device}
                self._apply(device, items)
            self._redraw()

        self.app.push_screen(Confirm(reclaim.question(picked), "Remove"), answered)
