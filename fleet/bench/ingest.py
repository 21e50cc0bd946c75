"""`fleet bench ingest`: heartbeats from 30,000 simulated devices through a real mosquitto.

A load generator in another process (fleet.lab.loadgen) publishes valid
heartbeats through a mosquitto this benchmark starts on loopback. Three
subscribers are measured in turn, in the same run, against the same broker:

- `broker_only`: `mosquitto_sub` (the C client) to /dev/null, receiving N
  messages offered at full blast: the broker's own limit here;
- `naive`: one paho subscriber that json-decodes each message;
- `ingest`: fleet.bus.ingest with its worker processes, feeding a real FleetView
  and flushing to a Store.

A rate is *sustained* when every message offered at it arrives within
GRACE_S of the last one being sent (one retry is allowed, for a noisy shared
machine). naive and ingest are searched the same way: double from 6,000/s
until a rate fails, then bisect three times. `lost` counts what ingest had
not applied GRACE_S after 30,000 heartbeats offered at 6,000/s.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from fleet.bus.ingest import HEARTBEATS, Ingest
from fleet.health.store import Store
from fleet.health.view import FleetView
from fleet.lab import loadgen
from fleet.lab.broker import loopback_mosquitto
from fleet.model import Broker

DEVICES = 30_000
TARGET_RATE = 6_000  # 30,000 devices every 5 s
TARGETS = {"lost": 0, "vs_naive": 2.5}
GRACE_S = 0.25
MAX_RATE = 400_000  # past what the generator can offer here
_ctx = multiprocessing.get_context("spawn")


# -- the load generator, in its own process ------------------------------------

def _generate(port: int, devices: int, seed: int, conn: Connection) -> None:
    packets = loadgen.Packets(loadgen.device_ids(devices), seed)
    with loadgen.open_publisher("127.0.0.1", port, "bench-loadgen") as sock:
        conn.send("ready")
        while (order := conn.recv()) is not None:
            rate, count = order
            conn.send(loadgen.offer(sock, packets, rate, count))


class Generator:
    """Drives the generator process: offer(rate, count), then done() says when it has sent."""

    def __init__(self, port: int, devices: int, seed: int) -> None:
        self._conn, theirs = _ctx.Pipe()
        self._process = _ctx.Process(target=_generate, args=(port, devices, seed, theirs),
                                     daemon=True)
        self._process.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the load generator did not start")

    def offer(self, rate: float, count: int) -> None:
        self._conn.send((rate, count))

    def done(self) -> float | None:
        """Seconds the last offer took, once it has all been sent."""
        return float(self._conn.recv()) if self._conn.poll() else None

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(10)


# -- subscribers under test ---------------------------------------------------------

@dataclass
class Subject:
    count: Callable[[], int]  # messages received so far
    pump: Callable[[float], object]  # let it work for up to this many seconds


def _naive(port: int, counter: Synchronized[int], ready: Event) -> None:
    """The baseline: plain paho, json.loads on each message, in paho's callback."""
    import json

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        json.loads(message.payload)
        counter.value += 1  # the only writer: no lock needed

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect("127.0.0.1", port)
    client.subscribe(HEARTBEATS)
    client.loop_forever()


