"""The controller's view of a lab fleet: agent images heartbeating from device dockerds.

Covers issue 3's "done when": heartbeats arrive from the agent images, a
killed agent goes offline (its Last Will), a frozen one too (phi accrual),
and a garbage payload is counted and dropped.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet.bus.ingest import Ingest
from fleet.health.liveness import MIN_INTERVALS, Health
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.lab import agents
from fleet.model import Broker
from tests.integration.conftest import AGENTS, INTERVAL
from tests.integration.lablib import Lab

BROKER = Broker("10.251.0.1", 1883)
DEVICES = list(AGENTS)


@pytest.fixture
def watch(lab: Lab, tmp_path: Path) -> Iterator[tuple[Ingest, FleetView]]:
    """The controller's ingest, with two worker processes on a shared subscription."""
    view = FleetView(DEVICES)
    with Store(tmp_path / "fleet.db") as store, \
            Ingest(BROKER, view, store, workers=2, flush_s=0.5) as ingest:
        yield ingest, view


def wait_for(ingest: Ingest, condition: Callable[[], bool], timeout: float) -> float:
    """Poll the ingest until `condition()` holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        ingest.poll(0.02)
    return time.monotonic() - started


def health(view: FleetView, device: str) -> Health:
    return view.devices[device].health(time.time())


def beats(view: FleetView, device: str) -> int:
    return len(view.devices[device].intervals)


def test_status_shows_both_agents_active_with_their_profiles_budgets(lab: Lab) -> None:
    done = lab.fleet("status", "--json", "--inventory", str(lab.spec.inventory))
    document = json.loads(done.stdout)
    devices = {d["id"]: d for d in document["devices"]}
    assert [devices[i]["state"] for i in DEVICES] == ["active"] * len(DEVICES)
    assert (devices["itest-01"]["mem_budget_mb"], devices["itest-02"]["mem_budget_mb"]) == \
        (7840, 7240)  # the profiles' budgets, not this host's 24 GB
    for d in devices.values():
        assert 0 < d["mem_used_mb"] < 512  # the device's own cgroup: its agent and little else
        assert 0 < d["disk_used_mb"] < d["disk_budget_mb"]  # its own card, not the host disk
        assert d["containers"]["running"] >= 1  # the agent itself
        assert 0 <= d["impedance"]["latency_ms"] < 100
        assert d["last_seen_s"] < 3 * INTERVAL
    assert document["summary"]["mode"] == "FULL"


def test_each_agent_heartbeats_the_model_its_device_tree_names_which_agrees_with_its_profile(
        lab: Lab) -> None:
    done = lab.fleet("status", "--json", "--inventory", str(lab.spec.inventory))
    devices = {d["id"]: d for d in json.loads(done.stdout)["devices"]}
    # Read by each agent, as nobody in its container, from the device tree bound into it.
    assert {i: (devices[i]["board_model"], devices[i]["board_profile"],
                devices[i]["profile_mismatch"]) for i in DEVICES} == {
        "itest-01": ("Raspberry Pi 4 Model B Rev 1.5", "pi4b-8g", None),
        "itest-02": ("NVIDIA Orin Nano Developer Kit", "jetson-orin-nano-8g", None),
        "itest-03": ("Raspberry Pi 4 Model B Rev 1.2", "pi4b-2g", None),
        "itest-04": ("Raspberry Pi 5 Model B Rev 1.0", "pi5-8g", None),
    }


def test_heartbeats_reach_the_store(watch: tuple[Ingest, FleetView], tmp_path: Path) -> None:
    ingest, view = watch
    wait_for(ingest, lambda: all(view.devices[d].heartbeat for d in DEVICES), 5 * INTERVAL)
    ingest.flush()
    with Store(tmp_path / "fleet.db") as store:
        assert set(store.latest()) == set(DEVICES)


def test_garbage_is_counted_against_its_device_and_dropped(
        watch: tuple[Ingest, FleetView]) -> None:
    ingest, view = watch
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(BROKER.host, BROKER.port)
    client.loop_start()
    try:
        for payload in (b"\xff\x00 not json", b'{"v": 2, "seq": 1}', b"{}"):
            client.publish("fleet/v1/dev/itest-01/hb", payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    wait_for(ingest, lambda: view.devices["itest-01"].bad >= 3, 5)
    assert view.devices["itest-01"].bad == 3  # and none against the device next to it
    assert view.devices["itest-02"].bad == 0
    seen = view.devices["itest-01"].last_seen or 0
    wait_for(ingest, lambda: (view.devices["itest-01"].last_seen or 0) > seen, 3 * INTERVAL)
    assert health(view, "itest-01") is Health.ACTIVE


def test_a_killed_agent_is_offline_within_a_second_and_comes_back(
        lab: Lab, watch: tuple[Ingest, FleetView]) -> None:
    ingest, view = watch
    device = lab.spec.devices(2)[0]
    wait_for(ingest, lambda: health(view, device.id) is Health.ACTIVE, 5 * INTERVAL)
    os.kill(agents.pid(lab.spec, device), signal.SIGKILL)
    assert wait_for(ingest, lambda: health(view, device.id) is Health.OFFLINE, 5) < 1.0
    # The engine restarts it (restart policy), and the view takes it back.
    wait_for(ingest, lambda: health(view, device.id) is Health.ACTIVE, 30)


def test_a_frozen_agent_is_offline_within_two_and_a_half_intervals(
        lab: Lab, watch: tuple[Ingest, FleetView]) -> None:
    ingest, view = watch
    device = lab.spec.devices(2)[1]
    wait_for(ingest, lambda: beats(view, device.id) > MIN_INTERVALS, 3 * MIN_INTERVALS * INTERVAL)
    pid = agents.pid(lab.spec, device)
    os.kill(pid, signal.SIGSTOP)  # nothing sent, nothing closed: only phi can tell
    try:
        frozen = time.time()
        wait_for(ingest, lambda: health(view, device.id) is Health.OFFLINE, 10 * INTERVAL)
        last = view.devices[device.id].last_seen or frozen
        assert time.time() - last <= 2.5 * INTERVAL + 0.5  # from its last heartbeat
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(ingest, lambda: health(view, device.id) is Health.ACTIVE, 5 * INTERVAL)
