"""The client interface served by a controller in this process, on a thread of its own.

    controller thread: step() -> requests -> every SNAPSHOT_S a FleetSnapshot -> latest slot
    UI thread: snapshot() reads the slot; device()/events() queue a request and wait

The controller's FleetView (and its SQLite store, whose connection may be
used only on the thread that opened it) belong to that one thread, so views
are built there and handed over as frozen values; nothing is shared with a
lock. Plans, deploys and cleanups (fleet.actions, the CLI's own use cases)
need only the inventory, so they run on the caller's (worker) thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fleet.actions.plan import plan
from fleet.config import stack
from fleet.errors import FleetError
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.model import Inventory
from tui import build
from tui.client import (
    CleanupItem,
    CleanupResult,
    CleanupScan,
    DeployOutcome,
    DeviceDetail,
    EventRow,
    FleetSnapshot,
    OnProgress,
    PlanResult,
)

SNAPSHOT_S = 0.25  # the UI repaints at most this often: 4 Hz whatever the fleet sends
STEP_S = 0.05  # the longest a request waits for the controller's loop to come round
REQUEST_S = 10.0
START_S = 20.0

T = TypeVar("T")


class ControllerLike(Protocol):
    """What the client uses of fleet.daemon.Controller."""

    inventory: Inventory
    store: Store | None
    view: FleetView

    def step(self, timeout: float = 0.5) -> None: ...


class Cleaner(Protocol):
    """What the client uses to scan and reclaim devices (tui.cleaning.SshCleaner)."""

    def scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]: ...

    def apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult: ...


OpenController = Callable[[], AbstractContextManager[ControllerLike]]
Deployer = Callable[[str, OnProgress, bool], DeployOutcome]


def controller(inventory: Inventory, store_path: Path | None, *, discover: bool = True,
               interfaces: Sequence[str] = (), workers: int = 0) -> OpenController:
    """A factory for the real controller, with a store if `store_path` is given."""

    @contextlib.contextmanager
    def open_it() -> Iterator[ControllerLike]:
        from fleet.daemon import Controller

        with contextlib.ExitStack() as stack:
            store = stack.enter_context(Store(store_path)) if store_path else None
            yield stack.enter_context(Controller(inventory, store, workers=workers,
                                                 discover=discover, interfaces=interfaces))

    return open_it


class EmbeddedClient:
    """tui.client.Client over a controller running on a thread of this process."""

    def __init__(self, inventory: Inventory, open_controller: OpenController, *,
                 deployer: Deployer | None = None, cleaner: Cleaner | None = None,
                 snapshot_s: float = SNAPSHOT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.inventory = inventory
        self._open = open_controller
        self._deployer = deployer
        self._cleaner = cleaner
        self._snapshot_s = snapshot_s
        self._clock = clock
        self._devices = {d.id: d for d in inventory.devices}
        # Replacing one reference is atomic in CPython, and snapshots are frozen: no lock.
        self._latest: FleetSnapshot | None = None
        self._seq = 0
        self._requests: queue.SimpleQueue[tuple[Callable[[ControllerLike], Any], Future[Any]]]
        self._requests = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._problem = ""
        self._thread = threading.Thread(target=self._run, name="fleet-controller", daemon=True)

    # -- the interface ---------------------------------------------------------

    def start(self) -> None:
        """Start the controller; FleetError if it could not (e.g. no broker)."""
        self._thread.start()
        if not self._ready.wait(START_S):
            raise FleetError(f"the controller did not start within {START_S:g} s")
        if self._problem:
            raise FleetError(self._problem)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def snapshot(self) -> FleetSnapshot | None:
        return self._latest

    def device(self, device_id: str) -> DeviceDetail:
        found = self._ask(lambda c: build.detail(c.view, self._devices, device_id, self._clock()))
        if found is None:
            raise FleetError(f"no device {device_id!r} in the fleet")
        return found

    def events(self, device_id: str, limit: int = 50) -> tuple[EventRow, ...]:
        def read(c: ControllerLike) -> tuple[EventRow, ...]:
            return build.events(c.store.events(device_id, limit)) if c.store else ()
        return self._ask(read)

    def plan(self, stack_path: str) -> PlanResult:
        """`fleet plan STACK`'s own use case: the stack onto the inventory's devices."""
        planned = plan(stack.load_stack(stack_path), self.inventory.devices, clock=self._clock)
        return PlanResult(planned.stack, stack_path, planned.plan, planned.note)

    def deploy(self, stack_path: str, on_progress: OnProgress, *,
               dry_run: bool = False) -> DeployOutcome:
        if self._deployer is None:
            raise FleetError("this client cannot deploy")
        return self._deployer(stack_path, on_progress, dry_run)

    def cleanup_scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]:
        return self._cleaning().scan(device_ids)

    def cleanup_apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult:
        return self._cleaning().apply(device_id, items)

    def _cleaning(self) -> Cleaner:
        if self._cleaner is None:
            raise FleetError("this client cannot clean up devices")
        return self._cleaner

    # -- the controller's thread -----------------------------------------------

    def _run(self) -> None:
        try:
            with self._open() as ctl:
                self._ready.set()
                due = 0.0
                while not self._stop.is_set():
                    ctl.step(STEP_S)
                    self._serve(ctl)
                    if time.monotonic() >= due:
                        self._publish(ctl)
                        due = time.monotonic() + self._snapshot_s
        # Any failure of the loop, FleetError or not, must reach the UI as a problem, never
        # end this thread silently or raise into the UI.
        except Exception as e:
            self._problem = str(e) or type(e).__name__
            self._fail_requests()
            if self._latest is not None:
                self._latest = _with_problem(self._latest, self._problem)
        finally:
            self._ready.set()

    def _publish(self, ctl: ControllerLike) -> None:
        self._seq += 1
        self._latest = build.snapshot(ctl.view, self._devices, self._clock(), self._seq)

    def _serve(self, ctl: ControllerLike) -> None:
        while True:
            try:
                work, future = self._requests.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work(ctl))
            except Exception as e:  # handed to the caller, who shows it
                future.set_exception(e)

    def _ask(self, work: Callable[[ControllerLike], T]) -> T:
        if self._problem or not self._thread.is_alive():
            raise FleetError(self._problem or "the controller is not running")
        future: Future[T] = Future()
        self._requests.put((work, future))
        try:
            return future.result(REQUEST_S)
        except TimeoutError:
            raise FleetError(f"the controller did not answer within {REQUEST_S:g} s") from None

    def _fail_requests(self) -> None:
        while True:
            try:
                _, future = self._requests.get_nowait()
            except queue.Empty:
                return
            future.set_exception(FleetError(self._problem))


def _with_problem(s: FleetSnapshot, problem: str) -> FleetSnapshot:
    return FleetSnapshot(s.at, s.seq + 1, s.mode, s.total, s.active, s.degraded, s.offline,
                         s.quarantined, s.devices, problem)
