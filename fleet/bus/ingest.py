"""The controller's heartbeat ingest: MQTT -> typed messages -> the FleetView, flushed to the Store.

    workers (processes; or one thread)                  the caller's thread
    rawmqtt.Subscriber -> Collector (topic + decode) -> poll(): Batch -> view, store
                          a Batch every BATCH_S over a pipe (msgpack)

30,000 devices at 5 s are 6,000 heartbeats/s. Receiving, checking and
decoding them happens in worker processes on one MQTT v5 shared
subscription (`$share/<group>/fleet/v1/dev/+/hb`), so the broker spreads the
load and the caller's thread only applies typed batches. `workers=0` runs a
single receiver in a thread of this process with a plain subscription, for
`fleet status` and small fleets; both modes share one decoding path
(Collector). Presence is retained, and a shared subscription gets no
retained messages (MQTT v5 section 4.8.2), so worker 0 alone also subscribes
to the state topic, unshared.

A bad payload (not JSON, wrong schema, a topic whose id is invalid) is
counted against its device by `view.bad`, logged and recorded as an event at
most once per device per minute, and dropped; it never raises.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Protocol

import msgspec

from fleet.bus.rawmqtt import MqttError, Subscriber
from fleet.errors import FleetError
from fleet.health.store import Store
from fleet.model import Broker
from fleet.wire import (
    PREFIX,
    Heartbeat,
    State,
    WireError,
    decode_heartbeat,
    decode_state,
    parse_topic,
)

HEARTBEATS = f"{PREFIX}/+/hb"
STATES = f"{PREFIX}/+/state"
BATCH_S = 0.05  # how long a worker collects before handing over: latency vs. per-batch cost
FLUSH_S = 5.0
BAD_NOTICE_S = 60.0  # a device's bad payloads are logged at most this often
SUBSCRIBED = "subscribed"

log = logging.getLogger(__name__)


class IngestError(FleetError):
    """The ingest could not subscribe, or a worker died."""


class View(Protocol):
    """What ingest feeds (fleet.health.view.FleetView)."""

    def heartbeat(self, device_id: str, hb: Heartbeat, at: float) -> bool:
        """Take it if it is the device's newest by its agent's run and seq; else False."""
    def presence(self, device_id: str, state: State, at: float) -> None: ...
    def bad(self, device_id: str, reason: str, at: float) -> None: ...


class Batch(msgspec.Struct, array_like=True):
    """What a worker hands over: decoded messages with arrival times, and a connection note."""

    heartbeats: list[tuple[str, float, Heartbeat]] = msgspec.field(default_factory=list)
    states: list[tuple[str, float, State]] = msgspec.field(default_factory=list)
    bad: list[tuple[str, float, str]] = msgspec.field(default_factory=list)
    note: str = ""  # SUBSCRIBED, or why the connection was lost

    def __len__(self) -> int:
        return len(self.heartbeats) + len(self.states) + len(self.bad)


_encode_batch = msgspec.msgpack.Encoder().encode
_decode_batch = msgspec.msgpack.Decoder(Batch).decode


def topic_id(name: str) -> str:
    """The device id part of a topic, unvalidated and bounded, to count a bad message against."""
    return name.removeprefix(PREFIX + "/").rpartition("/")[0][:64] or "?"


class Collector:
    """Checks and decodes arriving messages into a Batch: the one decoding path of every mode."""

    def __init__(self) -> None:
        self.batch = Batch()

    def add(self, name: str, payload: bytes, at: float) -> None:
        try:
            device, kind = parse_topic(name)
        except WireError as e:
            self.batch.bad.append((topic_id(name), at, str(e)))
            return
        try:
            if kind == "hb":
                self.batch.heartbeats.append((device, at, decode_heartbeat(payload)))
            elif kind == "state":
                self.batch.states.append((device, at, decode_state(payload)))
            else:
                self.batch.bad.append((device, at, f"unexpected {kind!r} message on {name}"))
        except WireError as e:
            self.batch.bad.append((device, at, str(e)))

    def take(self, note: str = "") -> Batch:
        batch, self.batch = self.batch, Batch()
        batch.note = note
        return batch


@dataclass(frozen=True, slots=True)
class Job:
    """One worker's orders (picklable, for a spawned process)."""

    broker: Broker
    filters: tuple[str, ...]
    client_id: str
    batch_s: float = BATCH_S


