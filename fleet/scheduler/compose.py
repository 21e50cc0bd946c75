"""What compose means, over the core placement: a global service on every board that may run it,
services that name each other on one board, and their names resolving across boards.

Global: one replica per board that passes the service's static checks
(arch, GPU, constraints), each pinned to its board, so a board that is too
full shows as an unplaced replica with its own reason. Linked: services of
one replica that name each other (`links`, both `colocate`) go to one
board as one unit; a group no board can take is split and placed as any
other services, unless one of them shares another's namespace or volumes
(a constraint of kind "service"): such a group stays whole, or unplaced.
Whenever a replica's linked service runs on no board it
runs on, the name resolves to that service's board (`Placement.hosts`),
and the service publishes the ports it listens on there, host port equal
to the container's (planned again, so those ports are checked as taken).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from fleet.model import (
    Constraint,
    DeviceFill,
    DeviceState,
    Move,
    Placement,
    Plan,
    PortWant,
    Resources,
    Service,
    Strategy,
    Unplaced,
)
from fleet.scheduler.checks import STATIC, first_failure
from fleet.scheduler.state import OVERHEAD_MB, Fleet, make_need

Core = Callable[[tuple[DeviceState, ...], Sequence[Service], Sequence[Placement], float, int],
                Plan]
Port = tuple[int, str]  # (container port, protocol)

# The text of the constraint pinning a global replica to its board: its failures on every
# other board are the pin working, not reasons to show.
_PIN = "\0pinned to its board"


def arrange(states: tuple[DeviceState, ...], services: Sequence[Service],
            running: Sequence[Placement], now: float, seed: int, core: Core) -> Plan:
    """Plan with compose's global services and linked services, through `core`."""
    groups = _groups(services)
    bound = {k for k, g in enumerate(groups) if _bound(g)}
    split = {k for k, g in enumerate(groups) if k not in bound and _merge(g, "") is None}
    published: dict[str, frozenset[Port]] = {}
    while True:  # each round splits a group or publishes a port more, so it ends
        wanted = [_publishing(s, published.get(s.name, frozenset())) for s in services]
        plan, failed = _place(states, wanted, groups, split, bound, running, now, seed, core)
        if failed:
            split |= failed
            continue
        plan, needed = _reach(plan, wanted, states)
        more = {t: ports | published.get(t, frozenset()) for t, ports in needed.items()
                if not ports <= published.get(t, frozenset())}
        if not more:
            return _unpublish(plan, {t: ports for t, ports in published.items()
                                     if t not in needed})
        published.update(more)


# -- linked services on one board ----------------------------------------------------

def _groups(services: Sequence[Service]) -> list[tuple[Service, ...]]:
    """Sets of single-replica services joined by links both ends agree to, or by a shared
    namespace or volumes, two or more."""
    able = {s.name: s for s in services if s.replicas == 1 and not s.per_board}
    root = {name: name for name in able}

    def find(name: str) -> str:
        while root[name] != name:
            name = root[name] = root[root[name]]
        return name

    for s in able.values():
        for target in s.links:
            other = able.get(target)
            if other is not None and ((s.colocate and other.colocate) or target in _beside(s)):
                root[find(s.name)] = find(target)
    members: dict[str, list[Service]] = {}
    for key, s in able.items():
        members.setdefault(find(key), []).append(s)
    return [tuple(m) for m in members.values() if len(m) > 1]


def _beside(s: Service) -> set[str]:
    """The services whose board it must be on (whose namespace or volumes it shares)."""
    return {c.value for c in s.constraints if c.kind == "service"}


def _bound(group: Sequence[Service]) -> bool:
    names = {s.name for s in group}
    return any(_beside(s) & names for s in group)


def _unbound(s: Service) -> Service:
    """The service without its "service" constraints, which this module, not the core, keeps."""
    kept = tuple(c for c in s.constraints if c.kind != "service")
    return s if len(kept) == len(s.constraints) else replace(s, constraints=kept)


