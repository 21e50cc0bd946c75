"""Local search after a greedy pass, for fleets small enough to afford it.

Two moves: empty the least-filled device into the others (one device fewer),
and make room for an unplaced replica by moving one replica out of its way.
Only replicas placed by this plan, of services that pack, are moved.
"""

from __future__ import annotations

from collections.abc import Set

from fleet.model import Strategy
from fleet.scheduler.checks import dynamic_ok
from fleet.scheduler.passes import Placer
from fleet.scheduler.state import Unit


def movable(p: Placer, unit: Unit, new: Set[Unit]) -> bool:
    service = p.needs[unit[0]].service
    return (unit in new and service.strategy is Strategy.PACK
            and not service.latency_sensitive)


def empty_devices(p: Placer, new: Set[Unit]) -> None:
    """Evacuate devices, fewest replicas first, while one empties into the rest."""
    f = p.fleet
    failed: set[int] = set()
    while True:
        candidates = [i for i in range(len(f.states))
                      if f.held[i] and not f.pinned[i] and i not in failed
                      and all(movable(p, u, new) for u in f.held[i])]
        if not candidates:
            return
        d = min(candidates, key=lambda i: (len(f.held[i]), -f.key(i), f.rank[i]))
        if _evacuate(p, d):
            failed.clear()
        else:
            failed.add(d)


def _evacuate(p: Placer, d: int) -> bool:
    f = p.fleet
    units = sorted(f.held[d], key=lambda u: (-p.needs[u[0]].key, u))
    saved = [(u, f.binds[u][1]) for u in units]
    for u in units:
        p.take_back(u)
    others = [i for i in range(len(f.states)) if i != d and f.in_use(i)]
    moved: list[Unit] = []
    for u in units:
        if not p.scored(u, others):
            for m in moved:
                p.take_back(m)
            for back, bindings in saved:
                p.commit(back, d, bindings)
            return False
        moved.append(u)
    return True


def make_room(p: Placer, unplaced: list[Unit], new: set[Unit]) -> list[Unit]:
    """Place what it can of `unplaced` by moving one placed replica each; returns the rest."""
    still = []
    for u in unplaced:
        if _eject_for(p, u, new):
            new.add(u)
        else:
            still.append(u)
    return still


def _eject_for(p: Placer, u: Unit, new: Set[Unit]) -> bool:
    f = p.fleet
    n = p.needs[u[0]]
    ok = p.static.mask(n)
    everywhere = range(len(f.states))
    for d in p.by_capacity:
        if not ok[d]:
            continue
        for v in [v for v in f.held[d] if movable(p, v, new)]:
            bindings = f.binds[v][1]
            p.take_back(v)
            got = dynamic_ok(n, f, d)
            if got is not None:
                p.commit(u, d, got)
                if p.scored(v, everywhere, avoid=lambda i, d=d: i == d):  # type: ignore[misc]
                    return True
                p.take_back(u)
            p.commit(v, d, bindings)
    return False


def trade_up(p: Placer, unplaced: list[Unit], new: set[Unit]) -> list[Unit]:
    """Swap one placed replica for two or more unplaced ones on its device, while any swap does."""
    f = p.fleet
    while unplaced:
        waiting = sorted(unplaced, key=lambda u: (p.needs[u[0]].key, u))
        swap = next(((d, v, taken) for d in p.by_capacity
                     for v in [v for v in f.held[d] if movable(p, v, new)]
                     for taken in (_swap(p, d, v, waiting),) if taken), None)
        if swap is None:
            return unplaced
        _, v, taken = swap
        new.difference_update({v})
        new.update(taken)
        unplaced = [u for u in unplaced if u not in taken] + [v]
    return unplaced


def _swap(p: Placer, d: int, v: Unit, waiting: list[Unit]) -> list[Unit]:
    """Put waiting units on d in v's place; keep it if two or more fit, else undo."""
    bindings = p.fleet.binds[v][1]
    p.take_back(v)
    taken = []
    for u in waiting:
        n = p.needs[u[0]]
        got = dynamic_ok(n, p.fleet, d) if p.static.mask(n)[d] else None
        if got is not None:
            p.commit(u, d, got)
            taken.append(u)
    if len(taken) >= 2:
        return taken
    for u in taken:
        p.take_back(u)
    p.commit(v, d, bindings)
    return []


def swap_in(p: Placer, unplaced: list[Unit], new: set[Unit]) -> list[Unit]:
    """Swap a placed replica for a smaller unplaced one when that lets another go anywhere."""
    f = p.fleet
    everywhere = range(len(f.states))
    changed = True
    while changed and unplaced:
        changed = False
        waiting = sorted(unplaced, key=lambda u: (p.needs[u[0]].key, u))
        for d in p.by_capacity:
            for v in [v for v in f.held[d] if movable(p, v, new)]:
                for u in waiting:
                    if p.needs[u[0]].key >= p.needs[v[0]].key:
                        break
                    gained = _exchange(p, d, v, u, waiting, everywhere)
                    if gained:
                        new.difference_update({v})
                        new.update([u, *gained])
                        unplaced = [w for w in [*unplaced, v] if w != u and w not in gained]
                        changed = True
                        break
                if changed:
                    break
            if changed:
                break
    return unplaced


def _exchange(p: Placer, d: int, v: Unit, u: Unit, waiting: list[Unit],
              everywhere: range) -> list[Unit]:
    bindings = p.fleet.binds[v][1]
    p.take_back(v)
    n = p.needs[u[0]]
    got = dynamic_ok(n, p.fleet, d) if p.static.mask(n)[d] else None
    if got is not None:
        p.commit(u, d, got)
        gained = [w for w in [*waiting, v] if w != u and p.scored(w, everywhere)]
        if gained:
            return gained
        p.take_back(u)
    p.commit(v, d, bindings)
    return []
