"""The embedded client on its own thread, over the simulated controller: snapshots, requests,
and a controller that fails reaching the UI as a problem, never as an exception there."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from fleet.actions.deploy import MAKE_ROOM_EVENT, deploy
from fleet.config.stack import loads_stack
from fleet.deploy.images import ImageSource
from fleet.errors import FleetError
from fleet.health.store import Store
from fleet.model import Inventory
from tests.unit.test_actions_deploy import ON_BOARD, Board, Fleet
from tests.unit.test_actions_deploy import STACK as STACK_ON_BOARDS
from tests.unit.test_deploy_images import APP1, BASE, archive
from tests.unit.tuikit import STACK
from tui import build, simulated
from tui.client import DeployEvent, FleetSnapshot
from tui.deploying import Forward, outcome
from tui.embedded import ControllerLike, EmbeddedClient

INV = simulated.inventory(20)


Ready = Callable[[FleetSnapshot], bool]


class Watched(simulated.SimulatedController):
    """The simulated controller, showing the test that waits the client's latest snapshot at
    each step: the client publishes between steps, on the controller's own thread."""

    def __init__(self, inv: Inventory, *, interval_s: float) -> None:
        super().__init__(inv, interval_s=interval_s)
        self.latest: Callable[[], FleetSnapshot | None] = lambda: None
        self._wanted: tuple[Ready, Future[FleetSnapshot]] | None = None

    def until(self, ready: Ready, timeout: float = 5.0) -> FleetSnapshot:
        """The first snapshot the client holds at a step that is `ready`."""
        wanted: Future[FleetSnapshot] = Future()
        self._wanted = (ready, wanted)
        return wanted.result(timeout)

    def step(self, timeout: float = 0.5) -> None:
        super().step(timeout)
        latest, wanted = self.latest(), self._wanted
        if latest is not None and wanted is not None and not wanted[1].done() \
                and wanted[0](latest):
            wanted[1].set_result(latest)


@pytest.fixture
def sim() -> Watched:
    return Watched(INV, interval_s=0.2)  # 100 heartbeats a second


@pytest.fixture
def client(sim: Watched) -> Iterator[EmbeddedClient]:
    started = EmbeddedClient(INV, lambda: sim, snapshot_s=0.05)
    sim.latest = started.snapshot
    started.start()
    try:
        yield started
    finally:
        started.close()


def test_snapshots_come_at_the_client_rate_with_every_device(client: EmbeddedClient,
                                                               sim: Watched) -> None:
    first = sim.until(lambda s: s.active == 20)
    later = sim.until(lambda s: s.seq >= first.seq + 3)
    assert later.total == 20 and [r.id for r in later.devices] == [d.id for d in INV.devices]
    assert all(r.cpu_pct is not None and r.mem_budget_mb for r in later.devices)
    assert later.mode == "FULL" and not later.problem


def test_a_device_in_full_and_one_that_is_not_there(client: EmbeddedClient,
                                                     sim: Watched) -> None:
    sim.until(lambda s: s.active == 20)
    device = INV.devices[3]
    detail = client.device(device.id)
    assert detail.row.id == device.id and detail.host == device.host
    assert detail.impedance is not None and detail.impedance.score == detail.row.impedance
    assert client.events(device.id) == ()  # no store: no events kept
    with pytest.raises(FleetError, match="no device 'nope'"):
        client.device("nope")


