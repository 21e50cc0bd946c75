"""Services that name each other (depends_on, links) on one board; apart, the dependent's name
for the other resolves to its board, where it publishes the ports it listens on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleet.model import (
    Arch,
    Constraint,
    Device,
    DeviceState,
    Move,
    Placement,
    Plan,
    PortBinding,
    PortRange,
    PortWant,
    Resources,
    Service,
    Strategy,
)
from fleet.scheduler import OVERHEAD_MB, plan
from tests.kit import device, service

PI1, PI2, PI3 = device("pi-1"), device("pi-2"), device("pi-3")
GIB = 1024
SPREAD = Strategy.SPREAD


def with_free(d: Device | DeviceState, mem_mb: int) -> DeviceState:
    """The board with only `mem_mb` of its memory budget free (outside use takes the rest)."""
    state = d if isinstance(d, DeviceState) else DeviceState(d)
    return replace(state, used=Resources(mem_mb=state.device.budget.mem_mb - mem_mb))


def on(p: Plan) -> dict[str, str]:
    return {x.service: x.device for x in p.placements if x.replica == 0}


def placement(p: Plan, name: str, replica: int = 0) -> Placement:
    return next(x for x in p.placements if (x.service, x.replica) == (name, replica))


# Spread alone would put each service on a board of its own.
TWO = [DeviceState(PI1), DeviceState(PI2)]
WEB = service("web", links=("db",), strategy=SPREAD)
DB = service("db", expose=(PortWant(5432),), strategy=SPREAD)

# (case, boards, services, the board of each, the hosts of each placement that has some)
Hosts = dict[str, tuple[tuple[str, str], ...]]
CASES: list[tuple[str, list[DeviceState], list[Service], dict[str, str], Hosts]] = [
    ("linked: one board", TWO, [WEB, DB], {"web": "pi-1", "db": "pi-1"}, {}),
    ("named by a third", TWO, [DB, replace(WEB, links=()), service(
        "api", links=("web", "db"), strategy=SPREAD)],
     {"web": "pi-1", "db": "pi-1", "api": "pi-1"}, {}),
    ("a chain: all on one board", TWO, [
        replace(WEB, links=("api",)), service("api", links=("db",), strategy=SPREAD), DB],
     {"web": "pi-1", "api": "pi-1", "db": "pi-1"}, {}),
    ("the dependent opts out", TWO, [replace(WEB, colocate=False), DB],
     {"web": "pi-1", "db": "pi-2"}, {"web": (("db", "pi-2.local"),)}),
    ("the target opts out", TWO, [WEB, replace(DB, colocate=False)],
     {"web": "pi-1", "db": "pi-2"}, {"web": (("db", "pi-2.local"),)}),
    ("unlinked: spread as ever", TWO, [replace(WEB, links=()), DB],
     {"web": "pi-1", "db": "pi-2"}, {}),
    ("too big together: apart", [with_free(PI1, 2 * GIB), with_free(PI2, 2 * GIB)],
     [service("web", mem_mb=1500, links=("db",)), service("db", mem_mb=1500)],
     {"web": "pi-1", "db": "pi-2"}, {"web": (("db", "pi-2.local"),)}),
    ("images of no common arch: apart", [
        DeviceState(PI1), DeviceState(device("nuc", arch=Arch.AMD64))],
     [service("web", links=("db",), archs=frozenset({Arch.ARM64})),
      service("db", archs=frozenset({Arch.AMD64}))],
     {"web": "pi-1", "db": "nuc"}, {"web": (("db", "nuc.local"),)}),
]


@pytest.mark.parametrize(("case", "boards", "services", "where", "hosts"), CASES,
                         ids=[c[0] for c in CASES])
def test_linked_services_share_a_board_unless_they_cannot_or_opt_out(
        case: str, boards: list[DeviceState], services: list[Service], where: dict[str, str],
        hosts: Hosts) -> None:
    p = plan(boards, services)
    assert p.unplaced == ()
    assert on(p) == where
    assert {x.service: x.hosts for x in p.placements if x.hosts} == hosts


def test_apart_the_target_publishes_what_it_listens_on_at_the_same_port() -> None:
    boards = [with_free(PI1, 2 * GIB), with_free(PI2, 2 * GIB)]
    db = service("db", mem_mb=1500, ports=(PortWant(8080, 18080),),
                 expose=(PortWant(5432), PortWant(5353, protocol="udp")))
    p = plan(boards, [service("web", mem_mb=1500, links=("db",)), db])
    assert on(p) == {"web": "pi-1", "db": "pi-2"}
    assert set(placement(p, "db").ports) == {
        PortBinding(18080, 8080), PortBinding(5432, 5432), PortBinding(5353, 5353, "udp"),
        PortBinding(8080, 8080)}
    assert placement(p, "web").hosts == (("db", "pi-2.local"),)


def test_a_port_already_published_on_itself_is_not_added_again() -> None:
    boards = [with_free(PI1, 2 * GIB), with_free(PI2, 2 * GIB)]
    db = service("db", mem_mb=1500, ports=(PortWant(5432, 5432),))
    p = plan(boards, [service("web", mem_mb=1500, links=("db",)), db])
    assert placement(p, "db").ports == (PortBinding(5432, 5432),)


def test_the_published_port_is_checked_as_taken_on_the_targets_board() -> None:
    busy = DeviceState(PI2, ports_taken=frozenset({(5432, "tcp")}))
    boards = [with_free(PI1, 2 * GIB), with_free(busy, 2 * GIB), with_free(PI3, 2 * GIB)]
    p = plan(boards, [service("web", mem_mb=1500, links=("db",)),
                      service("db", mem_mb=1500, expose=(PortWant(5432),))])
    assert on(p)["db"] == "pi-3"
    assert placement(p, "web").hosts == (("db", "pi-3.local"),)
    assert placement(p, "db").ports == (PortBinding(5432, 5432),)


def test_a_target_with_replicas_is_reached_where_one_runs_or_at_its_first() -> None:
    boards = [DeviceState(PI1), DeviceState(PI2), DeviceState(PI3)]
    api = service("api", replicas=2, strategy=SPREAD, expose=(PortWant(80),))
    p = plan(boards, [service("web", replicas=3, links=("api",), strategy=SPREAD), api])
    api_boards = {x.device for x in p.placements if x.service == "api"}
    first = placement(p, "api", 0).device
    for x in p.placements:
        if x.service == "web":
            assert x.hosts == (() if x.device in api_boards else (("api", f"{first}.local"),))
    assert any(x.hosts for x in p.placements)  # three webs, two apis on three boards
    assert placement(p, "api", 0).ports == (PortBinding(80, 80),)


def test_a_global_target_is_on_the_dependents_board() -> None:
    p = plan([PI1, PI2], [service("web", links=("agent",)),
                          service("agent", per_board=True, expose=(PortWant(9000),))])
    assert all(x.hosts == () for x in p.placements)
    assert all(x.ports == () for x in p.placements)


def test_members_keep_their_own_ports() -> None:
    p = plan([PI1], [service("web", links=("db",), ports=(PortWant(80, 8080),)),
                     service("db", ports=(PortWant(5432),), port_range=PortRange(6000, 6010))])
    assert placement(p, "web").ports == (PortBinding(8080, 80),)
    assert placement(p, "db").ports == (PortBinding(6000, 5432),)


def test_each_member_counts_as_a_container_and_pays_its_overhead() -> None:
    p = plan([PI1], [service("web", mem_mb=100, disk_mb=0, links=("db",)),
                     service("db", mem_mb=50, disk_mb=0)])
    fill = p.devices[0]
    assert fill.containers == 2
    assert fill.used.mem_mb == 150 + 2 * OVERHEAD_MB


def test_a_group_running_together_stays() -> None:
    running = [Placement("web", 0, "pi-2"), Placement("db", 0, "pi-2")]
    p = plan([PI1, PI2], [WEB, DB], running=running)
    assert on(p) == {"web": "pi-2", "db": "pi-2"}
    assert p.moves == () and p.stops == ()


def test_members_running_apart_move_together() -> None:
    running = [Placement("web", 0, "pi-1"), Placement("db", 0, "pi-2")]
    p = plan([PI1, PI2], [WEB, DB], running=running)
    together = on(p)
    assert together["web"] == together["db"]
    moved = [m for m in p.moves if m.source != together["web"]]
    assert len(moved) == 1 and moved[0].target == together["web"]
    assert isinstance(moved[0], Move)


def test_a_group_that_fits_nowhere_splits_and_says_why_per_service() -> None:
    p = plan([with_free(PI1, GIB)], [service("web", mem_mb=800, links=("db",)),
                                     service("db", mem_mb=800)])
    assert on(p) == {"web": "pi-1"}
    assert [(u.service, u.replica) for u in p.unplaced] == [("db", 0)]
    assert "memory" in next(iter(p.unplaced[0].reasons))
    assert placement(p, "web").hosts == ()  # nothing to reach: db is nowhere


def shares(name: str) -> Constraint:
    """On `name`'s board: its network namespace is joined (network_mode: service:NAME)."""
    return Constraint("service", "", True, name, f"network_mode: service:{name}")


