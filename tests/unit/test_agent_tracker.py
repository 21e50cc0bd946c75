"""The agent's impedance samples: its own echoes, command durations and outcomes."""

from __future__ import annotations

import pytest

from fleet.agent.tracker import MAX_PENDING_ECHOES, Tracker


def test_nothing_measured_is_no_latency_and_full_reliability() -> None:
    imp = Tracker().impedance(queue=0)
    assert (imp.latency_ms, imp.processing_ms, imp.reliability) == (0.0, 0.0, 1.0)


def test_only_our_own_echoes_are_timed() -> None:
    tracker = Tracker()
    tracker.echo_sent("echo-1", 10.0)
    assert not tracker.echo_received("someone-elses-ping", 10.5)
    assert tracker.echo_received("echo-1", 10.004)
    assert not tracker.echo_received("echo-1", 10.009)  # a duplicate (QoS 1) counts once
    assert tracker.impedance(queue=0).latency_ms == pytest.approx(2.0)  # half the round trip


def test_lost_echoes_are_forgotten() -> None:
    tracker = Tracker()
    for n in range(MAX_PENDING_ECHOES + 5):
        tracker.echo_sent(f"echo-{n}", float(n))
    assert not tracker.echo_received("echo-0", 100.0)
    assert tracker.echo_received(f"echo-{MAX_PENDING_ECHOES + 4}", 100.0)


def test_processing_reliability_and_queue() -> None:
    tracker = Tracker(keep=4)
    for duration in (100.0, 300.0, 200.0):
        tracker.finished(ready=True, duration_ms=duration)
    tracker.finished(ready=False)
    imp = tracker.impedance(queue=3)
    assert (imp.processing_ms, imp.reliability, imp.queue) == (200.0, 0.75, 3)
    tracker.finished(ready=False)  # only the last `keep` outcomes count
    assert tracker.impedance(queue=0).reliability == 0.5
