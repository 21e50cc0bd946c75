"""The controller's view: liveness from Last Will and phi accrual, health, and the fleet mode."""

from __future__ import annotations

import random

import pytest

from fleet.health.liveness import Health
from fleet.health.view import FleetView, Mode, mode
from fleet.lan.advert import Advert
from fleet.lan.sightings import DeviceSeen
from fleet.model import Arch
from fleet.wire import State, WireImpedance
from tests.kit import heartbeat

ONLINE, OFFLINE = State(v=1, state="online"), State(v=1, state="offline")


def beating(times: list[float], device: str = "pi-01") -> FleetView:
    view = FleetView([device])
    for k, t in enumerate(times):
        view.heartbeat(device, heartbeat(seq=k), t)
    return view


@pytest.mark.parametrize(("active", "total", "expected"), [
    (100, 100, Mode.FULL), (95, 100, Mode.FULL), (94, 100, Mode.DEGRADED_LIGHT),
    (80, 100, Mode.DEGRADED_LIGHT), (79, 100, Mode.DEGRADED_MODERATE),
    (60, 100, Mode.DEGRADED_MODERATE), (59, 100, Mode.DEGRADED_SEVERE),
    (30, 100, Mode.DEGRADED_SEVERE), (29, 100, Mode.EMERGENCY), (0, 6, Mode.EMERGENCY),
    (0, 0, Mode.FULL),
])
def test_mode_follows_the_share_of_active_devices(active: int, total: int, expected: Mode) -> None:
    assert mode(active, total) is expected


def test_regular_heartbeats_go_offline_within_two_and_a_half_intervals() -> None:
    view = beating([5.0 * k for k in range(20)])
    last = 95.0
    assert view.health(last + 6.0)["pi-01"] is Health.ACTIVE
    offline_after = next(s / 10 for s in range(0, 200) if
                         view.health(last + s / 10)["pi-01"] is Health.OFFLINE)
    assert 6.0 < offline_after <= 2.5 * 5.0


def test_jitter_of_half_an_interval_is_never_taken_for_a_dead_device() -> None:
    rng = random.Random(7)
    times = [0.0]
    for _ in range(200):
        times.append(times[-1] + 5.0 * rng.uniform(0.5, 1.5))
    view = FleetView(["pi-01"])
    for k, t in enumerate(times):
        if k >= 10:  # just before each arrival, the device must still count as alive
            assert view.health(t - 1e-3)["pi-01"] is Health.ACTIVE, k
        view.heartbeat("pi-01", heartbeat(seq=k), t)


def test_the_last_will_takes_a_device_offline_at_once_and_a_heartbeat_brings_it_back() -> None:
    view = beating([0.0, 5.0, 10.0, 15.0])
    view.presence("pi-01", OFFLINE, 15.2)
    assert view.health(15.3)["pi-01"] is Health.OFFLINE
    view.presence("pi-01", ONLINE, 40.0)
    view.heartbeat("pi-01", heartbeat(seq=4), 40.1)  # the same run of the agent, reconnected
    assert view.health(40.2)["pi-01"] is Health.ACTIVE
    assert max(view.devices["pi-01"].intervals) == 5.0  # the outage is not an interval


def test_a_restarted_agent_is_taken_at_seq_1_and_its_old_runs_stragglers_are_not() -> None:
    view = FleetView(["pi-01"])
    for k in range(1, 13):
        view.heartbeat("pi-01", heartbeat(seq=k, run="a"), 5.0 * k)
    assert view.heartbeat("pi-01", heartbeat(seq=1, run="b", interval_s=1.0), 70.0)
    assert not view.heartbeat("pi-01", heartbeat(seq=13, run="a"), 70.1)
    assert view.heartbeat("pi-01", heartbeat(seq=2, run="b", interval_s=1.0), 71.0)
    r = view.devices["pi-01"]
    assert r.heartbeat == heartbeat(seq=2, run="b", interval_s=1.0)
    assert (r.restarts, r.stale, r.last_seen, list(r.intervals)) == (1, 1, 71.0, [1.0])
    # The new run's own interval decides until phi has enough: 1 s, not the old run's 5 s.
    assert view.health(73.4)["pi-01"] is Health.ACTIVE
    assert view.health(73.6)["pi-01"] is Health.OFFLINE


def test_a_new_device_is_judged_by_its_declared_interval_until_phi_has_enough() -> None:
    view = FleetView(["pi-01", "old"])
    view.heartbeat("pi-01", heartbeat(interval_s=1.0), 0.0)
    view.heartbeat("old", heartbeat(), 0.0)  # an agent that declares none: 5 s assumed
    assert view.health(2.4) == {"pi-01": Health.ACTIVE, "old": Health.ACTIVE}
    assert view.health(2.6) == {"pi-01": Health.OFFLINE, "old": Health.ACTIVE}
    assert view.health(12.6)["old"] is Health.OFFLINE
    assert FleetView(["never"]).health(0.0)["never"] is Health.OFFLINE


