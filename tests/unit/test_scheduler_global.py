"""Global services (deploy.mode: global): one replica on each board that passes the service's
checks, a board too full for it an unplaced replica with its own reason, numbers that stay."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from fleet.actions.plan import plan as actions_plan
from fleet.model import (
    Arch,
    Constraint,
    Device,
    DeviceState,
    Placement,
    Plan,
    PortBinding,
    PortWant,
    Resources,
    Service,
)
from fleet.scheduler import plan, what_if
from fleet.scheduler.compose import _PIN
from tests.kit import device, service
from tests.kit import stack as kit_stack

PIS = [device("pi-1", labels={"site": "shed"}), device("pi-2"), device("pi-3", "pi3b-plus")]
ORIN = device("orin", "jetson-orin-nano-8g")
AMD = device("nuc", "pi4b-8g", arch=Arch.AMD64)


def on(p: Plan, name: str) -> dict[str, int]:
    """Board -> replica number, for each replica of `name`."""
    return {x.device: x.replica for x in p.placements if x.service == name}


def everywhere(**overrides: Any) -> Service:
    return service("exporter", mem_mb=32, disk_mb=20, per_board=True, **overrides)


def constraint(kind: str, key: str, equal: bool, value: str) -> Constraint:
    return Constraint(kind, key, equal, value, f"{kind} {key} {equal} {value}")


# Which boards a global service lands on, by what it asks of them.
WHERE: list[tuple[str, list[Device], Service, set[str]]] = [
    ("every board", [*PIS, ORIN], everywhere(), {"pi-1", "pi-2", "pi-3", "orin"}),
    ("its image's arch only", [*PIS, AMD], everywhere(archs=frozenset({Arch.ARM64})),
     {"pi-1", "pi-2", "pi-3"}),
    ("GPU boards only", [*PIS, ORIN], everywhere(gpu=True), {"orin"}),
    ("a label ==", PIS, everywhere(constraints=(constraint("label", "site", True, "shed"),)),
     {"pi-1"}),
    ("a label !=", PIS, everywhere(constraints=(constraint("label", "site", False, "shed"),)),
     {"pi-2", "pi-3"}),
    ("hostname !=", PIS, everywhere(constraints=(constraint("hostname", "", False, "pi-2"),)),
     {"pi-1", "pi-3"}),
    ("arch ==", [*PIS, AMD], everywhere(constraints=(constraint("arch", "", True, "amd64"),)),
     {"nuc"}),
    ("no board matches", PIS, everywhere(constraints=(constraint("label", "site", True, "barn"),)),
     set()),
]


@pytest.mark.parametrize(("case", "devices", "svc", "boards"), WHERE, ids=[w[0] for w in WHERE])
def test_a_global_service_lands_once_on_each_board_that_passes_its_checks(
        case: str, devices: list[Device], svc: Service, boards: set[str]) -> None:
    p = plan(devices, [svc])
    assert set(on(p, "exporter")) == boards
    assert sorted(on(p, "exporter").values()) == list(range(len(boards)))
    assert p.unplaced == ()  # a board that may not run it is no replica, not an unplaced one


def test_a_board_too_full_for_it_is_an_unplaced_replica_with_that_boards_reason() -> None:
    full = DeviceState(PIS[1], used=PIS[1].budget - Resources(mem_mb=10, disk_mb=10_000,
                                                               cpu_millis=4000))
    p = plan([PIS[0], full, PIS[2]], [everywhere()])
    assert set(on(p, "exporter")) == {"pi-1", "pi-3"}
    assert [(u.service, dict(u.reasons)) for u in p.unplaced] == [
        ("exporter", {"needs 38 MiB memory, 10 free": 1})]
    assert _PIN not in str(p.unplaced)
    numbers = {*on(p, "exporter").values(), p.unplaced[0].replica}
    assert numbers == {0, 1, 2}


def test_its_fixed_port_is_taken_on_each_board_and_not_by_a_second_copy() -> None:
    p = plan(PIS, [everywhere(ports=(PortWant(9100, 9100),)),
                   service("other", ports=(PortWant(80, 9100),))])
    assert len(on(p, "exporter")) == 3
    assert [u.service for u in p.unplaced] == ["other"]
    assert dict(p.unplaced[0].reasons) == {"port 9100 taken": 3}


def test_it_shares_boards_with_the_rest_of_the_stack() -> None:
    p = plan(PIS, [service("web", replicas=2), everywhere()])
    assert len(on(p, "exporter")) == 3
    assert len(on(p, "web")) == 2
    counts = {d.device: d.containers for d in p.devices}
    assert sum(counts.values()) == 5
    used = {d.device: d.used.mem_mb for d in p.devices}
    assert used["pi-3"] >= 32


def test_running_replicas_keep_their_numbers_and_a_new_board_takes_a_free_one() -> None:
    running = [Placement("exporter", 4, "pi-2"), Placement("exporter", 0, "pi-1")]
    p = plan(PIS, [everywhere()], running=running)
    assert on(p, "exporter") == {"pi-1": 0, "pi-2": 4, "pi-3": 1}
    assert p.moves == () and p.stops == ()


def test_a_replica_on_a_board_it_may_no_longer_run_on_stops() -> None:
    svc = everywhere(constraints=(constraint("label", "site", True, "shed"),))
    running = [Placement("exporter", 0, "pi-1"), Placement("exporter", 1, "pi-2")]
    p = plan(PIS, [svc], running=running)
    assert on(p, "exporter") == {"pi-1": 0}
    assert p.stops == (Placement("exporter", 1, "pi-2"),)


def test_a_second_copy_on_one_board_stops() -> None:
    running = [Placement("exporter", 0, "pi-1"), Placement("exporter", 1, "pi-1")]
    p = plan(PIS[:1], [everywhere()], running=running)
    assert on(p, "exporter") == {"pi-1": 0}
    assert p.stops == (Placement("exporter", 1, "pi-1"),)


def test_kept_replicas_keep_their_ports() -> None:
    svc = everywhere(ports=(PortWant(9100, 9100),))
    running = [Placement("exporter", 0, "pi-1", (PortBinding(9100, 9100),))]
    p = plan(PIS[:2], [svc], running=running)
    assert {x.device: x.ports for x in p.placements} == {
        "pi-1": (PortBinding(9100, 9100),), "pi-2": (PortBinding(9100, 9100),)}


def test_what_if_boards_get_one_too() -> None:
    p = plan(what_if(PIS[:1], [(PIS[0].profile, 2)]), [everywhere()])
    assert len(on(p, "exporter")) == 3


def test_fleet_plan_shows_one_replica_per_board_of_the_inventory() -> None:
    boards = [*(device(f"lab-{i:02d}") for i in range(1, 5)),
              device("lab-05", "jetson-orin-nano-8g")]
    exporter = everywhere(ports=(PortWant(9100, 9100),))
    planned = actions_plan(kit_stack(exporter, service("web", replicas=2)), boards)
    document = planned.json()
    assert sorted(p["device"] for p in document["placements"] if p["service"] == "exporter") == [
        d.id for d in boards]
    assert document["global"] == ["exporter"] and document["unplaced"] == []
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(planned.render())
    text = console.export_text()
    assert "global exporter: on 5 boards" in text
    assert "exporter#" not in text and "exporter:9100" in text
