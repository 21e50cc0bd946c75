"""The controller's SQLite state (WAL): devices, latest heartbeats, events, deployments.

WAL lets readers (`fleet status`, the TUI) read while the daemon writes, and
makes a batched flush one fsync-light transaction. Heartbeats are kept as
their wire encoding: one column to write, and reading one back validates it
with the same decoder as the bus. Beside each, its agent's run, seq and clock
say which of two heartbeats is newer (fleet.health.order), so a late flush of
an older one leaves the stored one alone.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.config import paths
from fleet.wire import Heartbeat, decode_heartbeat, encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, first_seen REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (
    device TEXT PRIMARY KEY REFERENCES devices(id), at REAL NOT NULL, payload BLOB NOT NULL,
    run TEXT, seq INTEGER NOT NULL DEFAULT -1, clock REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, at);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY, stack TEXT NOT NULL, started REAL NOT NULL, finished REAL,
    status TEXT NOT NULL, plan TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployment_devices (
    deployment INTEGER NOT NULL REFERENCES deployments(id), device TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (deployment, device));
"""
_SEEN = ("INSERT INTO devices VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
         "last_seen = max(last_seen, excluded.last_seen)")
# A different run is a restart the caller (the FleetView) has judged; within a run the higher
# seq wins; an agent that sends no run restarts at a lower seq with a later clock.
_LATEST = ("INSERT INTO heartbeats (device, at, payload, run, seq, clock) "
           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET "
           "at = max(heartbeats.at, excluded.at), payload = excluded.payload, "
           "run = excluded.run, seq = excluded.seq, clock = excluded.clock "
           "WHERE excluded.run IS NOT heartbeats.run OR excluded.seq > heartbeats.seq "
           "OR (excluded.run IS NULL AND excluded.clock > heartbeats.clock)")
# Databases made before the run, seq and clock columns: a -1 seq yields to any heartbeat.
_ORDER_COLUMNS = {"run": "run TEXT", "seq": "seq INTEGER NOT NULL DEFAULT -1",
                  "clock": "clock REAL NOT NULL DEFAULT 0"}

Latest = Mapping[str, tuple[Heartbeat, float]]  # device id -> (heartbeat, arrival time)


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    device: str
    kind: str
    detail: str



class Store:
    """One connection to the state database; use from one thread."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.state_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)  # transactions by hand
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; may lose the tail
        self._db.executescript(SCHEMA)
        self._add_order_columns()

    def _add_order_columns(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(heartbeats)")}
        for name, column in _ORDER_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE heartbeats ADD COLUMN {column}")

    def flush(self, latest: Latest) -> int:
        """Record these latest heartbeats in one transaction, each unless the stored one is newer.

        Returns how many were offered. The arrival time kept is the later of the two.
        """
        if not latest:
            return 0
        seen = [(d, at, at) for d, (_, at) in latest.items()]
        rows = [(d, at, encode(hb), hb.run, hb.seq, hb.clock) for d, (hb, at) in latest.items()]
        with self._transaction():
            self._db.executemany(_SEEN, seen)
            self._db.executemany(_LATEST, rows)
        return len(rows)

    def event(self, at: float, device: str, kind: str, detail: str = "") -> None:
        self._db.execute("INSERT INTO events (at, device, kind, detail) VALUES (?, ?, ?, ?)",
                         (at, device, kind, detail))

    def deployment_started(self, at: float, stack: str, plan: str,
                           devices: Mapping[str, str]) -> int:
        """Record a deploy before it acts: its plan (JSON) and each device's intent; its id."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO deployments (stack, started, status, plan) VALUES (?, ?, ?, ?)",
                (stack, at, "running", plan))
            deployment = cursor.lastrowid
            assert deployment is not None
            self._db.executemany(
                "INSERT INTO deployment_devices VALUES (?, ?, 'pending', ?)",
                [(deployment, d, detail) for d, detail in devices.items()])
        return deployment

    def deployment_finished(self, deployment: int, at: float,
                            results: Mapping[str, tuple[bool, str]]) -> None:
        """Each device's outcome (ok, detail), and the deploy's: ok only if every device is."""
        status = "ok" if all(ok for ok, _ in results.values()) else "failed"
        with self._transaction():
            self._db.executemany(
                "INSERT INTO deployment_devices VALUES (?, ?, ?, ?) ON CONFLICT "
                "(deployment, device) DO UPDATE SET status = excluded.status, "
                "detail = excluded.detail",
                [(deployment, d, "ok" if ok else "failed", detail)
                 for d, (ok, detail) in results.items()])
            self._db.execute("UPDATE deployments SET finished = ?, status = ? WHERE id = ?",
                             (at, status, deployment))

    def deployments(self, limit: int = 20) -> list[dict[str, object]]:
        """The newest deploys, newest first, each with its devices' outcomes."""
        rows = self._db.execute("SELECT id, stack, started, finished, status FROM deployments "
                                "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        found = []
        for deployment, stack, started, finished, status in rows:
            devices = self._db.execute(
                "SELECT device, status, detail FROM deployment_devices WHERE deployment = ? "
                "ORDER BY device", (deployment,)).fetchall()
            found.append({"id": deployment, "stack": stack, "started": started,
                          "finished": finished, "status": status,
                          "devices": {d: {"status": st, "detail": de} for d, st, de in devices}})
        return found

    def latest(self) -> dict[str, tuple[Heartbeat, float]]:
        """Every device's latest stored heartbeat, decoded."""
        rows = self._db.execute("SELECT device, at, payload FROM heartbeats ORDER BY device")
        return {d: (decode_heartbeat(payload), at) for d, at, payload in rows}

    def seen(self) -> dict[str, tuple[float, float]]:
        """Device id -> (first seen, last seen)."""
        rows = self._db.execute("SELECT id, first_seen, last_seen FROM devices ORDER BY id")
        return {d: (first, last) for d, first, last in rows}

    def events(self, device: str | None = None, limit: int = 100) -> list[Event]:
        """The newest events, oldest first; of one device if given."""
        where, args = ("WHERE device = ?", (device, limit)) if device else ("", (limit,))
        rows = self._db.execute(
            f"SELECT at, device, kind, detail FROM events {where} ORDER BY id DESC LIMIT ?", args)
        return [Event(*row) for row in reversed(rows.fetchall())]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
