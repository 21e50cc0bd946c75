"""The planner's working state: each device's free resources, ports and replicas; copyable.

Values in fleet are frozen; this is the one mutable structure, private to
the scheduler, kept as parallel lists because the hot path reads it
100,000 times a second.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.model import DeviceState, PortBinding, PortRange, PortWant, Resources, Service

# A containerd shim (containerd-shim-runc-v2) holds about 6 MB RSS per running
# container on arm64, on top of whatever the container itself uses; 136
# containers pay 0.8 GB for shims alone, so the planner counts it.
OVERHEAD_MB = 6

PROTOCOL_OFFSET = {"tcp": 0, "udp": 65536, "sctp": 2 * 65536}


def port_code(port: int, protocol: str) -> int:
    """One int per (port, protocol), so a device's taken ports are a set of ints."""
    return port + PROTOCOL_OFFSET.get(protocol, 0)


def need_of(service: Service) -> Resources:
    """What one replica costs a device: its request plus the per-container overhead."""
    return service.request + Resources(mem_mb=OVERHEAD_MB)


@dataclass(frozen=True, slots=True)
class Need:
    """A service, precomputed for placement: its cost, ports and size key."""

    service: Service
    order: int  # its place in the stack, for deterministic ties
    mem: int
    disk: int
    cpu: int
    fixed: tuple[tuple[int, PortBinding], ...]
    alloc: tuple[tuple[PortWant, PortRange], ...]
    key: float  # size over the fleet's largest budget, summed over dimensions
    static: tuple[object, ...]  # what the static checks read of the service

    @property
    def name(self) -> str:
        return self.service.name


def make_need(service: Service, order: int, scale: Resources) -> Need:
    cost = need_of(service)
    fixed = tuple((port_code(w.host, w.protocol), PortBinding(w.host, w.container, w.protocol))
                  for w in service.ports if w.host is not None)
    alloc = tuple((w, r) for w in service.ports if w.host is None
                  for r in (w.range or service.port_range,) if r is not None)
    return Need(service, order, cost.mem_mb, cost.disk_mb, cost.cpu_millis, fixed, alloc,
                norm(cost, scale), (service.archs, service.gpu, service.constraints,
                                    service.mem_limit_mb, service.cpu_limit_millis))


def norm(r: Resources, scale: Resources) -> float:
    return r.mem_mb / scale.mem_mb + r.disk_mb / scale.disk_mb + r.cpu_millis / scale.cpu_millis


def fleet_scale(states: Sequence[DeviceState]) -> Resources:
    """The largest budget per dimension (at least 1), to weigh dimensions alike."""
    budgets = [s.device.budget for s in states]
    return Resources(max([b.mem_mb for b in budgets] + [1]),
                     max([b.disk_mb for b in budgets] + [1]),
                     max([b.cpu_millis for b in budgets] + [1]))


Unit = tuple[int, int]  # (index into needs, replica)


class Fleet:
    """Free resources, taken ports and replicas per device, by device index."""

    __slots__ = ("binds", "count", "free_cpu", "free_disk", "free_mem", "held", "pinned",
                 "ports", "rank", "scale", "states")

    def __init__(self, states: Sequence[DeviceState], seed: int) -> None:
        self.states = tuple(states)
        self.scale = fleet_scale(self.states)
        free = [s.device.budget - s.used for s in self.states]
        self.free_mem = [f.mem_mb for f in free]
        self.free_disk = [f.disk_mb for f in free]
        self.free_cpu = [f.cpu_millis for f in free]
        self.ports = [{port_code(p, proto) for p, proto in s.ports_taken} for s in self.states]
        self.count: list[dict[str, int]] = [{} for _ in self.states]
        self.held: list[list[Unit]] = [[] for _ in self.states]
        self.binds: dict[Unit, tuple[int, tuple[PortBinding, ...]]] = {}
        # Devices whose replicas stay put (kept from `running`, or with outside use).
        self.pinned = [s.used != Resources() or bool(s.ports_taken) for s in self.states]
        # Ties between equal devices: inventory order, or a shuffle if a seed is given.
        order = list(range(len(self.states)))
        if seed:
            random.Random(seed).shuffle(order)
        self.rank = [0] * len(order)
        for r, i in enumerate(order):
            self.rank[i] = r

    def copy(self) -> Fleet:
        new = Fleet.__new__(Fleet)
        new.states, new.scale, new.rank = self.states, self.scale, self.rank
        new.free_mem, new.free_disk = self.free_mem[:], self.free_disk[:]
        new.free_cpu, new.pinned = self.free_cpu[:], self.pinned[:]
        new.ports = [set(p) for p in self.ports]
        new.count = [dict(c) for c in self.count]
        new.held = [h[:] for h in self.held]
        new.binds = dict(self.binds)
        return new

    def key(self, i: int) -> float:
        s = self.scale
        return (self.free_mem[i] / s.mem_mb + self.free_disk[i] / s.disk_mb
                + self.free_cpu[i] / s.cpu_millis)

    def in_use(self, i: int) -> bool:
        return bool(self.held[i]) or self.pinned[i]

    def add(self, unit: Unit, n: Need, i: int, bindings: tuple[PortBinding, ...]) -> None:
        self.free_mem[i] -= n.mem
        self.free_disk[i] -= n.disk
        self.free_cpu[i] -= n.cpu
        ports = self.ports[i]
        for b in bindings:
            ports.add(port_code(b.host, b.protocol))
        count = self.count[i]
        count[n.name] = count.get(n.name, 0) + 1
        self.held[i].append(unit)
        self.binds[unit] = (i, bindings)

    def remove(self, unit: Unit, n: Need) -> int:
        i, bindings = self.binds.pop(unit)
        self.free_mem[i] += n.mem
        self.free_disk[i] += n.disk
        self.free_cpu[i] += n.cpu
        for b in bindings:
            self.ports[i].discard(port_code(b.host, b.protocol))
        self.count[i][n.name] -= 1
        self.held[i].remove(unit)
        return i
