"""`fleet daemon`'s loop: the controller stepped until told to stop, the fleet's mode logged."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from fleet import daemon
from fleet.health.view import FleetView
from fleet.model import Device
from fleet.ssh.hostkeys import KnownHosts


class Stepping:
    """A controller that asks the loop to stop after `steps` steps."""

    def __init__(self, steps: int, stop: threading.Event) -> None:
        self.view = FleetView(["pi-01", "pi-02"])
        self.steps, self.stop, self.stepped = steps, stop, 0

    def step(self, timeout: float = 0.5) -> None:
        self.stepped += 1
        if self.stepped == self.steps:
            self.stop.set()


def test_it_steps_until_stopped_and_logs_a_summary_each_period(
        caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    controller = Stepping(10, stop)
    ticks = iter(range(0, 1000, 10))  # each reading of the clock is 10 s on
    with caplog.at_level(logging.INFO, logger="fleet.daemon"):
        daemon.serve(controller, stop, summary_s=30, clock=lambda: 1000.0,
                     monotonic=lambda: float(next(ticks)))
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fleet ")]
    assert controller.stepped == 10
    assert len(summaries) == 3  # at 30, 60 and 90 s of the 100 s stepped
    assert summaries[0] == "fleet EMERGENCY: 0/2 active, 0 degraded, 2 offline"


def test_a_stopped_loop_does_not_step() -> None:
    stop = threading.Event()
    stop.set()
    controller = Stepping(1, stop)
    daemon.serve(controller, stop, summary_s=30)
    assert controller.stepped == 0


def test_the_cleaner_refuses_a_policy_with_low_above_high(tmp_path: Path) -> None:
    known = KnownHosts(tmp_path / "known_hosts")
    devices: list[Device] = []
    with pytest.raises(ValueError, match="low"):
        daemon.cleaner(devices, known, high_pct=80, low_pct=85, cooldown_s=600)
    assert daemon.cleaner(devices, known, high_pct=85, low_pct=80, cooldown_s=600).policy \
        .low_pct == 80