@dataclass(frozen=True, slots=True)
class _Merged:
    """A group placed as one service; `owners` names the member of each binding, in order."""

    index: int
    members: tuple[str, ...]
    owners: tuple[str, ...]


def _merge(group: Sequence[Service], name: str, whole: bool = False) -> Service | None:
    """The group as one service, or None if no image arch is common to all; `whole`: one
    that no board takes, then, since the group may not split."""
    archs = [s.archs for s in group if s.archs]
    common = frozenset.intersection(*archs) if archs else frozenset()
    never: tuple[Constraint, ...] = ()
    if archs and not common:
        if not whole:
            return None
        never = (Constraint("hostname", "", True, "\0", "no architecture runs every image"),)
    ports = tuple(w if w.host is not None or w.range is not None or s.port_range is None
                  else replace(w, range=s.port_range) for s in group for w in s.ports)
    overhead = Resources(mem_mb=OVERHEAD_MB * (len(group) - 1))  # a shim per container
    spread = any(s.strategy is Strategy.SPREAD for s in group)
    return Service(name, group[0].image, 1, sum((s.request for s in group), overhead), common,
                   ports, gpu=any(s.gpu for s in group),
                   strategy=Strategy.SPREAD if spread else Strategy.PACK,
                   latency_sensitive=any(s.latency_sensitive for s in group),
                   constraints=(*never, *(c for s in group for c in _unbound(s).constraints)),
                   mem_limit_mb=max(s.mem_limit_mb for s in group),
                   cpu_limit_millis=max(s.cpu_limit_millis for s in group))


def _owners(group: Sequence[Service]) -> tuple[str, ...]:
    """The member of each binding the core gives the merged service: fixed ports, then ranges."""
    fixed = [s.name for s in group for w in s.ports if w.host is not None]
    ranged = [s.name for s in group for w in s.ports
              if w.host is None and (w.range or s.port_range) is not None]
    return (*fixed, *ranged)


def _merged_running(group: Sequence[Service], name: str,
                    running: Sequence[Placement]) -> Placement | None:
    """The group's running replica, if every member's replica 0 runs on one board."""
    runs = {p.service: p for p in running if p.replica == 0}
    found = [runs.get(s.name) for s in group]
    boards = {p.device for p in found if p is not None}
    if None in found or len(boards) != 1:
        return None
    return Placement(name, 0, boards.pop(),
                     tuple(b for p in found if p is not None for b in p.ports))


# -- one round: merge, pin, place, and back to the stack's own names -----------------

def _place(states: tuple[DeviceState, ...], services: Sequence[Service],
           groups: list[tuple[Service, ...]], split: set[int], bound: set[int],
           running: Sequence[Placement], now: float, seed: int, core: Core,
           ) -> tuple[Plan, set[int]]:
    """One plan; or, if a group that may split found no board, the groups to split."""
    by_name = {s.name: s for s in services}
    merged: dict[str, _Merged] = {}
    first: dict[str, Service] = {}
    held: set[str] = set()
    run = list(running)
    for k, group in enumerate(groups):
        if k in split:
            continue
        members = tuple(by_name[s.name] for s in group)
        name = f"+{k}"  # '+' is in no compose service name
        merged[name] = _Merged(k, tuple(s.name for s in members), _owners(members))
        first[members[0].name] = _merge(members, name, whole=True) or members[0]
        held.update(merged[name].members)
        together = _merged_running(members, name, run)
        run = [p for p in run if p.service not in merged[name].members or p.replica != 0]
        if together is not None:
            run.append(together)
    flat = [first.get(s.name, _unbound(s)) for s in services
            if s.name in first or s.name not in held]
    pinned, flat, run = _pin(states, flat, run)
    plan = core(states, flat, run, now, seed)
    failed = {merged[u.service].index for u in plan.unplaced if u.service in merged} - bound
    if failed:
        return plan, failed
    plan = _unpin(_unmerge(plan, merged, running), pinned, running)
    order = {s.name: k for k, s in enumerate(services)}
    placements = tuple(sorted(plan.placements, key=lambda p: (order[p.service], p.replica)))
    unplaced = tuple(sorted(plan.unplaced, key=lambda u: (order[u.service], u.replica)))
    # By the stack's own names: the core saw merged and pinned ones.
    assumed = {s.name: s.request.mem_mb for s in services if s.mem_assumed}
    return replace(plan, placements=placements, unplaced=unplaced, devices=_recount(plan),
                   assumed=assumed), set()


