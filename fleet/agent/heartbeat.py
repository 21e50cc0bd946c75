"""A heartbeat from one round of readings: pure, so every field can be tested without a board."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.agent.readings import Disk, Memory
from fleet.health.impedance import Impedance
from fleet.model import Resources
from fleet.wire import SCHEMA, Containers, Gpu, Heartbeat, WireImpedance

# Below either, a board can no longer pull an image or write its logs.
DISK_FULL_PCT = 1.0
DISK_FULL_MB = 50
MODEL_CHARS = 128  # the wire's limit


@dataclass(frozen=True, slots=True)
class Readings:
    """What the agent measured this round; None where the board has no such sensor."""

    cpu_pct: float
    load1: float
    memory: Memory
    disk: Disk
    temp_c: float | None = None  # the main one of temps
    temps: dict[str, float] = field(default_factory=dict)  # every sensor, by name
    throttled: tuple[str, ...] | None = None
    gpu: Gpu | None = None
    containers: Containers | None = None  # None: dockerd did not answer
    model: str | None = None  # what the board says it is
    problems: tuple[str, ...] = field(default_factory=tuple)


def disk_full(disk: Disk) -> bool:
    """Too little left to work with; a disk not measured (total 0) is unknown, not full."""
    low = disk.free_mb < DISK_FULL_MB or disk.free_mb * 100 < disk.total_mb * DISK_FULL_PCT
    return disk.total_mb > 0 and low


def wire_impedance(imp: Impedance) -> WireImpedance:
    return WireImpedance(latency_ms=round(imp.latency_ms, 2),
                         processing_ms=round(imp.processing_ms, 2), queue=imp.queue,
                         drift_ms=round(imp.drift_ms, 2), reliability=round(imp.reliability, 3))


def assemble(seq: int, clock: float, readings: Readings, budget: Resources,
             imp: Impedance, interval_s: float | None = None, run: str | None = None) -> Heartbeat:
    """The heartbeat for these readings; budgets are the profile's, not what the host has.

    `run` names this run of the agent, so the controller can tell a restart (seq
    back to 1) from a late heartbeat of the run before.
    """
    problems = list(readings.problems)
    if disk_full(readings.disk):
        problems.append("disk full")
    return Heartbeat(
        v=SCHEMA, seq=seq, clock=clock,
        # Rounded: the payload goes out every few seconds from every board.
        cpu_pct=round(min(100.0, max(0.0, readings.cpu_pct)), 1),
        load1=round(max(0.0, readings.load1), 2),
        mem_used_mb=readings.memory.used_mb, mem_total_mb=readings.memory.total_mb,
        mem_budget_mb=budget.mem_mb,
        disk_used_mb=readings.disk.used_mb, disk_total_mb=readings.disk.total_mb,
        disk_budget_mb=budget.disk_mb,
        impedance=wire_impedance(imp),
        temp_c=None if readings.temp_c is None else round(readings.temp_c, 1),
        throttled=None if readings.throttled is None else list(readings.throttled),
        gpu=readings.gpu, containers=readings.containers, problems=problems,
        interval_s=interval_s, run=run, model=readings.model and readings.model[:MODEL_CHARS],
        temps_c={name: round(t, 1) for name, t in readings.temps.items()} or None,
    )
