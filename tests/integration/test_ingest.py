"""Ingest against a real mosquitto: workers on a shared subscription feed the view and the store.

No test waits for one round of heartbeats before sending the next: the agent's
run and seq order them, whichever worker takes each and whenever it hands
them over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet.bench import ingest as bench
from fleet.bus.ingest import Ingest
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.model import Broker
from fleet.wire import State, encode, topic
from tests.kit import heartbeat

DEVICES = ("pi-1", "pi-2", "pi-3")


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def presence(client: mqtt.Client, device: str, state: str) -> None:
    message = State(v=1, state=state)  # type: ignore[arg-type]
    client.publish(topic(device, "state"), encode(message), qos=1, retain=True).wait_for_publish(5)


def test_heartbeats_presence_and_bad_payloads(broker_port: int, tmp_path: Path) -> None:
    client = publisher(broker_port)
    presence(client, "pi-1", "online")  # retained before ingest starts: must still arrive
    view = FleetView(DEVICES)
    with Store(tmp_path / "fleet.db") as store:
        ingest = Ingest(Broker(port=broker_port), view, store, workers=2)
        with ingest:
            for seq in (1, 2, 3):
                for device in DEVICES:
                    client.publish(topic(device, "hb"), encode(heartbeat(seq=seq)))
            client.publish(topic("pi-2", "hb"), b"\xffnot json")
            document = json.loads(encode(heartbeat()))
            document["v"] = 99
            client.publish(topic("pi-3", "hb"), json.dumps(document))
            presence(client, "pi-2", "offline")
            deadline = time.monotonic() + 10
            while (ingest.stats.heartbeats, ingest.stats.bad, ingest.stats.states) != (9, 2, 2):
                assert time.monotonic() < deadline, ingest.stats
                ingest.poll(0.1)
        client.loop_stop()
        client.disconnect()
        assert {d: (hb.seq, at) for d, (hb, at) in store.latest().items()} == {
            d: (3, view.devices[d].last_seen) for d in DEVICES}
        # from two workers, so in either order
        assert sorted(e.kind for e in store.events("pi-2")) == ["bad_payload", "offline"]
    assert {d: r.bad for d, r in view.devices.items()} == {"pi-1": 0, "pi-2": 1, "pi-3": 1}
    assert "schema version 99" in view.devices["pi-3"].last_bad
    assert (view.devices["pi-1"].online, view.devices["pi-2"].online) == (True, False)


def wait_for(ingest: Ingest, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, ingest.stats
        ingest.poll(0.1)


def test_two_workers_keep_each_devices_newest_by_run_and_seq(broker_port: int,
                                                             tmp_path: Path) -> None:
    rounds, client = 40, publisher(broker_port)
    view = FleetView(DEVICES)

    def send(device: str, run: str, seq: int) -> None:
        client.publish(topic(device, "hb"), encode(heartbeat(run=run, seq=seq)))

    with Store(tmp_path / "fleet.db") as store:
        with Ingest(Broker(port=broker_port), view, store, workers=2) as ingest:
            for seq in range(1, rounds + 1):  # a burst: the workers take turns within it
                for device in DEVICES:
                    send(device, "a", seq)
            for device in DEVICES:
                send(device, "a", rounds // 2)  # delivered again, late
            wait_for(ingest, lambda: ingest.stats.heartbeats == (rounds + 1) * len(DEVICES))
            # pi-3's agent restarts, while a last heartbeat of its old run is still on its way:
            # either worker may hand over either first.
            send("pi-3", "b", 1)
            send("pi-3", "a", rounds + 1)
            wait_for(ingest, lambda: ingest.stats.heartbeats == (rounds + 1) * len(DEVICES) + 2)
        assert len(ingest.stats.by_worker) == 2, ingest.stats  # both took a share
        client.loop_stop()
        client.disconnect()
        newest = {d: (r.heartbeat.run, r.heartbeat.seq) for d, r in view.devices.items()
                  if r.heartbeat is not None}
        assert newest == {"pi-1": ("a", rounds), "pi-2": ("a", rounds), "pi-3": ("b", 1)}
        assert {d: (hb.run, hb.seq) for d, (hb, _) in store.latest().items()} == newest
    assert all(r.stale >= 1 for r in view.devices.values())  # at least the one sent twice
    assert ingest.stats.stale == sum(r.stale for r in view.devices.values())
    assert [r.restarts for r in view.devices.values()] == [0, 0, 1]


def test_in_process_mode_hears_the_same(broker_port: int) -> None:
    client = publisher(broker_port)
    view = FleetView()
    with Ingest(Broker(port=broker_port), view, workers=0) as ingest:
        client.publish(topic("pi-1", "hb"), encode(heartbeat(seq=5))).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while ingest.stats.heartbeats < 1:
            assert time.monotonic() < deadline
            ingest.poll(0.1)
    client.loop_stop()
    client.disconnect()
    record = view.devices["pi-1"]
    assert record.heartbeat is not None and record.heartbeat.seq == 5


def test_bench_smoke() -> None:
    """A tiny run of `fleet bench ingest`, to keep it from rotting (the real one takes minutes)."""
    result = bench.run(devices=300, step_s=0.3, target_s=0.5, broker_count=3000,
                       max_rate=24_000)
    assert result["lost"] == 0
    assert result["offered_per_s"] > 0 and result["naive_per_s"] > 0
    assert result["ingest"]["store_rows_flushed"] == 300
    assert set(result["ingest"]["met"]) == {"lost", "vs_naive"}
