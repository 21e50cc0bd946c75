"""Heartbeat assembly from readings: the profile's budgets, problems, and a valid payload."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleet import profiles
from fleet.agent.hardware import parse_throttled
from fleet.agent.heartbeat import Readings, assemble, disk_full
from fleet.agent.readings import Disk, Memory
from fleet.health.impedance import impedance
from fleet.wire import Containers, Gpu, decode_heartbeat, encode
from tests.unit.test_agent_agent import Bus, make

BUDGET = profiles.get("pi4b-8g").budget
IDLE = impedance([], [], 0, [])


def readings(**overrides: object) -> Readings:
    base = Readings(cpu_pct=12.345, load1=0.456, memory=Memory(3700, 24105),
                    disk=Disk(used_mb=9000, total_mb=30000, free_mb=21000))
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_budgets_are_the_profiles_not_the_hosts() -> None:
    beat = assemble(3, 1_795_000_000.5, readings(), BUDGET, IDLE)
    assert (beat.mem_total_mb, beat.mem_budget_mb) == (24105, 7840)
    assert (beat.disk_total_mb, beat.disk_budget_mb) == (30000, BUDGET.disk_mb)
    assert (beat.seq, beat.clock, beat.cpu_pct, beat.load1) == (3, 1_795_000_000.5, 12.3, 0.46)


def test_it_survives_the_wire() -> None:
    beat = assemble(1, 1.0, readings(
        temp_c=48.312, throttled=parse_throttled("0x50005").flags(),
        gpu=Gpu(load_pct=37, power_mw=4100), containers=Containers(running=3, total=5),
        problems=("docker: nothing listens",)), BUDGET, impedance([2.0, 4.0], [120.0], 2, [True]))
    assert decode_heartbeat(encode(beat)) == beat
    assert beat.throttled == ["throttled", "under_voltage", "throttled_since_boot",
                              "under_voltage_since_boot"]
    assert beat.impedance.latency_ms == pytest.approx(1.5) and beat.impedance.queue == 2
    assert beat.temp_c == 48.3


def test_the_run_goes_out_with_every_heartbeat() -> None:
    beat = assemble(1, 1.0, readings(), BUDGET, IDLE, run="5f0c2a9e")
    assert decode_heartbeat(encode(beat)).run == "5f0c2a9e"
    assert assemble(1, 1.0, readings(), BUDGET, IDLE).run is None


def test_each_start_of_the_agent_is_a_new_run_and_its_beats_share_it() -> None:
    first, _, _ = make(Bus())
    again, _, _ = make(Bus())
    beats = [first.tick(), first.tick()]
    assert [b.seq for b in beats] == [1, 2]
    assert beats[0].run == beats[1].run == first.run
    assert first.run != again.run and again.tick().seq == 1


def test_out_of_range_cpu_is_clamped_so_the_controller_accepts_it() -> None:
    beat = assemble(1, 1.0, readings(cpu_pct=100.4), BUDGET, IDLE)
    assert decode_heartbeat(encode(beat)).cpu_pct == 100.0


@pytest.mark.parametrize(("free_mb", "total_mb", "full"), [
    (49, 1000, True),  # under 50 MB
    (50, 1000, False),
    (99, 10_000, True),  # under 1 %
    (100, 10_000, False),
    (400_000, 50_000_000, True),  # 400 GB free of 50 TB is under 1 %
])
def test_disk_full(free_mb: int, total_mb: int, full: bool) -> None:
    disk = Disk(used_mb=total_mb - free_mb, total_mb=total_mb, free_mb=free_mb)
    assert disk_full(disk) == full
    beat = assemble(1, 1.0, readings(disk=disk), BUDGET, IDLE)
    assert ("disk full" in beat.problems) == full