def _unmerge(plan: Plan, merged: dict[str, _Merged], running: Sequence[Placement]) -> Plan:
    placements: list[Placement] = []
    for p in plan.placements:
        m = merged.get(p.service)
        if m is None:
            placements.append(p)
            continue
        for member in m.members:
            ports = tuple(b for b, o in zip(p.ports, m.owners, strict=True) if o == member)
            placements.append(Placement(member, 0, p.device, ports))
    where = {(p.service, p.replica): p.device for p in placements}
    members = {name for m in merged.values() for name in m.members}
    moves = [Move(name, 0, mv.source, mv.target) for mv in plan.moves
             for name in (merged[mv.service].members if mv.service in merged else ())]
    moves += [mv for mv in plan.moves if mv.service not in merged]
    unplaced = [u for u in plan.unplaced if u.service not in merged]
    for u in plan.unplaced:  # a group that may not split: each member, saying with what
        for name in merged[u.service].members if u.service in merged else ():
            others = ", ".join(m for m in merged[u.service].members if m != name)
            unplaced.append(Unplaced(name, 0, {f"with {others}: {r}": n
                                               for r, n in u.reasons.items()}))
    # A member running apart from its group moves to where the group goes.
    moves += [Move(p.service, 0, p.device, where.get((p.service, 0))) for p in running
              if p.service in members and p.replica == 0
              and where.get((p.service, 0)) != p.device
              and not any(mv.service == p.service for mv in moves)]
    return replace(plan, placements=tuple(placements), moves=tuple(moves),
                   unplaced=tuple(unplaced))


def _recount(plan: Plan) -> tuple[DeviceFill, ...]:
    count: dict[str, int] = {}
    for p in plan.placements:
        count[p.device] = count.get(p.device, 0) + 1
    return tuple(replace(d, containers=count.get(d.device, 0)) for d in plan.devices)


# -- global services: a replica pinned to each board that may run it -------------------

@dataclass(frozen=True, slots=True)
class _Pin:
    service: str
    device: str


def _pin(states: tuple[DeviceState, ...], services: Sequence[Service],
         running: Sequence[Placement],
         ) -> tuple[dict[str, _Pin], list[Service], list[Placement]]:
    fleet = Fleet(states, 0)
    pinned: dict[str, _Pin] = {}
    out: list[Service] = []
    for s in services:
        if not s.per_board:
            out.append(s)
            continue
        need = make_need(s, 0, fleet.scale)
        for i, state in enumerate(states):
            if first_failure(need, fleet, i, STATIC) is None:
                name, board = f"{s.name}@{i}", state.device.id
                pin = Constraint("hostname", "", True, board, _PIN)
                out.append(replace(s, name=name, replicas=1, per_board=False,
                                   constraints=(*s.constraints, pin)))
                pinned[name] = _Pin(s.name, board)
    slot = {(p.service, p.device): name for name, p in pinned.items()}
    run: list[Placement] = []
    for p in running:
        key = (p.service, p.device)
        mine = slot.pop(key) if key in slot else None
        run.append(p if mine is None else replace(p, service=mine, replica=0))
    return pinned, out, run


