"""plan(): keep what still fits, place the rest, explain what cannot go; plus what-if and need."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from fleet.model import (
    Device,
    DeviceFill,
    DeviceState,
    Move,
    Placement,
    Plan,
    PortBinding,
    Profile,
    Resources,
    Service,
    Unplaced,
)
from fleet.scheduler.checks import StaticCache, allocate, dynamic_ok, reasons
from fleet.scheduler.compose import arrange
from fleet.scheduler.improve import empty_devices, make_room, swap_in, trade_up
from fleet.scheduler.passes import Placer
from fleet.scheduler.state import Fleet, Need, Unit, make_need, port_code

# Above this many (replicas x devices) one fast pass is run; below it, several
# orders and local search, which is what gets small fleets to the optimum.
THOROUGH_LIMIT = 40_000
# Extra small-first orders, each shaken by up to 30 %, when not everything fits.
SHAKES = 24


def plan(devices: Iterable[Device | DeviceState], services: Sequence[Service], *,
         running: Sequence[Placement] = (), now: float = 0.0, seed: int = 0) -> Plan:
    """Place every replica of `services` on `devices`, keeping `running` ones that still fit.

    Deterministic: the same input gives the same plan. `seed` (0: inventory
    order) only breaks ties between equal devices; `now` is recorded. Global
    and linked services are placed as compose means them (fleet.scheduler.compose).
    """
    states = tuple(d if isinstance(d, DeviceState) else DeviceState(d) for d in devices)
    return arrange(states, services, running, now, seed, _core)


def _core(states: tuple[DeviceState, ...], services: Sequence[Service],
          running: Sequence[Placement], now: float, seed: int) -> Plan:
    fleet = Fleet(states, seed)
    needs = tuple(make_need(s, k, fleet.scale) for k, s in enumerate(services))
    static = StaticCache(fleet)
    kept, stops, pending_moves = _keep_running(fleet, needs, static, running)
    units = [(k, r) for k, n in enumerate(needs) for r in range(n.service.replicas)
             if (k, r) not in kept]
    thorough = len(units) * max(len(states), 1) <= THOROUGH_LIMIT
    fleet, unplaced = _place(fleet, needs, static, units, thorough, seed)
    return _result(fleet, needs, unplaced, pending_moves, stops, seed, now)


def _keep_running(fleet: Fleet, needs: tuple[Need, ...], static: StaticCache,
                  running: Sequence[Placement],
                  ) -> tuple[set[Unit], tuple[Placement, ...], dict[Unit, str]]:
    index = {n.name: k for k, n in enumerate(needs)}
    device_index = {s.device.id: i for i, s in enumerate(fleet.states)}
    kept: set[Unit] = set()
    stops: list[Placement] = []
    moves: dict[Unit, str] = {}
    for p in sorted(running, key=lambda p: (index.get(p.service, -1), p.replica, p.device)):
        k = index.get(p.service)
        if k is None or p.replica >= needs[k].service.replicas:
            stops.append(p)
            continue
        unit = (k, p.replica)
        if unit in kept or unit in moves:
            stops.append(p)  # a duplicate: one copy is enough
            continue
        i = device_index.get(p.device)
        bindings = None if i is None else _still_fits(fleet, needs[k], static, i, p.ports)
        if i is None or bindings is None:
            moves[unit] = p.device
            continue
        fleet.add(unit, needs[k], i, bindings)
        fleet.pinned[i] = True
        kept.add(unit)
    return kept, tuple(stops), moves


def _still_fits(fleet: Fleet, n: Need, static: StaticCache, i: int,
                ports: tuple[PortBinding, ...]) -> tuple[PortBinding, ...] | None:
    """The bindings to keep on device i (its old ports if still right), or None to move."""
    if not static.mask(n)[i] or dynamic_ok(n, fleet, i) is None:
        return None
    old = {(b.container, b.protocol): b for b in ports}
    wanted = [b for _, b in n.fixed]
    for want, rng in n.alloc:
        b = old.get((want.container, want.protocol))
        if b is None or not rng.low <= b.host <= rng.high:
            fresh = allocate(n, fleet, i)
            return None if isinstance(fresh, str) else fresh
        wanted.append(b)
    codes = [port_code(b.host, b.protocol) for b in wanted]
    if len(set(codes)) < len(codes) or any(c in fleet.ports[i] for c in codes):
        fresh = allocate(n, fleet, i)
        return None if isinstance(fresh, str) else fresh
    return tuple(wanted)


def _orders(needs: tuple[Need, ...], static: StaticCache, units: list[Unit],
            thorough: bool) -> list[tuple[list[Unit], bool]]:
    """Unit orders to try, each with whether to place it first-fit; the first is the default."""
    scale = static.fleet.scale
    restricted = {k: 0 if 0 in static.mask(n) else 1 for k, n in enumerate(needs)}

    def by(size: list[float]) -> list[Unit]:
        return sorted(units, key=lambda u: (restricted[u[0]], -size[u[0]], u))

    default = by([n.key for n in needs])
    dim = _bottleneck(static.fleet, needs, units)
    primary = [(n.mem, n.disk, n.cpu)[dim] for n in needs]
    if not thorough:
        return [(default, False)]
    return [
        (default, False),
        (by([n.mem / scale.mem_mb for n in needs]), False),
        (by([n.disk / scale.disk_mb for n in needs]), False),
        (by([n.cpu / scale.cpu_millis for n in needs]), False),
        (by([max(n.mem / scale.mem_mb, n.disk / scale.disk_mb, n.cpu / scale.cpu_millis)
             for n in needs]), False),
        (sorted(units, key=lambda u: (-needs[u[0]].key, u)), True),
        # Smallest first places the most replicas when not everything fits.
        (sorted(units, key=lambda u: (needs[u[0]].key, u)), False),
        (sorted(units, key=lambda u: (primary[u[0]], u)), False),
    ]


def _place(fleet: Fleet, needs: tuple[Need, ...], static: StaticCache, units: list[Unit],
           thorough: bool, seed: int) -> tuple[Fleet, list[Unit]]:
    primary = _bottleneck(fleet, needs, units)
    orders = _orders(needs, static, units, thorough)
    best = min((_attempt(fleet, needs, static, order, first_fit, primary, thorough, units)
                for order, first_fit in orders), key=lambda t: t[0])
    if thorough and best[0][2]:
        # GPU boards in use: as good a plan may leave them free for work that needs one.
        trial = _attempt(fleet, needs, static, orders[0][0], False, primary, thorough, units,
                         gpu_last=True)
        best = min(best, trial, key=lambda t: t[0])
    if thorough and best[2]:
        # Not everything fits: try the small-first order shaken, a fixed number of times.
        rng = random.Random(seed)
        size = [(n.mem, n.disk, n.cpu)[primary] for n in needs]
        for _ in range(SHAKES):
            noise = {u: size[u[0]] * rng.uniform(0.7, 1.3) for u in units}
            order = sorted(units, key=lambda u: (noise[u], u))
            trial = _attempt(fleet, needs, static, order, False, primary, thorough, units)
            best = min(best, trial, key=lambda t: t[0])
    return best[1], sorted(best[2])


def _attempt(fleet: Fleet, needs: tuple[Need, ...], static: StaticCache, order: list[Unit],
             first_fit: bool, primary: int, thorough: bool, units: list[Unit],
             gpu_last: bool = False) -> tuple[tuple[int, int, int], Fleet, list[Unit]]:
    """One greedy pass (and local search if thorough), scored by (unplaced, devices used,
    GPU boards used): fewest of each, in that order."""
    trial = fleet.copy() if thorough else fleet
    placer = Placer(trial, needs, static, gpu_last)
    unplaced = [u for u in order if not placer.place(u, first_fit)]
    if thorough:
        new = set(units) - set(unplaced)
        empty_devices(placer, new)
        if unplaced:
            unplaced = trade_up(placer, unplaced, new)
            unplaced = swap_in(placer, make_room(placer, unplaced, new), new)
            empty_devices(placer, new)
    used = [i for i, h in enumerate(trial.held) if h]
    gpus = sum(1 for i in used if trial.states[i].device.profile.gpu is not None)
    return (len(unplaced), len(used), gpus), trial, unplaced


def _bottleneck(fleet: Fleet, needs: tuple[Need, ...], units: list[Unit]) -> int:
    """The dimension (0 memory, 1 disk, 2 CPU) the units ask most of, against what is free."""
    free = (fleet.free_mem, fleet.free_disk, fleet.free_cpu)
    shares = [sum((needs[k].mem, needs[k].disk, needs[k].cpu)[dim] for k, _ in units)
              / max(sum(free[dim]), 1) for dim in range(3)]
    return shares.index(max(shares))


def _result(fleet: Fleet, needs: tuple[Need, ...], unplaced: list[Unit],
            pending_moves: dict[Unit, str], stops: tuple[Placement, ...], seed: int,
            now: float) -> Plan:
    ids = [s.device.id for s in fleet.states]
    placements = tuple(Placement(needs[k].name, r, ids[i], bindings)
                       for (k, r), (i, bindings) in sorted(fleet.binds.items()))
    where = {(needs[k].name, r): ids[i] for (k, r), (i, _) in fleet.binds.items()}
    moves = tuple(Move(needs[k].name, r, source, where.get((needs[k].name, r)))
                  for (k, r), source in sorted(pending_moves.items()))
    fills = tuple(DeviceFill(s.device.id, s.device.profile.name, s.device.budget,
                             s.device.budget - Resources(fleet.free_mem[i], fleet.free_disk[i],
                                                         fleet.free_cpu[i]),
                             len(fleet.held[i]))
                  for i, s in enumerate(fleet.states))
    missing = tuple(Unplaced(needs[k].name, r, reasons(needs[k], fleet)) for k, r in unplaced)
    assumed = {n.name: n.service.request.mem_mb for n in needs if n.service.mem_assumed}
    return Plan(placements, missing, fills, moves, stops, seed, now, assumed)


# -- what if, and how many more ----------------------------------------------------

def what_if(devices: Iterable[Device | DeviceState],
            extra: Sequence[tuple[Profile, int]]) -> tuple[DeviceState, ...]:
    """`devices` plus imaginary empty ones: `count` of each profile, named what-if-PROFILE-N."""
    states = [d if isinstance(d, DeviceState) else DeviceState(d) for d in devices]
    taken = {s.device.id for s in states}
    for profile, count in extra:
        made, k = 0, 1
        while made < count:
            name = f"what-if-{profile.name}-{k}"
            k += 1
            if name not in taken:
                taken.add(name)
                states.append(DeviceState(Device(name, "what-if", profile, profile.arch)))
                made += 1
    return tuple(states)


def need(profile: Profile, devices: Iterable[Device | DeviceState],
         services: Sequence[Service], *, running: Sequence[Placement] = (), seed: int = 0,
         limit: int = 4096) -> int | None:
    """The fewest extra devices of `profile` with which every replica is placed; None if no
    number up to `limit` does (a GPU service and a Pi profile, say)."""
    base = tuple(devices)

    def fits(count: int) -> bool:
        trial = plan(what_if(base, [(profile, count)]), services, running=running, seed=seed)
        return not trial.unplaced

    if fits(0):
        return 0
    high = 1
    while not fits(high):
        if high >= limit:
            return None
        high = min(high * 2, limit)
    low = high // 2  # fits(low) is False (or low is 0, checked above)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid, high)
    return high


def volume_bound(budgets: Sequence[Resources], demands: Iterable[Resources]) -> int | None:
    """The fewest devices whose budgets could hold the demands in each dimension taken alone
    (largest devices first); None if even all of them cannot."""
    total = sum(demands, Resources())
    worst = 0
    for dim in ("mem_mb", "disk_mb", "cpu_millis"):
        want = getattr(total, dim)
        sizes = sorted((getattr(b, dim) for b in budgets), reverse=True)
        count, held = 0, 0
        while held < want:
            if count == len(sizes):
                return None
            held += sizes[count]
            count += 1
        worst = max(worst, count)
    return worst


__all__ = ["need", "plan", "volume_bound", "what_if"]
