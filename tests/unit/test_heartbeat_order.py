"""A device's newest heartbeat by its agent's run and seq, whatever the order they arrive in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.health.order import RETIRED_KEPT, RETIRED_SLACK, Position, Verdict, judge
from fleet.wire import Heartbeat
from tests.kit import heartbeat

NEWER, RESTART, STALE = Verdict.NEWER, Verdict.RESTART, Verdict.STALE


def beat(run: str | None, seq: int, clock: float = 100.0) -> Heartbeat:
    return heartbeat(run=run, seq=seq, clock=clock)


def replay(beats: list[Heartbeat]) -> tuple[list[Verdict], Position | None]:
    verdicts, newest = [], None
    for hb in beats:
        verdict, newest = judge(newest, hb)
        verdicts.append(verdict)
    return verdicts, newest


A, B = "run-a", "run-b"
CASES = {
    "in order": ([beat(A, 1), beat(A, 2), beat(A, 3)], [NEWER, NEWER, NEWER], (A, 3)),
    "reordered": ([beat(A, 1), beat(A, 3), beat(A, 2)], [NEWER, NEWER, STALE], (A, 3)),
    "duplicate": ([beat(A, 1), beat(A, 2), beat(A, 2)], [NEWER, NEWER, STALE], (A, 2)),
    "restart": ([beat(A, 40), beat(B, 1), beat(B, 2)], [NEWER, RESTART, NEWER], (B, 2)),
    "old run's straggler after a restart":
        ([beat(A, 40), beat(B, 1), beat(A, 41), beat(B, 2)], [NEWER, RESTART, STALE, NEWER],
         (B, 2)),
    "a retired run that beats on was the live one":
        ([beat(B, 1), beat(A, 40), *(beat(B, s) for s in range(2, 3 + RETIRED_SLACK))],
         [NEWER, RESTART, *[STALE] * RETIRED_SLACK, RESTART], (B, 2 + RETIRED_SLACK)),
    "no run: a lower seq at an earlier clock is late":
        ([beat(None, 5, 100.0), beat(None, 4, 95.0)], [NEWER, STALE], (None, 5)),
    "no run: a lower seq at a later clock is a restart":
        ([beat(None, 5, 100.0), beat(None, 1, 130.0)], [NEWER, RESTART], (None, 1)),
    "an agent upgraded to one that names its runs":
        ([beat(None, 5), beat(A, 1), beat(None, 6)], [NEWER, RESTART, STALE], (A, 1)),
}


@pytest.mark.parametrize(("beats", "verdicts", "newest"), CASES.values(), ids=CASES.keys())
def test_verdicts(beats: list[Heartbeat], verdicts: list[Verdict],
                  newest: tuple[str | None, int]) -> None:
    got, position = replay(beats)
    assert got == verdicts
    assert position is not None and (position.run, position.seq) == newest


def test_only_the_latest_runs_are_remembered() -> None:
    runs = [f"run-{k}" for k in range(RETIRED_KEPT + 2)]
    _, newest = replay([beat(run, 1) for run in runs])
    assert newest is not None
    assert [run for run, _ in newest.retired] == runs[-2::-1][:RETIRED_KEPT]


@given(st.permutations(range(1, 21)))
def test_any_arrival_order_of_a_run_leaves_its_highest_seq_newest(seqs: list[int]) -> None:
    verdicts, newest = replay([beat(A, s) for s in seqs])
    assert newest is not None and (newest.run, newest.seq) == (A, 20)
    # Each accepted heartbeat is higher than every one before it: a running maximum.
    assert verdicts.count(NEWER) == sum(s > max(seqs[:k], default=0) for k, s in enumerate(seqs))
    assert RESTART not in verdicts


@given(st.lists(st.integers(min_value=0, max_value=100 + RETIRED_SLACK), max_size=20),
       st.integers(min_value=1, max_value=5))
def test_after_a_restart_the_old_runs_late_heartbeats_never_take_over(
        late: list[int], restarted_at: int) -> None:
    """The new run is heard once; then any of the old run's heartbeats, in any order, come late."""
    beats = [beat(A, 100), beat(B, restarted_at), *(beat(A, s) for s in late)]
    verdicts, newest = replay(beats)
    assert newest is not None and (newest.run, newest.seq) == (B, restarted_at)
    assert verdicts[2:] == [STALE] * len(late)