def _unpin(plan: Plan, pinned: dict[str, _Pin], running: Sequence[Placement]) -> Plan:
    number = _numbers(pinned, running)

    def named(service: str, replica: int) -> tuple[str, int]:
        pin = pinned.get(service)
        return (service, replica) if pin is None else (pin.service, number[service])

    def why(u: Unplaced) -> Unplaced:
        if u.service not in pinned:
            return u
        reasons = {r: n for r, n in u.reasons.items() if r != f"constraint {_PIN}"}
        return Unplaced(*named(u.service, u.replica), reasons)

    return replace(
        plan,
        placements=tuple(replace(p, service=named(p.service, p.replica)[0],
                                 replica=named(p.service, p.replica)[1])
                         for p in plan.placements),
        unplaced=tuple(why(u) for u in plan.unplaced),
        moves=tuple(Move(*named(m.service, m.replica), m.source, m.target)
                    for m in plan.moves))


def _numbers(pinned: dict[str, _Pin], running: Sequence[Placement]) -> dict[str, int]:
    """Each global replica's number: the one it runs as on its board, else the lowest free."""
    was = {(p.service, p.device): p.replica for p in reversed(running)}
    number: dict[str, int] = {}
    taken: dict[str, set[int]] = {}
    for name, pin in pinned.items():
        r = was.get((pin.service, pin.device))
        if r is not None and r not in taken.setdefault(pin.service, set()):
            number[name] = r
            taken[pin.service].add(r)
    for name, pin in pinned.items():
        if name not in number:
            used = taken.setdefault(pin.service, set())
            number[name] = next(r for r in range(len(pinned) + len(used) + 1) if r not in used)
            used.add(number[name])
    return number


# -- names across boards -------------------------------------------------------------

def _listens(s: Service) -> frozenset[Port]:
    return frozenset((w.container, w.protocol) for w in (*s.ports, *s.expose))


def _publishing(s: Service, ports: frozenset[Port]) -> Service:
    """The service publishing `ports` on the same host port, besides its own."""
    have = {(w.container, w.protocol) for w in s.ports if w.host == w.container}
    add = sorted(ports - have)
    if not add:
        return s
    # docker's own pick of a host port for these is superseded by the fixed one.
    kept = tuple(w for w in s.ports if not (
        (w.container, w.protocol) in ports and w.host is None and w.range is None))
    return replace(s, ports=(*kept, *(PortWant(c, c, proto) for c, proto in add)))


def _reach(plan: Plan, services: Sequence[Service], states: Iterable[DeviceState],
           ) -> tuple[Plan, dict[str, frozenset[Port]]]:
    """Each placement's hosts, and the ports each service reached across boards listens on."""
    address = {s.device.id: s.device.host for s in states}
    spec = {s.name: s for s in services}
    where: dict[str, list[Placement]] = {}
    for p in sorted(plan.placements, key=lambda p: p.replica):
        where.setdefault(p.service, []).append(p)
    needed: dict[str, frozenset[Port]] = {}
    placements = []
    for p in plan.placements:
        hosts = []
        for target in spec[p.service].links:
            there = where.get(target, [])
            if not there or any(q.device == p.device for q in there) or target not in spec:
                continue
            hosts.append((target, address[there[0].device]))
            needed[target] = _listens(spec[target])
        placements.append(replace(p, hosts=tuple(hosts)))
    return replace(plan, placements=tuple(placements)), needed


def _unpublish(plan: Plan, added: dict[str, frozenset[Port]]) -> Plan:
    """Drop the ports added for a service no replica reaches across boards any more."""
    if not added:
        return plan
    placements = []
    for p in plan.placements:
        drop = {(c, c, proto) for c, proto in added.get(p.service, ())}
        kept = []
        for b in p.ports:
            if (b.host, b.container, b.protocol) in drop:
                drop.discard((b.host, b.container, b.protocol))  # the one added
            else:
                kept.append(b)
        placements.append(replace(p, ports=tuple(kept)))
    return replace(plan, placements=tuple(placements))
