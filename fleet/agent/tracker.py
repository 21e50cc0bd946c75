"""The agent's own impedance samples: echo round trips, command durations and outcomes.

Shared by paho's thread (echoes), the worker (durations) and the heartbeat
loop (reads), hence the lock; times are passed in, so tests need no clock.
"""

from __future__ import annotations

import threading
from collections import deque

from fleet.health.impedance import Impedance, impedance

KEEP = 20
# Echoes lost while the broker was away are forgotten, not kept forever.
MAX_PENDING_ECHOES = 8


class Tracker:
    def __init__(self, keep: int = KEEP) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self._round_trips: deque[float] = deque(maxlen=keep)
        self._durations: deque[float] = deque(maxlen=keep)
        self._outcomes: deque[bool] = deque(maxlen=keep)

    def echo_sent(self, command_id: str, at: float) -> None:
        with self._lock:
            self._pending[command_id] = at
            while len(self._pending) > MAX_PENDING_ECHOES:
                del self._pending[next(iter(self._pending))]

    def echo_received(self, command_id: str, at: float) -> bool:
        """Record the round trip if `command_id` is one of our echoes; say whether it was."""
        with self._lock:
            sent = self._pending.pop(command_id, None)
            if sent is None:
                return False
            self._round_trips.append(max(0.0, (at - sent) * 1000))
            return True

    def finished(self, *, ready: bool, duration_ms: float | None = None) -> None:
        """A non-ping command's final ack; a refused one has no duration."""
        with self._lock:
            self._outcomes.append(ready)
            if duration_ms is not None:
                self._durations.append(duration_ms)

    def impedance(self, queue: int) -> Impedance:
        with self._lock:
            return impedance(list(self._round_trips), list(self._durations), queue,
                             list(self._outcomes))
