"""Ingest without a broker: decoding into batches, applying them, flushing on time."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from fleet.bus.ingest import SUBSCRIBED, Batch, Collector, Ingest, topic_id
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.model import Broker
from fleet.wire import Heartbeat, State, encode, topic
from tests.kit import heartbeat


class Recorder:
    """A View that writes down every call, and takes heartbeats as the FleetView does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object, float]] = []
        self.view = FleetView()

    def heartbeat(self, device_id: str, hb: Heartbeat, at: float) -> bool:
        self.calls.append(("heartbeat", device_id, hb, at))
        return self.view.heartbeat(device_id, hb, at)

    def presence(self, device_id: str, state: State, at: float) -> None:
        self.calls.append(("presence", device_id, state.state, at))

    def bad(self, device_id: str, reason: str, at: float) -> None:
        self.calls.append(("bad", device_id, reason, at))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def collect(*messages: tuple[str, bytes]) -> Batch:
    collector = Collector()
    for k, (name, payload) in enumerate(messages):
        collector.add(name, payload, float(k))
    return collector.take()


def wrong_schema() -> bytes:
    document = json.loads(encode(heartbeat()))
    document["v"] = 2
    return json.dumps(document).encode()


def test_collector_sorts_good_and_bad_messages_by_device() -> None:
    batch = collect(
        (topic("pi-1", "hb"), encode(heartbeat())),
        (topic("pi-2", "hb"), b"\x00garbage"),
        (topic("pi-3", "hb"), wrong_schema()),
        ("fleet/v1/dev/Pi_4/hb", encode(heartbeat())),
        (topic("pi-1", "state"), encode(State(v=1, state="offline"))),
        (topic("pi-5", "ack"), b"{}"),
    )
    assert batch.heartbeats == [("pi-1", 0.0, heartbeat())]
    assert batch.states == [("pi-1", 4.0, State(v=1, state="offline"))]
    assert [(d, at) for d, at, _ in batch.bad] == [("pi-2", 1.0), ("pi-3", 2.0), ("Pi_4", 3.0),
                                                   ("pi-5", 5.0)]
    assert "malformed" in batch.bad[0][2]
    assert "schema version 2" in batch.bad[1][2]
    assert "invalid device id" in batch.bad[2][2]
    assert len(batch) == 6
    assert len(Collector().take()) == 0


def test_topic_id_is_bounded() -> None:
    assert topic_id("fleet/v1/dev/Pi_4/hb") == "Pi_4"
    assert topic_id("fleet/v1/dev/" + "x" * 500 + "/hb") == "x" * 64
    assert topic_id("hb") == "?"


def test_batches_survive_the_pipe_encoding() -> None:
    batch = collect((topic("pi-1", "hb"), encode(heartbeat())), (topic("pi-2", "hb"), b"{"))
    batch.note = SUBSCRIBED
    blob = msgspec.msgpack.encode(batch)
    assert msgspec.msgpack.decode(blob, type=Batch) == batch


def test_apply_feeds_the_view_and_counts() -> None:
    view = Recorder()
    ingest = Ingest(Broker(), view)
    batch = collect((topic("pi-1", "hb"), encode(heartbeat())), (topic("pi-2", "hb"), b"x"),
                    (topic("pi-1", "state"), encode(State(v=1, state="online"))))
    assert ingest.apply(batch) == 3
    assert [c[:2] for c in view.calls] == [("heartbeat", "pi-1"), ("presence", "pi-1"),
                                           ("bad", "pi-2")]
    assert (ingest.stats.heartbeats, ingest.stats.states, ingest.stats.bad) == (1, 1, 1)


def test_latest_heartbeats_are_flushed_when_due(tmp_path: Path) -> None:
    clock = Clock()
    with Store(tmp_path / "fleet.db") as store:
        ingest = Ingest(Broker(), Recorder(), store, flush_s=5.0, clock=clock)
        ingest.apply(Batch(heartbeats=[("pi-1", 2.0, heartbeat(seq=2)),
                                       ("pi-1", 1.0, heartbeat(seq=1))]))  # reordered
        clock.now = 4.9
        ingest.poll(0)
        assert store.latest() == {}
        clock.now = 5.0
        ingest.poll(0)
        assert store.latest() == {"pi-1": (heartbeat(seq=2), 2.0)}
        assert ingest.stats.flushed == 1
        assert ingest.stats.stale == 1
        assert ingest.flush() == 0  # nothing new since


def test_a_late_heartbeat_after_a_flush_does_not_replace_the_stored_one(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        view = FleetView()
        ingest = Ingest(Broker(), view, store)
        ingest.apply(Batch(heartbeats=[("pi-1", 2.0, heartbeat(seq=2))]))
        ingest.flush()
        ingest.apply(Batch(heartbeats=[("pi-1", 3.0, heartbeat(seq=1))]))  # the other worker's
        assert ingest.flush() == 0
        assert store.latest() == {"pi-1": (heartbeat(seq=2), 2.0)}
        assert view.devices["pi-1"].stale == 1


def test_the_newest_heartbeat_keeps_the_later_arrival_stamp(tmp_path: Path) -> None:
    """Two workers read the clock apart: the newest may carry the earlier time."""
    with Store(tmp_path / "fleet.db") as store:
        view = FleetView()
        ingest = Ingest(Broker(), view, store)
        ingest.apply(Batch(heartbeats=[("pi-1", 2.0, heartbeat(seq=1))]), worker=0)
        ingest.apply(Batch(heartbeats=[("pi-1", 1.9, heartbeat(seq=2))]), worker=1)
        ingest.flush()
        assert store.latest() == {"pi-1": (heartbeat(seq=2), 2.0)}
        assert view.devices["pi-1"].last_seen == 2.0


def test_bad_payloads_are_noted_once_a_minute_per_device(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        view = Recorder()
        ingest = Ingest(Broker(), view, store)
        ingest.apply(Batch(bad=[("pi-1", t, "garbage") for t in (0.0, 30.0, 59.0, 61.0)]
                           + [("pi-2", 30.0, "garbage")]))
        assert [(e.device, e.at) for e in store.events()] == [("pi-1", 0.0), ("pi-1", 61.0),
                                                               ("pi-2", 30.0)]
        assert sum(c[0] == "bad" for c in view.calls) == 5  # every one is counted


def test_presence_is_recorded_as_an_event(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        ingest = Ingest(Broker(), Recorder(), store)
        ingest.apply(Batch(states=[("pi-1", 3.0, State(v=1, state="offline", agent="0.1"))]))
        assert [(e.device, e.kind, e.detail) for e in store.events()] == [
            ("pi-1", "offline", "0.1")]


def test_workers_share_heartbeats_and_one_takes_presence() -> None:
    jobs = Ingest(Broker(), Recorder(), workers=3, group="g").jobs()
    assert [j.filters for j in jobs] == [
        ("$share/g/fleet/v1/dev/+/hb", "fleet/v1/dev/+/state"),
        ("$share/g/fleet/v1/dev/+/hb",), ("$share/g/fleet/v1/dev/+/hb",)]
    assert len({j.client_id for j in jobs}) == 3
    alone = Ingest(Broker(), Recorder(), workers=0).jobs()
    assert [j.filters for j in alone] == [("fleet/v1/dev/+/hb", "fleet/v1/dev/+/state")]
