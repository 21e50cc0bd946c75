"""Impedance: the formula's properties, its making from samples, lead times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.health.impedance import SCORE_CAP, Impedance, impedance, send_at

ms = st.floats(min_value=0, max_value=1e6, allow_nan=False)
queue = st.integers(min_value=0, max_value=10_000)
share = st.floats(min_value=0, max_value=1)


def imp(latency: float = 10, processing: float = 50, queue: int = 0, drift: float = 1,
        reliability: float = 1.0) -> Impedance:
    return Impedance(latency, processing, queue, drift, reliability)


def test_formula_worked_example() -> None:
    # 20 + 100 * (1 + 0.1 * 3) + 2 * 5
    assert imp(latency=20, processing=100, queue=3, drift=5).z_ms == pytest.approx(160)
    assert imp(latency=20, processing=100, queue=3, drift=5).score == 160


@given(ms, ms, queue, ms, ms, ms, queue, ms)
def test_z_is_monotone_in_every_input(lat: float, proc: float, q: int, drift: float,
                                      d_lat: float, d_proc: float, d_q: int,
                                      d_drift: float) -> None:
    base = imp(lat, proc, q, drift)
    for worse in (imp(lat + d_lat, proc, q, drift), imp(lat, proc + d_proc, q, drift),
                  imp(lat, proc, q + d_q, drift), imp(lat, proc, q, drift + d_drift)):
        assert worse.z_ms >= base.z_ms
        assert worse.score >= base.score


@given(ms, ms, queue, ms, share)
def test_score_is_bounded(lat: float, proc: float, q: int, drift: float, rel: float) -> None:
    assert 0 <= imp(lat, proc, q, drift, rel).score <= SCORE_CAP


def test_impedance_from_samples() -> None:
    result = impedance([20, 22, 200, 18], [100, 300, 120], queue=2,
                       acks_ready=[True, True, False, True])
    assert result.latency_ms == pytest.approx(10.5)  # median one-way: one slow echo ignored
    assert result.processing_ms == 120
    assert result.queue == 2
    assert result.drift_ms > 30  # the slow echo shows up as drift
    assert result.reliability == 0.75


def test_impedance_without_samples_is_neutral() -> None:
    assert impedance([], [], queue=0, acks_ready=[]) == imp(0, 0, 0, 0, 1.0)


def test_lead_time_lands_every_device_at_the_same_instant() -> None:
    devices = [imp(latency=5), imp(latency=80, queue=4), imp(processing=900, drift=40)]
    target = 100_000.0
    assert [send_at(target, d) + d.z_ms for d in devices] == [target] * 3
    assert send_at(target, devices[2]) < send_at(target, devices[0])