def _subscriber(job: Job) -> Subscriber:
    b = job.broker
    password = Path(b.password_file).read_text().strip() if b.password_file else None
    return Subscriber(b.host, b.port, job.filters, client_id=job.client_id, tls=b.tls,
                      username=b.username, password=password)


def work(job: Job, send: Callable[[bytes], None], stop: Event) -> None:
    """A worker's life until `stop`: (re)connect, collect, send a Batch every batch_s."""
    collector, backoff = Collector(), 0.5
    subscriber = _subscriber(job)
    while not stop.is_set():
        try:
            subscriber.connect()
        except MqttError as e:
            send(_encode_batch(collector.take(f"cannot connect: {e}")))
            stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
            continue
        backoff = 0.5
        send(_encode_batch(collector.take(SUBSCRIBED)))
        try:
            _collect(subscriber, collector, send, stop, job.batch_s)
        except MqttError as e:
            send(_encode_batch(collector.take(f"connection lost: {e}")))
    subscriber.close()
    send(_encode_batch(collector.take()))


def _collect(subscriber: Subscriber, collector: Collector, send: Callable[[bytes], None],
             stop: Event, batch_s: float) -> None:
    due = time.monotonic() + batch_s
    while not stop.is_set():
        messages = subscriber.read(max(0.0, due - time.monotonic()))
        at = time.time()  # one arrival time per receive: they came in the same read
        for name, payload in messages:
            collector.add(name, payload, at)
        if time.monotonic() >= due:
            if collector.batch:
                send(_encode_batch(collector.take()))
            due = time.monotonic() + batch_s


