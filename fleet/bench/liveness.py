"""`fleet bench liveness`: how fast the controller sees a device go, and that jitter is not death.

A two-device lab runs real agents at a 5 s interval; the controller's
ingest and FleetView run in this process, as in `fleet status`.

- crash: device 1's agent gets SIGKILL. The kernel closes its connection,
  the broker publishes its Last Will, the view says offline.
- partition: device 2's agent gets SIGSTOP: nothing is sent and nothing is
  closed, so only phi accrual over its heartbeat intervals can tell.
- false positives: meanwhile JITTERY simulated devices heartbeat every
  interval * U(0.5, 1.5) for FALSE_POSITIVE_S; each time one of them is
  called offline is a false positive.

The baseline, from the same run's arrivals: a fixed timeout of three missed
intervals, the usual rule of thumb, would have seen the partition at
last heartbeat + 3 intervals.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet.bus.ingest import Ingest
from fleet.health.liveness import MIN_INTERVALS, Health
from fleet.health.view import FleetView
from fleet.lab import agents, lab
from fleet.lab.spec import LabDevice, LabSpec
from fleet.model import Broker
from fleet.wire import SCHEMA, Heartbeat, WireImpedance, encode, topic

LAB_NAME, LAB_SUBNET = "benchlv", "10.247.0.0/24"
JITTERY = 10
FIXED_TIMEOUT_INTERVALS = 3
TARGETS = {"crash_detect_s": 1.0, "partition_detect_intervals": 2.5, "false_positives": 0}
_POLL_S = 0.05


def run(seed: int = 1, *, interval: float = 5.0, false_positive_s: float = 120.0,
        warmup_beats: int = MIN_INTERVALS + 1) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object; `seed` drives the simulated jitter."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as root:
        spec = LabSpec.create(LAB_NAME, root=Path(root) / LAB_NAME, subnet=LAB_SUBNET)
        try:
            lab.up(spec, 2, interval=interval)
            result = _measure(spec, seed, interval, false_positive_s, warmup_beats)
        finally:
            lab.down(spec)
    figures = result["liveness"]
    figures["targets"] = {k: f"{'<' if k == 'crash_detect_s' else '<='} {v}"
                          for k, v in TARGETS.items()}
    figures["met"] = {
        "crash_detect_s": figures["crash_detect_s"] < TARGETS["crash_detect_s"],
        "partition_detect_intervals":
            figures["partition_detect_intervals"] <= TARGETS["partition_detect_intervals"],
        "false_positives": figures["false_positives"] <= TARGETS["false_positives"],
    }
    result["met"] = all(figures["met"].values())
    return result


class _Watch:
    """The controller side: ingest into a view, polled by whoever waits on it."""

    def __init__(self, broker: Broker, ids: list[str]) -> None:
        self.view = FleetView(ids)
        self.ingest = Ingest(broker, self.view, workers=0)
        self.offline_seen: dict[str, int] = {}
        self._was_offline: dict[str, bool] = {}

    def poll(self) -> None:
        self.ingest.poll(_POLL_S)
        now = time.time()
        for device, record in self.view.devices.items():
            if record.expected or record.heartbeat is None:
                continue  # the real devices are the crash and partition tests
            offline = record.health(now) is Health.OFFLINE
            if offline and not self._was_offline.get(device, False):
                self.offline_seen[device] = self.offline_seen.get(device, 0) + 1
            self._was_offline[device] = offline

    def until(self, condition: Callable[[], bool], timeout: float) -> float:
        """Poll until `condition()`; the time.time() it first held."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the condition never held")
            self.poll()
        return time.time()

    def beats(self, device: str) -> int:
        record = self.view.devices[device]
        return len(record.intervals) + (record.heartbeat is not None)

    def health(self, device: str) -> Health:
        return self.view.devices[device].health(time.time())


