"""The agent's routing and heartbeat round, with a fake bus and fake readings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fleet import profiles
from fleet.agent.agent import Agent
from fleet.agent.heartbeat import Readings
from fleet.agent.readings import Disk, Memory
from fleet.agent.tracker import Tracker
from fleet.agent.worker import Worker
from fleet.wire import READY, SCHEMA, Command, Heartbeat, decode_ack, encode

NOW = 1_795_000_000.0


class Bus:
    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.beats: list[Heartbeat] = []
        self.acks: list[bytes] = []
        self.commands: list[Command] = []

    def heartbeat(self, beat: Heartbeat) -> bool:
        self.beats.append(beat)
        return self.connected

    def ack(self, payload: bytes) -> None:
        self.acks.append(payload)

    def command(self, command: Command) -> bool:
        self.commands.append(command)
        return self.connected


def make(bus: Bus, alive_file: Path | None = None) -> tuple[Agent, Tracker, list[float]]:
    tracker = Tracker()
    worker = Worker(lambda action, name: None, lambda ack: bus.ack(encode(ack)), tracker,
                    capacity=4, clock=lambda: NOW)
    ticks = [100.0]
    agent = Agent(bus=bus, worker=worker, tracker=tracker,
                  read=lambda: Readings(cpu_pct=5, load1=0.1, memory=Memory(100, 8192),
                                        disk=Disk(1000, 30000, 29000)),
                  budget=profiles.get("pi4b-8g").budget, alive_file=alive_file,
                  clock=lambda: NOW, monotonic=lambda: ticks[0])
    return agent, tracker, ticks


def test_a_ping_is_answered_at_once_with_ready() -> None:
    bus = Bus()
    agent, _, _ = make(bus)
    agent.on_command(encode(Command(v=SCHEMA, id="p1", kind="ping", sent=NOW - 0.5)))
    ack = decode_ack(bus.acks[0])
    assert (ack.id, ack.result, ack.sent, ack.received, ack.done) == (
        "p1", READY, NOW - 0.5, NOW, NOW)


def test_its_own_echo_is_timed_not_answered(tmp_path: Path) -> None:
    bus = Bus()
    agent, _, ticks = make(bus, tmp_path / "alive")
    first = agent.tick()
    assert first.impedance.latency_ms == 0 and (tmp_path / "alive").exists()
    echo = bus.commands[0]
    ticks[0] += 0.006
    agent.on_command(encode(echo))
    assert bus.acks == []
    assert agent.tick().impedance.latency_ms == pytest.approx(3.0)
    assert [b.seq for b in bus.beats] == [1, 2]


def test_bad_payloads_are_counted_and_logged_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    agent, _, ticks = make(bus)
    with caplog.at_level(logging.WARNING):
        for payload in (b"garbage", b"{}", b'{"v": 2, "id": "x", "kind": "ping", "sent": 1}'):
            agent.on_command(payload)
        ticks[0] += 61
        agent.on_command(b"[]")
    assert agent.bad_payloads == 4
    assert len(caplog.records) == 2
    assert bus.acks == []


def test_an_unwritable_alive_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    bus = Bus()
    agent, _, _ = make(bus, tmp_path / "no-such-dir" / "alive")
    agent.tick()
    assert any(p.startswith("alive file:") for p in agent.tick().problems)


def test_no_alive_file_while_the_broker_is_away(tmp_path: Path) -> None:
    agent, _, _ = make(Bus(connected=False), tmp_path / "alive")
    agent.tick()
    assert not (tmp_path / "alive").exists()