def _process_main(job: Job, conn: Connection, stop: Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    _serve(job, conn, stop)


def _serve(job: Job, conn: Connection, stop: Event) -> None:
    try:
        work(job, conn.send_bytes, stop)
    except (BrokenPipeError, EOFError):
        pass  # the parent is gone
    finally:
        conn.close()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while a batch is decoded and applied: one young collection after it.

    A batch allocates thousands of tracked objects (structs, lists) that live
    until the device's next heartbeat, so with GC on they trigger collections
    every 700 allocations and get promoted into full collections that scan the
    whole fleet's records: that made decoding 10x slower at 60,000/s. Nothing
    here makes reference cycles, and the counts still trigger the collections
    due, once, when it is re-enabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(slots=True)
class Stats:
    heartbeats: int = 0
    stale: int = 0  # heartbeats older than their device's newest when applied, or repeated
    states: int = 0
    bad: int = 0
    flushed: int = 0
    by_worker: dict[int, int] = field(default_factory=dict)  # worker index -> heartbeats


class Ingest:
    """Heartbeats and presence from the broker into `view`, and into `store` every flush_s."""

    def __init__(self, broker: Broker, view: View, store: Store | None = None, *,
                 workers: int = 2, group: str = "fleet-ingest", flush_s: float = FLUSH_S,
                 batch_s: float = BATCH_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.broker, self.view, self.store = broker, view, store
        self.workers, self.group, self.flush_s, self.batch_s = workers, group, flush_s, batch_s
        self.stats = Stats()
        self._clock = clock
        self._flushed_at = clock()
        self._pending: dict[str, tuple[Heartbeat, float]] = {}
        self._noticed: dict[str, float] = {}  # device -> when its bad payloads were last logged
        self._conns: dict[Connection, int] = {}  # -> worker index
        self._runners: list[multiprocessing.process.BaseProcess | threading.Thread] = []
        self._subscribed: set[int] = set()
        self._notes: dict[int, str] = {}  # each worker's latest trouble
        self._stop: Event | None = None

    def jobs(self) -> list[Job]:
        """Each worker's subscriptions: the shared heartbeats; worker 0 also the states."""
        count = max(self.workers, 1)
        heartbeats = f"$share/{self.group}/{HEARTBEATS}" if self.workers else HEARTBEATS
        return [Job(self.broker, (heartbeats, STATES) if k == 0 else (heartbeats,),
                    f"{self.group}-{multiprocessing.current_process().pid}-{k}", self.batch_s)
                for k in range(count)]

    def start(self, timeout: float = 10.0) -> None:
        """Start the workers; return once every one has subscribed."""
        secret = self.broker.password_file
        if secret is not None and not Path(secret).is_file():  # else a worker dies saying less
            raise IngestError(f"the broker's password file {secret} is missing")
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._stop = ctx.Event()
        for index, job in enumerate(self.jobs()):
            mine, theirs = ctx.Pipe(duplex=False)
            runner: multiprocessing.process.BaseProcess | threading.Thread
            if self.workers:
                runner = ctx.Process(target=_process_main, args=(job, theirs, self._stop),
                                     name=job.client_id, daemon=True)
            else:
                runner = threading.Thread(target=_serve, args=(job, theirs, self._stop),
                                          name=job.client_id, daemon=True)
            runner.start()
            if self.workers:
                theirs.close()  # the child has its copy; EOF then means the child is gone
            self._conns[mine] = index
            self._runners.append(runner)
        deadline = time.monotonic() + timeout
        while len(self._subscribed) < len(self._runners):
            if time.monotonic() > deadline:
                self.stop()
                why = next(iter(self._notes.values()), "no answer")
                raise IngestError(f"cannot subscribe at the broker {self.broker.host}:"
                                  f"{self.broker.port} within {timeout:g} s ({why}); is it "
                                  "running, and is it the inventory's broker?")
            self.poll(0.1)

    def poll(self, timeout: float = 0.0) -> int:
        """Apply what the workers have handed over (waiting up to `timeout`); flush when due."""
        applied = 0
        for conn in wait(list(self._conns), timeout):
            assert isinstance(conn, Connection)
            try:
                while True:
                    blob = conn.recv_bytes()
                    with _gc_paused():
                        applied += self.apply(_decode_batch(blob), self._conns[conn])
                    if not conn.poll():
                        break
            except EOFError:
                del self._conns[conn]
                if self._stop is not None and not self._stop.is_set():
                    raise IngestError("an ingest worker exited") from None
        if self.store is not None and self._clock() - self._flushed_at >= self.flush_s:
            self.flush()
        return applied

    def apply(self, batch: Batch, worker: int = 0) -> int:
        """Feed one batch to the view; returns how many messages it held."""
        self._heartbeats(batch.heartbeats, worker)
        for device, at, state in batch.states:
            self.view.presence(device, state, at)
            if self.store is not None:
                self.store.event(at, device, state.state, state.agent)
        for device, at, reason in batch.bad:
            self.view.bad(device, reason, at)
            self._notice(device, reason, at)
        self._note(worker, batch.note)
        self.stats.states += len(batch.states)
        self.stats.bad += len(batch.bad)
        return len(batch)

    def _heartbeats(self, heartbeats: list[tuple[str, float, Heartbeat]], worker: int) -> None:
        """Each to the view; those it takes as their device's newest wait for the next flush."""
        view, pending, stats = self.view, self._pending, self.stats
        for device, at, hb in heartbeats:
            if not view.heartbeat(device, hb, at):
                stats.stale += 1
                continue  # the store keeps the newest too: a stale one would only be refused
            held = pending.get(device)
            # Workers stamp arrivals apart: the newest may carry the earlier time. Keep the later.
            pending[device] = (hb, at if held is None else max(at, held[1]))
        if heartbeats:
            stats.heartbeats += len(heartbeats)
            stats.by_worker[worker] = stats.by_worker.get(worker, 0) + len(heartbeats)

    def _note(self, worker: int, note: str) -> None:
        if note == SUBSCRIBED:
            self._subscribed.add(worker)
        elif note:
            self._subscribed.discard(worker)
            if self._notes.get(worker) != note:  # a retry loop says it once
                log.warning("ingest worker %d: %s", worker, note)
            self._notes[worker] = note

    def _notice(self, device: str, reason: str, at: float) -> None:
        if at - self._noticed.get(device, -BAD_NOTICE_S) < BAD_NOTICE_S:
            return
        self._noticed[device] = at
        log.warning("device %s: dropped a bad payload: %s", device, reason)
        if self.store is not None:
            self.store.event(at, device, "bad_payload", reason)

    def flush(self) -> int:
        """Write the latest heartbeats heard since the last flush to the store."""
        self._flushed_at = self._clock()
        if self.store is None or not self._pending:
            return 0
        written = self.store.flush(self._pending)
        self._pending = {}
        self.stats.flushed += written
        return written

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers, apply their last batches, flush."""
        if self._stop is None:
            return
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._conns and time.monotonic() < deadline:
            self.poll(0.1)
        for runner in self._runners:
            runner.join(max(0.0, deadline - time.monotonic()))
            if isinstance(runner, multiprocessing.process.BaseProcess) and runner.is_alive():
                runner.terminate()
        for conn in self._conns:
            conn.close()
        self._conns, self._runners, self._stop = {}, [], None
        self.flush()

    def __enter__(self) -> Ingest:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