@contextlib.contextmanager
def _naive_subject(port: int) -> Iterator[Subject]:
    counter, ready = _ctx.Value("q", 0, lock=False), _ctx.Event()
    process = _ctx.Process(target=_naive, args=(port, counter, ready), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the naive paho subscriber did not subscribe")
        yield Subject(lambda: int(counter.value), time.sleep)
    finally:
        process.terminate()
        process.join(10)


# -- measuring ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    rate: int
    offered_per_s: int
    sent: int
    received: int  # within GRACE_S of the last send
    late: int  # after that

    @property
    def lost(self) -> int:
        return self.sent - self.received


def step(gen: Generator, subject: Subject, rate: int, seconds: float) -> Step:
    """Offer `rate`/s for `seconds`; count what arrives in time, then wait out stragglers."""
    sent = round(rate * seconds)
    before = subject.count()
    gen.offer(rate, sent)
    while (took := gen.done()) is None:
        subject.pump(0.02)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and subject.count() - before < sent:
        subject.pump(0.02)
    received = subject.count() - before
    last, quiet_since = received, time.monotonic()
    while time.monotonic() - quiet_since < 0.3 and time.monotonic() < deadline + 20:
        subject.pump(0.05)
        if (now := subject.count() - before) != last:
            last, quiet_since = now, time.monotonic()
    return Step(rate, round(sent / took), sent, min(received, sent), last - received)


def highest(gen: Generator, subject: Subject, start: int, seconds: float,
            first: Step | None = None, max_rate: int = MAX_RATE) -> tuple[Step | None, list[Step]]:
    """The highest sustained rate: double from `start` until one fails, then bisect 3 times."""
    steps: list[Step] = []

    def sustained(rate: int) -> Step | None:
        for _ in range(2):  # one retry
            s = step(gen, subject, rate, seconds)
            steps.append(s)
            if s.lost == 0:
                return s
        return None

    best = first if first is not None and first.lost == 0 else sustained(start)
    if best is None:
        return None, steps
    rate, failed = best.rate * 2, 0
    while not failed and rate <= max_rate:
        found = sustained(rate)
        best, failed = (found, 0) if found else (best, rate)
        if found and found.offered_per_s < 0.9 * rate:
            break  # the generator's limit, not the subject's
        rate *= 2
    for _ in range(3 if failed else 0):
        rate = int(round((best.rate + failed) / 2, -2))
        found = sustained(rate)
        best, failed = (found, failed) if found else (best, rate)
    return best, steps


def broker_only(gen: Generator, port: int, count: int) -> int | None:
    """mosquitto_sub receiving `count` messages offered at full blast, in messages/s."""
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "5", "-q", "0",
               "-t", HEARTBEATS, "-C", str(count)]
    if shutil.which(command[0]) is None:
        return None
    sub = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # it prints nothing when subscribed; its connect takes milliseconds
        started = time.perf_counter()
        gen.offer(0, count)
        sub.wait(60)
        rate = round(count / (time.perf_counter() - started))
        while gen.done() is None:
            time.sleep(0.01)
        return rate
    except subprocess.TimeoutExpired:
        return None
    finally:
        sub.kill()
        sub.wait()


def _steps(steps: list[Step]) -> list[tuple[int, int, int]]:
    return [(s.rate, s.lost, s.late) for s in steps]


def _figures(best: Step | None) -> dict[str, Any]:
    return {"sustained_per_s": best.offered_per_s if best else 0,
            "sustained_rate_step": best.rate if best else 0}


def run(seed: int = 1, *, devices: int = DEVICES, workers: int = 2, step_s: float = 4.0,
        target_s: float = 5.0, broker_count: int = 200_000,
        max_rate: int = MAX_RATE) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-ingest-") as tmp, \
            loopback_mosquitto(Path(tmp)) as port:
        gen = Generator(port, devices, seed)
        try:
            broker_rate = broker_only(gen, port, broker_count)
            with _naive_subject(port) as naive:
                naive_best, naive_steps = highest(gen, naive, TARGET_RATE, step_s, None, max_rate)
            view = FleetView(loadgen.device_ids(devices))
            with Store(Path(tmp) / "fleet.db") as store, \
                    Ingest(Broker(port=port), view, store, workers=workers) as ingest:
                subject = Subject(lambda: ingest.stats.heartbeats, lambda t: ingest.poll(t))
                at_target = step(gen, subject, TARGET_RATE, target_s)
                best, steps = highest(gen, subject, TARGET_RATE, step_s, at_target, max_rate)
            flushed = ingest.stats.flushed  # after stop(), which flushes
        finally:
            gen.close()
    naive_rate = naive_best.offered_per_s if naive_best else 0
    ingested = best.offered_per_s if best else 0
    ratio = round(ingested / naive_rate, 2) if naive_rate else None
    ingest_family: dict[str, Any] = {
        "workers": workers, "devices": devices,
        "offered_per_s": at_target.offered_per_s, "sent_at_6000": at_target.sent,
        "lost": at_target.lost, "late_at_6000": at_target.late,
        "ingested_per_s": ingested, "vs_naive": ratio,
        "vs_broker_only": round(ingested / broker_rate, 2) if broker_rate else None,
        "store_rows_flushed": flushed,
        "steps_rate_lost_late": _steps(steps),
        "targets": {"lost": "== 0", "vs_naive": f">= {TARGETS['vs_naive']}"},
        "met": {"lost": at_target.lost == 0,
                "vs_naive": ratio is not None and ratio >= TARGETS["vs_naive"]},
    }
    result: dict[str, Any] = {
        "benchmark": "ingest", "seed": seed,
        "offered_per_s": at_target.offered_per_s, "ingested_per_s": ingested,
        "lost": at_target.lost, "broker_only_per_s": broker_rate, "naive_per_s": naive_rate,
        "broker_only": {"per_s": broker_rate, "messages": broker_count},
        "naive": _figures(naive_best) | {"steps_rate_lost_late": _steps(naive_steps)},
        "ingest": ingest_family,
        "grace_s": GRACE_S, "step_s": step_s,
    }
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["met"] = all(ingest_family["met"].values())
    return result


__all__ = ["run"]