def test_impedance_decides_degraded_and_quarantined() -> None:
    view = FleetView()
    view.heartbeat("slow", heartbeat(impedance=WireImpedance(400, 500, 0, 1, 1.0)), 1.0)
    view.heartbeat("flaky", heartbeat(impedance=WireImpedance(5, 20, 0, 1, 0.3)), 1.0)
    assert view.health(2.0) == {"slow": Health.DEGRADED, "flaky": Health.QUARANTINED}
    assert not view.devices["slow"].expected


def test_bad_payloads_are_counted_per_device_and_reordered_ones_ignored() -> None:
    view = beating([0.0, 5.0])
    view.bad("pi-01", "bad heartbeat: truncated", 6.0)
    view.bad("pi-01", "bad heartbeat: schema version 2", 7.0)
    view.heartbeat("pi-01", heartbeat(seq=0), 4.0)
    record = view.devices["pi-01"]
    assert (record.bad, record.last_bad) == (2, "bad heartbeat: schema version 2")
    assert record.last_seen == 5.0 and list(record.intervals) == [5.0]
    assert record.heartbeat == heartbeat(seq=1)


def test_order_is_the_agents_seq_not_the_arrival() -> None:
    """Two workers: seq 3 is applied before seq 2, though seq 2 arrived (was stamped) first."""
    view = FleetView(["pi-01"])
    assert view.heartbeat("pi-01", heartbeat(seq=1, run="a"), 0.0)
    assert view.heartbeat("pi-01", heartbeat(seq=3, run="a"), 10.0)
    assert not view.heartbeat("pi-01", heartbeat(seq=2, run="a"), 5.0)
    assert not view.heartbeat("pi-01", heartbeat(seq=3, run="a"), 10.0)  # delivered twice
    record = view.devices["pi-01"]
    assert record.heartbeat == heartbeat(seq=3, run="a")
    assert (record.stale, record.last_seen, list(record.intervals)) == (2, 10.0, [10.0])


def test_summary_counts_each_state_and_names_the_mode() -> None:
    view = FleetView(["pi-01", "gone", "lost"])
    view.heartbeat("pi-01", heartbeat(), 5.0)
    view.heartbeat("slow", heartbeat(impedance=WireImpedance(400, 500, 0, 1, 1.0)), 5.0)
    s = view.summary(6.0)
    assert (s.total, s.active, s.degraded, s.offline, s.quarantined) == (4, 1, 1, 2, 0)
    assert s.mode is Mode.EMERGENCY  # 1 of 4 active: under 30 %


def seen(device: str, enrolled: bool = True) -> DeviceSeen:
    advert = Advert(id=device, profile="pi4b-8g", model="Pi 4", arch=Arch.ARM64, mem_mb=8192,
                    storage_mb=29917, gpu="", agent="0.1.0", host=device) if enrolled else None
    return DeviceSeen(device, f"{device}.local", ("10.0.0.5",), 22, advert, "test")


def test_a_board_found_on_the_lan_is_unmanaged_and_not_counted_until_it_speaks() -> None:
    view = FleetView(["pi-01"])
    view.seen_on_lan(seen("raspberrypi", enrolled=False), 1.0)
    r = view.devices["raspberrypi"]
    assert (r.managed, r.on_lan, r.health(1.0)) == (False, True, Health.OFFLINE)
    assert view.summary(1.0).total == 1  # pi-01 only
    view.heartbeat("raspberrypi", heartbeat(), 2.0)
    assert view.summary(2.0).total == 2


def test_leaving_mdns_is_noted_but_only_heartbeats_decide_offline() -> None:
    view = beating([0.0, 5.0, 10.0])
    view.seen_on_lan(seen("pi-01"), 10.0)
    assert view.devices["pi-01"].on_lan is True
    view.gone_from_lan("pi-01", 11.0)
    r = view.devices["pi-01"]
    assert r.on_lan is False and r.managed
    assert r.health(12.0) is Health.ACTIVE  # still heartbeating: alive
    view.seen_on_lan(seen("pi-01"), 13.0)
    assert view.devices["pi-01"].on_lan is True


def test_a_device_never_seen_on_the_lan_says_so() -> None:
    view = beating([0.0])
    assert view.devices["pi-01"].on_lan is None
    view.gone_from_lan("pi-01", 1.0)  # a goodbye for a sighting never had: nothing to note
    assert view.devices["pi-01"].on_lan is None
