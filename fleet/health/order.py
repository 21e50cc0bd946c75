"""Which of a device's heartbeats is its newest: by the agent's run and seq, never by arrival.

Two ingest workers hand over their batches in any order, so a heartbeat can
be applied after a newer one from the same device. Arrival time cannot tell
them apart; the agent's own numbering can:

- within one run of the agent (the heartbeat's `run`), the higher seq is newer;
  a lower or equal one is stale (late, or delivered twice);
- a run not heard before is a restart: its seq starts again at 1. The run it
  replaced is retired, and that run's late heartbeats are stale from then on,
  since an agent's runs follow one another;
- unless a retired run beats on well past where it stopped (more than
  RETIRED_SLACK beyond), which only a live agent does: then the run taken
  for its successor was an older one's straggler heard first (a controller
  that started mid-restart), and the live run is taken back;
- an agent older than `run` sends none: its heartbeats form one run of their
  own, and a lower seq is a restart only if the agent's clock has moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fleet.wire import Heartbeat

RETIRED_SLACK = 3  # heartbeats a stopped run may still have in flight, lost ones included
RETIRED_KEPT = 4  # runs remembered per device, newest first


class Verdict(StrEnum):
    NEWER = "newer"  # later in the same run: the device's newest now
    RESTART = "restart"  # the first heard of a new run: the newest, and the old run is over
    STALE = "stale"  # older than the newest, or the same again: changes nothing


@dataclass(frozen=True, slots=True)
class Position:
    """A device's newest heartbeat's place, and the runs it replaced with the seq each reached."""

    run: str | None
    seq: int
    clock: float  # the agent's clock then: only for agents that send no run
    retired: tuple[tuple[str | None, int], ...] = ()


def position(hb: Heartbeat) -> Position:
    return Position(hb.run, hb.seq, hb.clock)


def judge(newest: Position | None, hb: Heartbeat) -> tuple[Verdict, Position]:
    """Where `hb` stands against the device's newest heartbeat, and the newest after it."""
    if newest is None:
        return Verdict.NEWER, position(hb)
    if hb.run == newest.run:
        if hb.seq > newest.seq:
            return Verdict.NEWER, Position(hb.run, hb.seq, hb.clock, newest.retired)
        if hb.run is None and hb.clock > newest.clock:
            return Verdict.RESTART, Position(None, hb.seq, hb.clock, newest.retired)
        return Verdict.STALE, newest
    stopped_at = dict(newest.retired).get(hb.run)
    if stopped_at is not None and hb.seq <= stopped_at + RETIRED_SLACK:
        return Verdict.STALE, newest
    return Verdict.RESTART, _restart(newest, hb)


def _restart(newest: Position, hb: Heartbeat) -> Position:
    others = tuple((run, seq) for run, seq in newest.retired if run != hb.run)
    retired = ((newest.run, newest.seq), *others)[:RETIRED_KEPT]
    return Position(hb.run, hb.seq, hb.clock, retired)
