"""Impedance from a device's measurements: pure, no IO, no clock.

Impedance is the predicted time from sending a command to a device until it
has taken effect there (DESIGN section 5):

    Z_ms = latency + processing(kind) * (1 + 0.1 * queue) + K_DRIFT * drift

- latency: one-way, half the median echo round trip (the median, so one
  slow echo does not move it);
- processing(kind): the median time the agent took for recent commands of
  that kind (a container start is heavy, a ping light);
- queue: commands waiting in the agent's queue, each slowing the next by a
  tenth of its processing time;
- drift: the standard deviation of one-way latency; K_DRIFT of them are added
  so that a jittery link is budgeted for its slow moments, not its average.

The 0-1000 score is Z in milliseconds, capped. Z grows with every input, and
the score with it until the cap: the property tests check both.

Liveness is separate (a device can be slow and alive): fleet.health.liveness,
which also decides a device's health from both. This module stays light: the
agent imports it to report its own impedance.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

K_DRIFT = 2.0
QUEUE_FACTOR = 0.1
SCORE_CAP = 1000


@dataclass(frozen=True, slots=True)
class Impedance:
    """A device's impedance for one kind of command, and what it was made of."""

    latency_ms: float
    processing_ms: float
    queue: int
    drift_ms: float
    reliability: float

    @property
    def z_ms(self) -> float:
        return (self.latency_ms + self.processing_ms * (1 + QUEUE_FACTOR * self.queue)
                + K_DRIFT * self.drift_ms)

    @property
    def score(self) -> int:
        return min(SCORE_CAP, math.ceil(self.z_ms))


def impedance(round_trips_ms: Sequence[float], processing_ms: Sequence[float], queue: int,
              acks_ready: Sequence[bool]) -> Impedance:
    """Impedance from echo round trips, processing times of one kind, queue depth and acks.

    No round trip yet means no latency known (0); no ack yet means no
    evidence against the device (reliability 1).
    """
    one_way = [rtt / 2 for rtt in round_trips_ms]
    return Impedance(
        latency_ms=statistics.median(one_way) if one_way else 0.0,
        processing_ms=statistics.median(processing_ms) if processing_ms else 0.0,
        queue=max(0, queue),
        drift_ms=statistics.pstdev(one_way) if len(one_way) > 1 else 0.0,
        reliability=sum(acks_ready) / len(acks_ready) if acks_ready else 1.0,
    )


def send_at(target_ms: float, imp: Impedance) -> float:
    """When to send a command so that it takes effect at `target_ms`: the lead time."""
    return target_ms - imp.z_ms