def test_a_shared_namespace_keeps_them_together_even_opted_out() -> None:
    p = plan(TWO, [replace(WEB, links=("vpn",), constraints=(shares("vpn"),), colocate=False),
                   service("vpn", strategy=SPREAD, colocate=False)])
    assert on(p) == {"web": "pi-1", "vpn": "pi-1"}
    assert all(x.hosts == () for x in p.placements)


def test_a_shared_namespace_that_fits_nowhere_together_is_unplaced_not_split() -> None:
    boards = [with_free(PI1, 2 * GIB), with_free(PI2, 2 * GIB)]
    p = plan(boards, [service("web", mem_mb=1500, links=("vpn",), constraints=(shares("vpn"),)),
                      service("vpn", mem_mb=1500), service("other", mem_mb=100)])
    assert on(p) == {"other": "pi-1"}
    why = {u.service: dict(u.reasons) for u in p.unplaced}
    assert set(why) == {"web", "vpn"}
    assert all(r.startswith("with vpn: needs 2.9 GiB memory") for r in why["web"])
    assert all(r.startswith("with web: ") for r in why["vpn"])


def test_a_shared_namespace_between_images_of_no_common_arch_is_unplaced() -> None:
    boards = [DeviceState(PI1), DeviceState(device("nuc", arch=Arch.AMD64))]
    p = plan(boards, [service("web", links=("vpn",), constraints=(shares("vpn"),),
                              archs=frozenset({Arch.ARM64})),
                      service("vpn", archs=frozenset({Arch.AMD64}))])
    assert p.placements == ()
    assert {u.service: dict(u.reasons) for u in p.unplaced} == {
        "web": {"with vpn: constraint no architecture runs every image": 2},
        "vpn": {"with web: constraint no architecture runs every image": 2}}