def _measure(spec: LabSpec, seed: int, interval: float, false_positive_s: float,
             warmup_beats: int) -> dict[str, Any]:
    crashed, frozen = spec.devices(2)
    host, port = spec.broker.split(":")
    watch = _Watch(Broker(host, int(port)), [crashed.id, frozen.id])
    stop = threading.Event()
    jitter = threading.Thread(target=_jittery, args=(spec.broker, interval, seed, stop),
                              daemon=True)
    watch.ingest.start()
    jitter.start()
    started = time.monotonic()
    try:
        warm = (warmup_beats + 1) * interval + 5
        watch.until(lambda: min(watch.beats(crashed.id), watch.beats(frozen.id)) > warmup_beats,
                    warm)
        crash_detect = _crash(spec, crashed, watch)
        partition_detect, last_beat_gap = _partition(spec, frozen, watch, interval)
        remaining = false_positive_s - (time.monotonic() - started)
        if remaining > 0:
            watch.until(lambda: time.monotonic() - started >= false_positive_s, remaining + 1)
    finally:
        stop.set()
        jitter.join(5)
        watch.ingest.stop()
    fixed = FIXED_TIMEOUT_INTERVALS * interval - last_beat_gap
    return {
        "benchmark": "liveness",
        "liveness": {
            "interval_s": interval,
            "crash_detect_s": round(crash_detect, 3),
            "partition_detect_s": round(partition_detect, 2),
            "partition_detect_intervals": round(partition_detect / interval, 2),
            "fixed_timeout_detect_s": round(fixed, 2),
            "false_positives": sum(watch.offline_seen.values()),
            "jittery_devices": JITTERY, "jitter": 0.5,
            "false_positive_window_s": round(time.monotonic() - started, 1),
        },
    }


def _crash(spec: LabSpec, d: LabDevice, watch: _Watch) -> float:
    pid = agents.pid(spec, d)
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    return watch.until(lambda: watch.health(d.id) is Health.OFFLINE, 10) - killed


def _partition(spec: LabSpec, d: LabDevice, watch: _Watch,
               interval: float) -> tuple[float, float]:
    """Seconds from SIGSTOP to offline, and from its last heartbeat to the SIGSTOP."""
    pid = agents.pid(spec, d)
    os.kill(pid, signal.SIGSTOP)
    frozen = time.time()
    try:
        seen = watch.until(lambda: watch.health(d.id) is Health.OFFLINE, 6 * interval)
    finally:
        os.kill(pid, signal.SIGCONT)
    last = watch.view.devices[d.id].last_seen or frozen
    return seen - frozen, frozen - last


def _jittery(broker: str, interval: float, seed: int, stop: threading.Event) -> None:
    """Heartbeats for JITTERY simulated devices, each interval drawn from +-50 %."""
    rng = random.Random(seed)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    host, port = broker.split(":")
    client.connect(host, int(port))
    client.loop_start()
    due = {f"jitter-{k:02d}": time.monotonic() + rng.uniform(0, interval) for k in range(JITTERY)}
    seq = 0
    try:
        while not stop.is_set():
            device, when = min(due.items(), key=lambda item: item[1])
            if stop.wait(max(0.0, when - time.monotonic())):
                break
            seq += 1
            client.publish(topic(device, "hb"), encode(_heartbeat(seq, interval)))
            due[device] = when + interval * rng.uniform(0.5, 1.5)
    finally:
        client.loop_stop()
        client.disconnect()


def _heartbeat(seq: int, interval: float) -> Heartbeat:
    return Heartbeat(v=SCHEMA, seq=seq, clock=time.time(), cpu_pct=1.0, load1=0.1,
                     mem_used_mb=100, mem_total_mb=8192, mem_budget_mb=7840, disk_used_mb=500,
                     disk_total_mb=29361, disk_budget_mb=24005,
                     impedance=WireImpedance(1.0, 0.0, 0, 0.1, 1.0), interval_s=interval)


__all__ = ["run"]
