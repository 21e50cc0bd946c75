"""Scorers: small named functions; lower is better, and the weights say what wins over what."""

from __future__ import annotations

from fleet.model import Strategy
from fleet.scheduler.state import Fleet, Need

# Opening an empty device costs more than any fit can gain (fits are 0-3),
# so packing fills used devices first. A degraded device costs a
# latency-sensitive service more than opening a fresh one; full impedance
# (1000) costs half as much.
OPEN_PENALTY = 10.0
DEGRADED_PENALTY = 20.0
IMPEDANCE_WEIGHT = 5.0


def fit_left(n: Need, fleet: Fleet, i: int) -> float:
    """What would be left on the device, over the fleet's largest budget: best fit is least."""
    s = fleet.scale
    return ((fleet.free_mem[i] - n.mem) / s.mem_mb + (fleet.free_disk[i] - n.disk) / s.disk_mb
            + (fleet.free_cpu[i] - n.cpu) / s.cpu_millis)


def opening(n: Need, fleet: Fleet, i: int) -> float:
    return 0.0 if fleet.in_use(i) else OPEN_PENALTY


def impedance(n: Need, fleet: Fleet, i: int) -> float:
    if not n.service.latency_sensitive:
        return 0.0
    state = fleet.states[i]
    return (IMPEDANCE_WEIGHT * min(max(state.impedance, 0.0), 1000.0) / 1000.0
            + (DEGRADED_PENALTY if state.degraded else 0.0))


def crowding(n: Need, fleet: Fleet, i: int) -> float:
    """Replicas of the same service already there (when more than one is allowed)."""
    return float(fleet.count[i].get(n.name, 0))


def score(n: Need, fleet: Fleet, i: int) -> float:
    if n.service.strategy is Strategy.SPREAD:
        return -fit_left(n, fleet, i) + OPEN_PENALTY * crowding(n, fleet, i) + impedance(
            n, fleet, i)
    return fit_left(n, fleet, i) + opening(n, fleet, i) + impedance(n, fleet, i)
