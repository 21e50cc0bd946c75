"""The Textual app: views as modes (fleet, plan, deploy, cleanup), a bounded repaint rate.

The app reads the client's latest snapshot on a timer (REFRESH_S), so
however many heartbeats arrive, the views repaint at most that often.
Screens watch the app's `snapshot` and `deploy_tick`; they never do IO on
the UI thread: every client call that may block runs in a thread worker,
and a worker's failure becomes a notification.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.board import Board
from tui.cleanup_screen import CleanupScreen
from tui.client import Client, DeployEvent, DeployOutcome, FleetSnapshot
from tui.deploy_screen import DeployScreen
from tui.device_screen import DeviceScreen
from tui.dialogs import Help
from tui.fleet_screen import FleetScreen
from tui.history import History
from tui.plan_screen import PlanScreen

REFRESH_S = 0.25


class FleetApp(App[None]):
    """`fleet tui`: the fleet at a glance, and the actions on it."""

    CSS_PATH = Path(__file__).with_name("fleet.tcss")
    TITLE = "fleet"
    MODES: ClassVar[dict[str, str | type[Screen[None]]]] = {  # type: ignore[assignment]
        "fleet": FleetScreen, "plan": PlanScreen, "deploy": DeployScreen,
        "cleanup": CleanupScreen}
    DEFAULT_MODE = "fleet"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("f", "switch_mode('fleet')", "Fleet", show=False),
        Binding("p", "switch_mode('plan')", "Plan"),
        Binding("d", "switch_mode('deploy')", "Deploy view"),
        Binding("c", "cleanup", "Cleanup"),
        Binding("q", "quit", "Quit"),
    ]

    snapshot: var[FleetSnapshot | None] = var(None, always_update=True)
    deploy_tick: var[int] = var(0)
    cleanup_ask: var[int] = var(0)  # grows with each request to scan `cleanup_targets`

    def __init__(self, client: Client, *, stack: str | None = None, has_store: bool = True,
                 refresh_s: float = REFRESH_S, start_client: bool = True) -> None:
        super().__init__()
        self.client = client
        self.stack = stack
        self.has_store = has_store
        self.history = History()
        self.board: Board | None = None
        self._refresh_s = refresh_s
        self._start_client = start_client
        self._progress: queue.SimpleQueue[DeployEvent] = queue.SimpleQueue()
        self._problem = ""
        self.cleanup_targets: tuple[str, ...] = ()
        self.start_problem = ""  # why the client did not start, until a snapshot comes

    def on_mount(self) -> None:
        if self._start_client:
            self.run_worker(self.client.start, thread=True, group="client",
                            name="connecting to the fleet", exit_on_error=False)
        self.set_interval(self._refresh_s, self.refresh_views)
        self.refresh_views()

    def on_unmount(self) -> None:
        self.client.close()

    # -- the bounded repaint -----------------------------------------------------

    def refresh_views(self) -> None:
        """Take the client's latest snapshot and the deploy's news: once per REFRESH_S."""
        latest = self.client.snapshot()
        if latest is not None and (self.snapshot is None or latest.seq != self.snapshot.seq):
            self.history.feed(latest)
            self.snapshot = latest
            if latest.problem and latest.problem != self._problem:
                self.notify(latest.problem, title="controller", severity="error")
            self._problem = latest.problem
        moved = 0
        while self.board is not None:
            try:
                self.board.apply(self._progress.get_nowait())
            except queue.Empty:
                break
            moved += 1
        if moved:
            self.deploy_tick += 1

    # -- actions -----------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, Help):
            self.push_screen(Help())

    def action_cleanup(self) -> None:
        """Scan the devices the fleet view shows, or the device on screen, for cleanup."""
        screen = self.screen
        if isinstance(screen, DeviceScreen):
            wanted = [screen.device]
        elif isinstance(screen, FleetScreen):
            wanted = [r.id for r in screen.shown()]
        else:  # elsewhere just the view: a scan of every board is asked for from the fleet
            self.switch_mode("cleanup")
            return
        known = {r.id for r in self.snapshot.devices if r.managed} if self.snapshot else set()
        targets = tuple(d for d in wanted if d in known)  # only the inventory's have SSH
        if not targets:
            self.notify("no inventory device to clean up here", severity="warning")
            return
        self.start_cleanup(targets)

    def start_cleanup(self, devices: tuple[str, ...]) -> None:
        self.cleanup_targets = devices
        self.switch_mode("cleanup")
        self.cleanup_ask += 1

    def open_device(self, device: str) -> None:
        self.push_screen(DeviceScreen(device))

    def start_deploy(self, path: str, *, dry_run: bool) -> None:
        """Run a deploy in a thread worker; its progress is drained by refresh_views."""
        if self.board is not None and self.board.running:
            self.notify("a deploy is already running", severity="warning")
            return
        self.board = Board(path, dry_run=dry_run)
        self.deploy_tick += 1
        self.switch_mode("deploy")

        def run() -> DeployOutcome:
            return self.client.deploy(path, self._progress.put, dry_run=dry_run)

        self.run_worker(run, thread=True, group="deploy", name="deploy", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "deploy" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self.refresh_views()  # the last progress first, then the outcome
            self._deploy_ended(worker)
        elif event.state is WorkerState.ERROR:
            if worker.group == "client":
                self.start_problem = str(worker.error) or type(worker.error).__name__
                self.snapshot = self.snapshot  # the views say it in place of the fleet
            self.notify(str(worker.error), title=worker.name or "error", severity="error")

    def _deploy_ended(self, worker: Worker[object]) -> None:
        if self.board is None:
            return
        outcome = worker.result
        if not isinstance(outcome, DeployOutcome):
            outcome = DeployOutcome(self.board.stack, False, error=str(worker.error))
        self.board.stack = outcome.stack or self.board.stack
        self.board.finish(outcome)
        self.deploy_tick += 1
        failed = [d.device for d in outcome.devices if not d.ok]
        if outcome.error or failed:
            self.notify(outcome.error or f"failed on {', '.join(failed)}",
                        title="deploy", severity="error")
        else:
            done = "dry run done" if outcome.dry_run else "deployed"
            self.notify(f"{done} on {len(outcome.devices)} device(s)", title="deploy")

    # -- the command palette -----------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Fleet view", "every device, live", lambda: self._mode("fleet"))
        yield SystemCommand("Plan a stack", "fleet plan STACK, in the TUI",
                            lambda: self._mode("plan"))
        yield SystemCommand("Deploy view", "the running or last deploy",
                            lambda: self._mode("deploy"))
        yield SystemCommand("Cleanup view", "reclaimable space; scans with c",
                            lambda: self._mode("cleanup"))
        yield SystemCommand("Help", "every key of every view (?)", self.action_help)
        if isinstance(screen, FleetScreen):
            yield SystemCommand("Filter devices", "/ in the fleet view", screen.action_filter)
            yield SystemCommand("Sort by the next column", "s in the fleet view",
                                screen.action_sort)
        if isinstance(screen, FleetScreen | DeviceScreen):
            yield SystemCommand("Cleanup: scan these devices", "the shown ones, or this one (c)",
                                self.action_cleanup)
        if isinstance(screen, CleanupScreen):
            yield SystemCommand("Remove the selected items", "lists them, asks first (x)",
                                screen.action_apply)
        if isinstance(screen, PlanScreen):
            yield SystemCommand("Deploy the planned stack", "asks first", screen.action_deploy)
            yield SystemCommand("Dry run the planned stack", "reads and plans, changes nothing",
                                screen.action_dry_run)

    def _mode(self, mode: str) -> None:
        self.switch_mode(mode)
