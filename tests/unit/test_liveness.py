"""Liveness: phi accrual, the Last Will, restarts, and the health decision."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.health.impedance import Impedance
from fleet.health.liveness import MIN_INTERVALS, Health, Liveness, phi, state


def imp(latency: float = 10, processing: float = 50, queue: int = 0, drift: float = 1,
        reliability: float = 1.0) -> Impedance:
    return Impedance(latency, processing, queue, drift, reliability)


def beating(times: list[float]) -> Liveness:
    life = Liveness()
    for t in times:
        life.heartbeat(t)
    return life


@pytest.mark.parametrize(("device", "alive", "expected"), [
    (imp(), True, Health.ACTIVE),
    (imp(), False, Health.OFFLINE),
    (imp(reliability=0.4), True, Health.QUARANTINED),
    (imp(reliability=0.4), False, Health.OFFLINE),
    (imp(latency=900), True, Health.DEGRADED),
    (imp(drift=250), True, Health.DEGRADED),
    (imp(latency=790, processing=0, drift=0), True, Health.ACTIVE),
])
def test_device_state(device: Impedance, alive: bool, expected: Health) -> None:
    assert state(device, alive=alive) is expected


def test_phi_grows_with_silence_and_adapts_to_jitter() -> None:
    steady = [5.0] * 20
    jittery = [2.5, 7.5] * 10
    assert phi(steady, 5.0) == pytest.approx(math.log10(2))
    assert phi(steady, 7.0) < phi(steady, 8.0) < phi(steady, 9.0)
    # The same silence is more suspicious from a steady device than a jittery one.
    assert phi(steady, 9.0) > phi(jittery, 9.0)
    assert phi([], 100.0) == 0.0


@given(st.lists(st.floats(min_value=0.01, max_value=60), min_size=1, max_size=50),
       st.floats(min_value=0, max_value=600), st.floats(min_value=0, max_value=600))
def test_phi_is_monotone_in_silence(intervals: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 0 <= phi(intervals, low) <= phi(intervals, high)


def test_intervals_are_the_gaps_between_arrivals() -> None:
    life = beating([0.0, 5.0, 9.0])
    assert (life.last_seen, list(life.intervals)) == (9.0, [5.0, 4.0])


def test_a_newer_heartbeat_stamped_earlier_makes_no_negative_interval() -> None:
    life = beating([0.0, 5.0])
    life.heartbeat(4.9)  # another worker's clock read came a little before
    assert (life.last_seen, list(life.intervals)) == (5.0, [5.0])


def test_a_restart_forgets_the_old_rhythm_and_its_gap_is_no_interval() -> None:
    life = beating([5.0 * k for k in range(MIN_INTERVALS + 2)])
    life.restarted()
    life.heartbeat(100.0)
    life.heartbeat(101.0)
    assert list(life.intervals) == [1.0]
    # Back to the declared interval until phi has enough to go on.
    assert life.alive(101.0 + 2.4, declared_interval_s=1.0)
    assert not life.alive(101.0 + 2.6, declared_interval_s=1.0)


def test_the_last_will_is_offline_until_a_later_heartbeat() -> None:
    life = beating([0.0, 5.0])
    life.presence(False, 5.5)
    assert not life.alive(5.6)
    life.presence(True, 30.0)
    life.heartbeat(30.1)
    assert life.alive(30.2)
    assert list(life.intervals) == [5.0]  # the outage is not an interval


def test_never_heard_is_not_alive() -> None:
    assert not Liveness().alive(0.0)
