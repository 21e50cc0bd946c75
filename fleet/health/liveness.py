"""Whether a device is alive, and its health from that and its impedance: pure, no IO, no clock.

Liveness follows DESIGN section 5, apart from impedance (a device can be
slow and alive):

- a closed connection: the broker publishes the agent's `offline` Last Will,
  and the device is offline until it heartbeats again;
- a silent one (frozen, partitioned): phi accrual over the device's own
  heartbeat intervals passes PHI_OFFLINE. With regular 5 s heartbeats that is
  about 7.8 s after the last one; a device whose intervals jitter by +-50 %
  gets about 13 s, longer than any interval it has shown, so it is not
  called dead for being irregular.
- until a device has MIN_INTERVALS intervals on record, phi has too little to
  go on (three intervals that happen to be alike make a narrow bell that the
  next slow one falls outside: the liveness bench saw it), so silence past
  STARTUP_SILENCE of the interval its agent declares (or DEFAULT_INTERVAL_S)
  counts as offline.

Only heartbeats taken as the device's newest (fleet.health.order) are
intervals: a late or repeated one says nothing new about when it was alive.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from fleet.health.impedance import Impedance

PHI_OFFLINE = 8.0
MIN_INTERVALS = 10
STARTUP_SILENCE = 2.5
DEFAULT_INTERVAL_S = 5.0
INTERVALS_KEPT = 50
QUARANTINE_RELIABILITY = 0.5
DEGRADED_SCORE = 800
DEGRADED_DRIFT_MS = 200.0


class Health(StrEnum):
    ACTIVE = "active"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    QUARANTINED = "quarantined"


def state(imp: Impedance, *, alive: bool) -> Health:
    """Offline if liveness says so; quarantined if it fails half its commands; degraded if slow."""
    if not alive:
        return Health.OFFLINE
    if imp.reliability < QUARANTINE_RELIABILITY:
        return Health.QUARANTINED
    if imp.score > DEGRADED_SCORE or imp.drift_ms > DEGRADED_DRIFT_MS:
        return Health.DEGRADED
    return Health.ACTIVE


def phi(intervals_s: Sequence[float], since_last_s: float, *,
        min_std_ratio: float = 0.1) -> float:
    """Suspicion that a device is gone, from its heartbeat intervals and the current silence.

    phi = -log10(P(the next heartbeat comes later than now)), with the
    intervals taken as normally distributed. phi 1 means a 10 % chance the
    device is merely late, phi 3 a 0.1 % chance. The standard deviation is
    kept at least `min_std_ratio` of the mean, so a perfectly regular device
    is not declared dead a millisecond after it is due.
    """
    if not intervals_s:
        return 0.0
    mean = statistics.fmean(intervals_s)
    std = max(statistics.pstdev(intervals_s), mean * min_std_ratio, 1e-6)
    later = 0.5 * math.erfc((since_last_s - mean) / (std * math.sqrt(2)))
    return -math.log10(later) if later > 0 else math.inf


@dataclass(slots=True)
class Liveness:
    """One device's signs of life: when its newest heartbeats arrived, and its Last Will."""

    last_seen: float | None = None  # arrival of its newest heartbeat
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=INTERVALS_KEPT))
    will_at: float | None = None  # when its Last Will came, until it is back online
    gap: bool = False  # its next heartbeat ends a gap that is not an interval

    def heartbeat(self, at: float) -> None:
        """A heartbeat newer than any before it arrived at `at`."""
        last = self.last_seen
        if last is not None and not self.gap and at > last:
            self.intervals.append(at - last)
        # Two workers stamp arrivals apart: a newer heartbeat may carry an earlier time.
        self.last_seen = at if last is None else max(last, at)
        self.gap = False

    def restarted(self) -> None:
        """The agent started again: its old run's rhythm (and configured interval) is gone."""
        self.intervals.clear()
        self.gap = True

    def presence(self, online: bool, at: float) -> None:
        self.will_at = None if online else at
        if not online:
            self.gap = True

    def alive(self, now: float, declared_interval_s: float | None = None) -> bool:
        if self.last_seen is None:
            return False
        if self.will_at is not None and self.will_at >= self.last_seen:
            return False  # the Last Will came after its last heartbeat
        silence = now - self.last_seen
        if len(self.intervals) < MIN_INTERVALS:
            return silence <= STARTUP_SILENCE * (declared_interval_s or DEFAULT_INTERVAL_S)
        return phi(self.intervals, silence) < PHI_OFFLINE
