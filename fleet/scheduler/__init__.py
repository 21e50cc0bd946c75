"""PURE placement of a stack's replicas onto devices: filter, score, pick; imports fleet.model only.

    plan(devices, services, *, running=(), now=0.0, seed=0) -> Plan
    what_if(devices, [(profile, count), ...]) -> devices plus imaginary ones
    need(profile, devices, services) -> fewest extra devices of a profile to place all
    volume_bound(budgets, demands) -> the per-dimension lower bound on devices used
    need_of(service) -> what one replica costs a device (request + OVERHEAD_MB)
"""

from __future__ import annotations

from fleet.scheduler.checks import CHECKS
from fleet.scheduler.plan import need, plan, volume_bound, what_if
from fleet.scheduler.state import OVERHEAD_MB, need_of

__all__ = ["CHECKS", "OVERHEAD_MB", "need", "need_of", "plan", "volume_bound", "what_if"]