def test_plan_is_the_inventorys_and_deploy_needs_a_deployer(client: EmbeddedClient,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(STACK)
    result = client.plan(str(path))
    assert result.path == str(path) and len(result.plan.placements) == 3
    assert result.basis.startswith("planned against the inventory's budgets")
    with pytest.raises(FleetError, match="cannot deploy"):
        client.deploy(str(path), lambda _: None)


def test_a_controller_that_cannot_open_fails_start_with_its_reason() -> None:
    def broken() -> contextlib.AbstractContextManager[ControllerLike]:
        raise FleetError("cannot reach the broker at 10.0.0.1:1883")

    client = EmbeddedClient(INV, broken)
    with pytest.raises(FleetError, match="cannot reach the broker"):
        client.start()
    client.close()


class Dying(simulated.SimulatedController):
    """Steps once (the client publishes a snapshot), then, in its second step, sets `failing`
    and fails as a lost broker connection would, once the test sets `fail`."""

    def __init__(self, inv: Inventory) -> None:
        super().__init__(inv)
        self.failing, self.fail = threading.Event(), threading.Event()
        self.steps = 0

    def step(self, timeout: float = 0.5) -> None:
        self.steps += 1
        if self.steps == 1:
            super().step(timeout)
            return
        self.failing.set()
        self.fail.wait(5)
        raise OSError("connection reset by peer")


def test_a_controller_that_dies_leaves_a_problem_in_the_snapshot() -> None:
    dying = Dying(INV)
    client = EmbeddedClient(INV, lambda: dying)
    client.start()  # started well: the failure waits for `fail`
    try:
        assert dying.failing.wait(5)
    finally:
        dying.fail.set()
        client.close()  # joins the controller's thread, which the failure has ended
    latest = client.snapshot()
    assert latest is not None and latest.problem == "connection reset by peer"
    with pytest.raises(FleetError, match="connection reset"):
        client.device(INV.devices[0].id)


def test_a_device_never_heard_has_its_inventory_budget_and_no_readings() -> None:
    sim = simulated.SimulatedController(INV)
    snap = build.snapshot(sim.view, {d.id: d for d in INV.devices}, time.time(), 1)
    row = snap.devices[0]
    assert row.state == "offline" and row.cpu_pct is None and row.heard_at is None
    assert row.mem_budget_mb == INV.devices[0].budget.mem_mb
    assert build.detail(sim.view, {}, "nope", time.time()) is None


def test_rollout_progress_becomes_deploy_events() -> None:
    said: list[DeployEvent] = []
    forward = Forward(said.append)
    forward.stage("pi-a", "pushing web")
    forward.expect("pi-a", 1000)
    forward.sent("pi-a", 250)
    assert said == [DeployEvent("pi-a", "stage", "pushing web"),
                    DeployEvent("pi-a", "expect", nbytes=1000),
                    DeployEvent("pi-a", "sent", nbytes=250)]


def test_the_deploys_outcome_is_the_use_cases_with_room_made_as_the_clis(
        tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        fleet = Fleet({d: Board(d, images=dict(ON_BOARD)) for d in ("pi-01", "pi-02")}, store)
        full = fleet.boards["pi-01"]
        full.images.clear()
        full.total_mb, full.free_mb, full.junk_mb = 4000, 100, 1000
        shelf = tmp_path / "images"
        shelf.mkdir()
        archive(shelf, "fleet/app:1", [BASE, APP1])
        done = outcome(fleet.run(tmp_path, ImageSource([shelf], engine=False)))
        assert [e.kind for e in store.events("pi-01")] == [MAKE_ROOM_EVENT]
    assert done.ok and not done.dry_run and done.deployment == 1
    # Each: push the source's image (pi-02 holds another build of it), create the stack's
    # network and the container.
    assert [(d.device, d.ok, d.changed) for d in done.devices] == [("pi-01", True, 3),
                                                                    ("pi-02", True, 3)]
    assert full.reclaimed == ["/tmp/junk"]


def test_a_dry_run_and_a_stack_that_does_not_fit_as_outcomes(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        fleet = Fleet({d: Board(d, images=dict(ON_BOARD)) for d in ("pi-01", "pi-02")}, store)
        fleet.boards["pi-02"].down = True
        dry = outcome(fleet.run(tmp_path, dry_run=True))
        huge = loads_stack(STACK_ON_BOARDS + "      resources:\n        reservations:\n"
                           "          memory: 64g\n", str(tmp_path / "shop.yaml"))
        unfit = outcome(deploy(huge, [fleet.boards["pi-01"].device], fleet.using()))
    assert dry.dry_run and not dry.ok and dry.deployment is None
    assert [(d.device, d.ok) for d in dry.devices] == [("pi-01", True), ("pi-02", False)]
    assert not unfit.ok and unfit.error.startswith("2 replica(s) do not fit: nothing was")
