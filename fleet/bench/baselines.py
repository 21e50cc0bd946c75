"""What the pack benchmark measures fleet against: first-fit decreasing and OR-Tools CP-SAT.

Both read the same items as the planner: each container's cost with the
per-container overhead (fleet.scheduler.need_of), devices' budgets, and
GPU items only on boards with a GPU. FFD takes items by decreasing size
(summed over dimensions, each over the fleet's largest budget) and devices
largest first, the strong variant for boards of mixed sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from fleet.model import Resources


@dataclass(frozen=True, slots=True)
class Item:
    size: Resources
    gpu: bool


@dataclass(frozen=True, slots=True)
class Bin:
    budget: Resources
    gpu: bool
    kind: str  # the profile: bins of one kind are interchangeable


@dataclass(frozen=True, slots=True)
class Solved:
    value: int
    optimal: bool


def _scale(bins: Sequence[Bin]) -> Resources:
    return Resources(max(b.budget.mem_mb for b in bins), max(b.budget.disk_mb for b in bins),
                     max(b.budget.cpu_millis for b in bins))


def _key(r: Resources, s: Resources) -> float:
    # The planner's own formula and order of terms, so ties fall the same way.
    return r.mem_mb / s.mem_mb + r.disk_mb / s.disk_mb + r.cpu_millis / s.cpu_millis


def ffd_orders(items: Sequence[Item], bins: Sequence[Bin]) -> tuple[list[int], list[int]]:
    s = _scale(bins)
    item_order = sorted(range(len(items)), key=lambda k: (-_key(items[k].size, s), k))
    bin_order = sorted(range(len(bins)), key=lambda j: (-_key(bins[j].budget, s), j))
    return item_order, bin_order


def ffd(items: Sequence[Item], bins: Sequence[Bin]) -> tuple[int, int]:
    """(devices used, items placed) by first-fit decreasing, with a max-tree over free space."""
    item_order, bin_order = ffd_orders(items, bins)
    tree = _Tree([bins[j] for j in bin_order])
    used: set[int] = set()
    placed = 0
    for k in item_order:
        leaf = tree.first_fit(items[k])
        if leaf is not None:
            used.add(leaf)
            placed += 1
    return len(used), placed


class _Tree:
    """Per-dimension maxima of free space over bins in order: first fit in O(log n) mostly."""

    def __init__(self, bins: Sequence[Bin]) -> None:
        size = 1
        while size < len(bins):
            size *= 2
        self.size = size
        self.mem = [-1] * (2 * size)
        self.disk = [-1] * (2 * size)
        self.cpu = [-1] * (2 * size)
        self.gpu = [False] * (2 * size)
        for j, b in enumerate(bins):
            leaf = size + j
            self.mem[leaf], self.disk[leaf] = b.budget.mem_mb, b.budget.disk_mb
            self.cpu[leaf], self.gpu[leaf] = b.budget.cpu_millis, b.gpu
        for node in range(size - 1, 0, -1):
            self._pull(node)

    def _pull(self, node: int) -> None:
        a, b = 2 * node, 2 * node + 1
        self.mem[node] = max(self.mem[a], self.mem[b])
        self.disk[node] = max(self.disk[a], self.disk[b])
        self.cpu[node] = max(self.cpu[a], self.cpu[b])
        self.gpu[node] = self.gpu[a] or self.gpu[b]

    def _may_fit(self, node: int, item: Item) -> bool:
        r = item.size
        return (self.mem[node] >= r.mem_mb and self.disk[node] >= r.disk_mb
                and self.cpu[node] >= r.cpu_millis and (self.gpu[node] or not item.gpu))

    def first_fit(self, item: Item) -> int | None:
        leaf = self._find(1, item)
        if leaf is None:
            return None
        r = item.size
        self.mem[leaf] -= r.mem_mb
        self.disk[leaf] -= r.disk_mb
        self.cpu[leaf] -= r.cpu_millis
        node = leaf // 2
        while node:
            self._pull(node)
            node //= 2
        return leaf - self.size

    def _find(self, node: int, item: Item) -> int | None:
        if not self._may_fit(node, item):
            return None
        if node >= self.size:
            return node
        return self._find(2 * node, item) or self._find(2 * node + 1, item)


def _model(items: Sequence[Item], bins: Sequence[Bin]
           ) -> tuple[cp_model.CpModel, dict[tuple[int, int], cp_model.IntVar]]:
    model = cp_model.CpModel()
    x = {(k, j): model.new_bool_var(f"x{k}_{j}") for k, item in enumerate(items)
         for j, b in enumerate(bins) if (b.gpu or not item.gpu) and item.size.fits_in(b.budget)}
    for j, b in enumerate(bins):
        here = [(k, v) for (k, jj), v in x.items() if jj == j]
        for dim in ("mem_mb", "disk_mb", "cpu_millis"):
            model.add(sum(getattr(items[k].size, dim) * v for k, v in here)
                      <= getattr(b.budget, dim))
    return model, x


def _solve(model: cp_model.CpModel, seconds: float) -> Solved | None:
    """The objective, or None if there is no solution (or none found in time)."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return Solved(round(solver.objective_value), status == cp_model.OPTIMAL)


def cpsat_min_devices(items: Sequence[Item], bins: Sequence[Bin], seconds: float,
                      bound: int) -> Solved | None:
    """The fewest devices that hold every item (or the best found within `seconds`)."""
    model, x = _model(items, bins)
    y = [model.new_bool_var(f"y{j}") for j in range(len(bins))]
    for k in range(len(items)):
        model.add_exactly_one(v for (kk, _), v in x.items() if kk == k)
    for (_, j), v in x.items():
        model.add_implication(v, y[j])
    for j in range(1, len(bins)):
        if bins[j].kind == bins[j - 1].kind:
            model.add(y[j] <= y[j - 1])  # interchangeable devices: use the first ones
    model.add(sum(y) >= bound)
    model.minimize(sum(y))
    return _solve(model, seconds)


def cpsat_max_placed(items: Sequence[Item], bins: Sequence[Bin], seconds: float
                     ) -> Solved | None:
    """The most items the devices can hold together."""
    model, x = _model(items, bins)
    for k in range(len(items)):
        model.add_at_most_one(v for (kk, _), v in x.items() if kk == k)
    model.maximize(sum(x.values()))
    return _solve(model, seconds)
