"""The SQLite store: WAL, batched flushes of the latest heartbeats, append-only events."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fleet.health.store import Event, Store
from fleet.wire import encode
from tests.kit import heartbeat


def test_store_is_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / "a" / "fleet.db") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_flush_keeps_the_latest_heartbeat_per_device(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        assert store.flush({}) == 0
        first = {"pi-1": (heartbeat(seq=1), 10.0), "pi-2": (heartbeat(seq=1), 11.0)}
        assert store.flush(first) == 2
        store.flush({"pi-1": (heartbeat(seq=2), 20.0)})
        store.flush({"pi-2": (heartbeat(seq=0), 5.0)})  # older than what is stored: ignored
        assert store.latest() == {"pi-1": (heartbeat(seq=2), 20.0),
                                  "pi-2": (heartbeat(seq=1), 11.0)}
        assert store.seen() == {"pi-1": (10.0, 20.0), "pi-2": (11.0, 11.0)}


def test_a_restarted_agents_first_heartbeat_replaces_its_old_runs_last(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        store.flush({"pi-1": (heartbeat(run="a", seq=900), 10.0),
                     "pi-2": (heartbeat(seq=900, clock=100.0), 10.0)})
        store.flush({"pi-1": (heartbeat(run="b", seq=1), 20.0),
                     "pi-2": (heartbeat(seq=1, clock=130.0), 20.0)})  # no run: a later clock
        store.flush({"pi-1": (heartbeat(run="b", seq=1), 21.0)})  # the same again: kept as was
        assert store.latest() == {"pi-1": (heartbeat(run="b", seq=1), 20.0),
                                  "pi-2": (heartbeat(seq=1, clock=130.0), 20.0)}


def test_a_database_from_before_the_order_columns_takes_new_heartbeats(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "fleet.db")
    db.executescript("CREATE TABLE heartbeats (device TEXT PRIMARY KEY, at REAL NOT NULL, "
                     "payload BLOB NOT NULL)")
    db.execute("INSERT INTO heartbeats VALUES ('pi-1', 1.0, ?)", (encode(heartbeat(seq=50)),))
    db.commit()
    db.close()
    with Store(tmp_path / "fleet.db") as store:
        assert store.latest() == {"pi-1": (heartbeat(seq=50), 1.0)}
        store.flush({"pi-1": (heartbeat(seq=1), 2.0)})
        assert store.latest() == {"pi-1": (heartbeat(seq=1), 2.0)}


def test_what_is_flushed_survives_reopening(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        store.flush({"pi-1": (heartbeat(), 10.0)})
        store.event(10.0, "pi-1", "online")
    with Store(tmp_path / "fleet.db") as store:
        assert store.latest() == {"pi-1": (heartbeat(), 10.0)}
        assert store.events() == [Event(10.0, "pi-1", "online", "")]


def test_events_are_appended_and_read_newest_last(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        for k in range(5):
            store.event(float(k), "pi-1" if k % 2 else "pi-2", "bad_payload", f"#{k}")
        assert [e.detail for e in store.events(limit=3)] == ["#2", "#3", "#4"]
        assert [e.detail for e in store.events("pi-1")] == ["#1", "#3"]


def test_a_failed_flush_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "fleet.db") as store:
        bad = {"pi-1": (heartbeat(), 1.0), "pi-2": (heartbeat(), None)}  # NOT NULL
        with pytest.raises(Exception):  # noqa: B017 - whatever sqlite says, nothing is kept
            store.flush(bad)  # type: ignore[arg-type]
        assert store.latest() == {}
