"""The agent's behaviour, between the MQTT link and the board: routes commands, beats the heart.

Clocks and outside parts are parameters, so tests can drive one heartbeat
or one command by hand.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from fleet.agent.heartbeat import Readings, assemble
from fleet.agent.tracker import Tracker
from fleet.agent.worker import Worker, ack
from fleet.model import Resources
from fleet.wire import READY, SCHEMA, Command, Heartbeat, WireError, decode_command, encode

log = logging.getLogger(__name__)

BAD_PAYLOAD_LOG_EVERY_S = 60.0


class Bus(Protocol):
    """What the agent needs of its MQTT link."""

    def heartbeat(self, beat: Heartbeat) -> bool: ...
    def ack(self, payload: bytes) -> None: ...
    def command(self, command: Command) -> bool: ...


class Agent:
    def __init__(self, *, bus: Bus, read: Callable[[], Readings], worker: Worker,
                 tracker: Tracker, budget: Resources, interval_s: float | None = None,
                 alive_file: Path | None = None, run: str | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._bus = bus
        self._read = read
        self._worker = worker
        self._tracker = tracker
        self._budget = budget
        self._interval_s = interval_s
        self._alive_file = alive_file
        self._clock = clock
        self._monotonic = monotonic
        self._seq = 0
        self.run = run or os.urandom(8).hex()  # seq counts within this run; a restart makes another
        self._echo_token = os.urandom(4).hex()  # our echoes' ids, unlike any controller's
        self.bad_payloads = 0
        self._bad_logged_at: float | None = None
        self._alive_problem: str | None = None

    def on_command(self, payload: bytes) -> None:
        """From paho's thread: answer pings here, hand the rest to the worker, never block."""
        received = self._clock()
        arrived = self._monotonic()
        try:
            command = decode_command(payload)
        except WireError as e:
            self._bad_payload(e)
            return
        if command.kind != "ping":
            self._worker.offer(command, received)
        elif not self._tracker.echo_received(command.id, arrived):
            # A ping measures the link and does no work: answer it at once.
            self._bus.ack(encode(ack(command, READY, received, done=received,
                                     queue=self._worker.depth)))

    def _bad_payload(self, error: WireError) -> None:
        self.bad_payloads += 1
        now = self._monotonic()
        if self._bad_logged_at is None or now - self._bad_logged_at >= BAD_PAYLOAD_LOG_EVERY_S:
            self._bad_logged_at = now
            log.warning("dropped a bad command (%d so far): %s", self.bad_payloads, error)

    def tick(self) -> Heartbeat:
        """One round: send an echo for the next round's latency, then the heartbeat."""
        self._seq += 1
        echo = Command(v=SCHEMA, id=f"echo-{self._echo_token}-{self._seq}", kind="ping",
                       sent=self._clock())
        self._tracker.echo_sent(echo.id, self._monotonic())
        self._bus.command(echo)
        readings = self._read()
        if self._alive_problem:
            readings = _with_problem(readings, self._alive_problem)
        beat = assemble(self._seq, self._clock(), readings, self._budget,
                        self._tracker.impedance(self._worker.depth), self._interval_s,
                        self.run)
        if self._bus.heartbeat(beat):
            self._touch_alive()
        return beat

    def _touch_alive(self) -> None:
        """For the image's health check; failing to write it must not stop the heartbeats."""
        if self._alive_file is None:
            return
        try:
            self._alive_file.touch()
        except OSError as e:
            problem = f"alive file: {self._alive_file}: {e.strerror}"
            if problem != self._alive_problem:
                log.warning("%s", problem)
            self._alive_problem = problem
        else:
            self._alive_problem = None


def _with_problem(readings: Readings, problem: str) -> Readings:
    return replace(readings, problems=(*readings.problems, problem))
