"""Placing replicas: a fast best-fit pass for big fleets, a scored pass, and first fit.

The fast pass keeps the devices in use sorted by what they have left (one
scalar over the resource vector, scaled by the fleet's largest budget), so
best fit is a bisect and a short scan instead of a look at every device;
empty devices wait in stacks, one per kind of device, largest kind first.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable

from fleet.model import PortBinding, Strategy
from fleet.scheduler.checks import StaticCache, allocate, dynamic_ok
from fleet.scheduler.score import score
from fleet.scheduler.state import Fleet, Need, Unit

# Devices looked at in key order before an empty one is opened instead.
SCAN = 512
_EPS = 1e-12


class Placer:
    """Puts units on one Fleet, keeping the sorted index of devices in use.

    The index is sorted by each device's scarcest free dimension (scaled by
    the fleet's largest budget). A replica cannot fit below the smallest of
    its own scaled needs and surely fits, resource-wise, from the largest
    up: best fit scans from the first bound a little way, then jumps to the
    second. Devices that cannot take even the smallest replica in some
    dimension leave the index.
    """

    def __init__(self, fleet: Fleet, needs: tuple[Need, ...], static: StaticCache,
                 gpu_last: bool = False) -> None:
        self.fleet, self.needs, self.static = fleet, needs, static
        s = fleet.scale
        self.scale = (1 / s.mem_mb, 1 / s.disk_mb, 1 / s.cpu_millis)
        self.least = (min([n.mem for n in needs] + [0]), min([n.disk for n in needs] + [0]),
                      min([n.cpu for n in needs] + [0]))
        n = len(fleet.states)
        self.opened = [fleet.in_use(i) for i in range(n)]
        self.keyed: list[float | None] = [None] * n
        self.open: list[tuple[float, int]] = []
        for i in range(n):
            if self.opened[i]:
                self._index(i)
        kinds: dict[object, list[int]] = {}
        for i in sorted(range(n), key=lambda i: fleet.rank[i]):
            if not self.opened[i]:
                d = fleet.states[i].device
                kind = (d.budget, d.arch, d.profile.gpu is not None, d.site,
                        tuple(sorted(d.labels.items())))
                kinds.setdefault(kind, []).append(i)
        # Largest first: opening big devices first leaves fewer in use; `gpu_last` opens
        # GPU boards after the rest, to leave them to work that needs a GPU.
        self.stacks = sorted((members[::-1] for members in kinds.values()), key=lambda m: (
            gpu_last and fleet.states[m[-1]].device.profile.gpu is not None,
            -fleet.key(m[-1]), fleet.rank[m[-1]]))
        self.by_capacity = sorted(range(n), key=lambda i: (-fleet.key(i), fleet.rank[i]))

    def _index(self, i: int) -> None:
        f, least = self.fleet, self.least
        fm, fd, fc = f.free_mem[i], f.free_disk[i], f.free_cpu[i]
        if fm >= least[0] and fd >= least[1] and fc >= least[2]:
            sm, sd, sc = self.scale
            key = min(fm * sm, fd * sd, fc * sc)
            insort(self.open, (key, i))
            self.keyed[i] = key

    def _unindex(self, i: int) -> None:
        key = self.keyed[i]
        if key is not None:
            del self.open[bisect_left(self.open, (key, i))]
            self.keyed[i] = None

    def commit(self, unit: Unit, i: int, bindings: tuple[PortBinding, ...]) -> None:
        self._unindex(i)
        self.opened[i] = True
        self.fleet.add(unit, self.needs[unit[0]], i, bindings)
        self._index(i)

    def place(self, unit: Unit, first_fit: bool = False) -> bool:
        n = self.needs[unit[0]]
        if n.service.strategy is Strategy.SPREAD or n.service.latency_sensitive:
            return self.scored(unit, range(len(self.fleet.states)))
        return self.first_fit(unit) if first_fit else self.best_fit(unit)

    def best_fit(self, unit: Unit) -> bool:
        n = self.needs[unit[0]]
        ok = self.static.mask(n)
        sm, sd, sc = self.scale
        scaled = (n.mem * sm, n.disk * sd, n.cpu * sc)
        open_ = self.open
        start = bisect_left(open_, (min(scaled) - _EPS, -1))
        sure = bisect_left(open_, (max(scaled) + _EPS, -1))
        if self._scan(unit, n, ok, start, min(start + SCAN, sure)):
            return True
        if self._scan(unit, n, ok, sure, min(sure + SCAN, len(open_))):
            return True
        if self._open_new(unit, n, ok):
            return True
        # Rare: everything in use and the short scans missed; look at the rest.
        return (self._scan(unit, n, ok, start + SCAN, sure)
                or self._scan(unit, n, ok, sure + SCAN, len(open_)))

    def _scan(self, unit: Unit, n: Need, ok: bytearray, start: int, end: int) -> bool:
        f = self.fleet
        fm, fd, fc, count = f.free_mem, f.free_disk, f.free_cpu, f.count
        mem, disk, cpu, name, most = n.mem, n.disk, n.cpu, n.name, n.service.max_per_device
        open_ = self.open
        for j in range(start, end):
            i = open_[j][1]
            if (ok[i] and mem <= fm[i] and disk <= fd[i] and cpu <= fc[i]
                    and count[i].get(name, 0) < most):
                got = allocate(n, f, i)
                if not isinstance(got, str):
                    self.commit(unit, i, got)
                    return True
        return False

    def _open_new(self, unit: Unit, n: Need, ok: bytearray) -> bool:
        for stack in self.stacks:
            while stack and self.opened[stack[-1]]:
                stack.pop()
            if stack and ok[stack[-1]]:
                got = dynamic_ok(n, self.fleet, stack[-1])
                if got is not None:
                    self.commit(unit, stack.pop(), got)
                    return True
        return False

    def first_fit(self, unit: Unit) -> bool:
        n = self.needs[unit[0]]
        ok = self.static.mask(n)
        for i in self.by_capacity:
            if ok[i]:
                got = dynamic_ok(n, self.fleet, i)
                if got is not None:
                    self.commit(unit, i, got)
                    return True
        return False

    def scored(self, unit: Unit, candidates: Iterable[int],
               avoid: Callable[[int], bool] = lambda i: False) -> bool:
        """The best-scoring device among candidates; every one is looked at."""
        n = self.needs[unit[0]]
        ok = self.static.mask(n)
        best: tuple[float, int, int] | None = None
        best_bindings: tuple[PortBinding, ...] = ()
        for i in candidates:
            if not ok[i] or avoid(i):
                continue
            got = dynamic_ok(n, self.fleet, i)
            if got is not None:
                here = (score(n, self.fleet, i), self.fleet.rank[i], i)
                if best is None or here < best:
                    best, best_bindings = here, got
        if best is None:
            return False
        self.commit(unit, best[2], best_bindings)
        return True

    def take_back(self, unit: Unit) -> int:
        """Remove a unit; returns the device it was on."""
        i = self.fleet.binds[unit][0]
        self._unindex(i)
        self.fleet.remove(unit, self.needs[unit[0]])
        if self.fleet.in_use(i):
            self._index(i)
        else:
            self.opened[i] = False
            # Emptied: the scored pass may reopen it; the fast pass finds it in no stack.
        return i
