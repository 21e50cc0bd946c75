"""The agent as a process against a real mosquitto: presence, heartbeats, acks, Last Will."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet import profiles
from fleet.wire import (
    CONFLICT,
    READY,
    SCHEMA,
    Ack,
    Command,
    Heartbeat,
    State,
    decode_ack,
    decode_heartbeat,
    decode_state,
    encode,
    topic,
)

DEVICE = "pi-lab-01"
PROFILE = "pi4b-8g"
ROOT = Path(__file__).parents[2]
FORBIDDEN = ("docker", "requests", "urllib3", "psutil", "textual", "fabric", "paramiko", "rich",
             "ruamel")
# Runs the agent as `python -m fleet.agent` would, and on a clean exit prints which of the
# forbidden packages its whole run loaded.
WRAPPER = ("import atexit, json, runpy, sys\n"
           "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules"
           f" if m.split('.')[0] in {FORBIDDEN!r}}})), flush=True))\n"
           "sys.argv[0] = 'fleet-agent'\n"
           "runpy.run_module('fleet.agent', run_name='__main__', alter_sys=True)\n")


class Listener:
    """A paho subscriber to one device's topics, with a queue per kind."""

    def __init__(self, port: int) -> None:
        self.queues: dict[str, queue.Queue[bytes]] = {k: queue.Queue() for k in
                                                      ("hb", "state", "ack", "cmd")}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._message
        self.disconnected = threading.Event()
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(topic(DEVICE, k), 1) for k in ("hb", "state", "ack")])
        self.client.loop_start()

    def _message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self.queues[message.topic.rsplit("/", 1)[1]].put(bytes(message.payload))

    def get(self, kind: str, timeout: float = 5.0) -> bytes:
        return self.queues[kind].get(timeout=timeout)

    def heartbeat(self, timeout: float = 5.0) -> Heartbeat:
        return decode_heartbeat(self.get("hb", timeout))

    def state(self, timeout: float = 5.0) -> State:
        return decode_state(self.get("state", timeout))

    def ack(self, command_id: str, timeout: float = 5.0) -> Ack:
        deadline = time.monotonic() + timeout
        while True:
            ack = decode_ack(self.get("ack", max(0.01, deadline - time.monotonic())))
            if ack.id == command_id:
                return ack

    def send(self, payload: bytes) -> None:
        self.client.publish(topic(DEVICE, "cmd"), payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        # Stopping paho's loop before it has seen the disconnect leaks its socket.
        self.client.disconnect()
        self.disconnected.wait(5)
        self.client.loop_stop()


def start_agent(port: int, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    argv = ["--id", DEVICE, "--profile", PROFILE, "--broker", f"127.0.0.1:{port}",
            "--interval", "0.5", "--docker-socket", str(tmp_path / "no-dockerd.sock"),
            "--alive-file", str(tmp_path / "alive"),
            # This host's own LAN is out of bounds: mDNS is tested in the lab's namespaces.
            "--advertise", "no", *extra]
    return subprocess.Popen([sys.executable, "-c", WRAPPER, *argv], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def listener(broker_port: int) -> Iterator[Listener]:
    listener = Listener(broker_port)
    yield listener
    listener.close()


@pytest.fixture
def agent(broker_port: int, tmp_path: Path, listener: Listener
          ) -> Iterator[subprocess.Popen[str]]:
    process = start_agent(broker_port, tmp_path)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def start(container: str, command_id: str) -> bytes:
    return encode(Command(v=SCHEMA, id=command_id, kind="start", sent=time.time(),
                          args={"container": container}))


def test_online_then_heartbeats_with_budgets_and_a_dead_dockerd(
        agent: subprocess.Popen[str], listener: Listener, tmp_path: Path) -> None:
    assert listener.state().state == "online"
    budget = profiles.get(PROFILE).budget
    beats = [listener.heartbeat() for _ in range(3)]
    assert [b.seq for b in beats] == sorted({b.seq for b in beats})
    for beat in beats:
        assert (beat.mem_budget_mb, beat.disk_budget_mb) == (budget.mem_mb, budget.disk_mb)
        assert beat.containers is None
        assert any(p.startswith("docker:") for p in beat.problems)
        assert beat.mem_total_mb > 0 and beat.disk_total_mb > 0
    assert beats[-1].impedance.latency_ms > 0  # its own echo made it round the broker
    assert (tmp_path / "alive").exists()


def test_ping_is_answered_ready_and_a_start_on_a_dead_engine_conflicts(
        agent: subprocess.Popen[str], listener: Listener) -> None:
    listener.heartbeat()
    ping = Command(v=SCHEMA, id="ping-1", kind="ping", sent=1_795_000_000.25,
                   ttl_s=10**10)
    listener.send(encode(ping))
    ack = listener.ack("ping-1")
    assert (ack.result, ack.sent, ack.kind) == (READY, ping.sent, "ping")

    listener.send(start("web", "start-1"))
    ack = listener.ack("start-1")
    assert ack.result == CONFLICT and "engine" in ack.detail


def test_a_garbage_command_is_dropped_and_the_agent_beats_on(
        agent: subprocess.Popen[str], listener: Listener) -> None:
    first = listener.heartbeat()
    listener.send(b"\xff not json")
    listener.send(b'{"v": 1, "id": "x", "kind": "rm -rf", "sent": 1}')
    while (beat := listener.heartbeat()).seq <= first.seq + 1:
        pass
    assert agent.poll() is None
    assert beat.seq > first.seq + 1


def test_sigkill_makes_the_broker_publish_the_offline_last_will(
        agent: subprocess.Popen[str], listener: Listener) -> None:
    assert listener.state().state == "online"
    listener.heartbeat()
    agent.kill()
    started = time.monotonic()
    assert listener.state(timeout=1.0).state == "offline"
    assert time.monotonic() - started < 1.0


def test_sigterm_says_offline_and_exits_0_without_heavy_imports(
        agent: subprocess.Popen[str], listener: Listener) -> None:
    assert listener.state().state == "online"
    listener.heartbeat()
    agent.send_signal(signal.SIGTERM)
    assert listener.state().state == "offline"
    out, err = agent.communicate(timeout=10)
    assert agent.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_it_starts_before_the_broker_and_connects_when_it_comes(tmp_path: Path) -> None:
    from fleet.lab.broker import free_port, loopback_mosquitto

    port = free_port()
    process = start_agent(port, tmp_path)
    try:
        time.sleep(0.3)  # its first connection attempt has failed by now
        assert process.poll() is None
        with loopback_mosquitto(tmp_path, port):
            listener = Listener(port)
            try:
                # paho's first retry comes within its 1 s minimum backoff.
                assert listener.state(timeout=5).state == "online"
                listener.heartbeat()
            finally:
                listener.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "fleet.agent", "--id", "Not_Valid", "--profile",
                          PROFILE], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "invalid device id" in run.stderr
