"""The command worker: order, `at`, acks and failures, with a fake engine and clock."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from fleet.agent.engine import EngineError, NoSuchContainer
from fleet.agent.tracker import Tracker
from fleet.agent.worker import Worker
from fleet.wire import CONFLICT, READY, SCHEMA, TRANSIT, Ack, Command

NOW = 1_795_000_000.0


class Engine:
    """Records actions, or fails them with `fail`."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []
        self.fail: EngineError | None = None

    def act(self, action: str, name: str) -> None:
        if self.fail:
            raise self.fail
        self.done.append((action, name))


class Harness:
    def __init__(self, capacity: int = 2) -> None:
        self.engine = Engine()
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.tracker = Tracker()
        self.now = NOW
        self.worker = Worker(self.engine.act, self.acks.put, self.tracker, capacity=capacity,
                             clock=lambda: self.now)

    def offer(self, command_id: str, kind: str = "start", container: str = "web",
              at: float | None = None) -> None:
        command = Command(v=SCHEMA, id=command_id, kind=kind,  # type: ignore[arg-type]
                          sent=self.now, args={"container": container}, at=at)
        self.worker.offer(command, self.now)

    def ack(self) -> Ack:
        return self.acks.get(timeout=5)


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    harness.worker.start()
    yield harness
    harness.worker.stop()


def test_a_start_is_done_and_acked_ready(h: Harness) -> None:
    h.offer("c1")
    ack = h.ack()
    assert (ack.id, ack.result, ack.done, ack.received) == ("c1", READY, NOW, NOW)
    assert h.engine.done == [("start", "web")]
    assert h.tracker.impedance(0).reliability == 1.0


def test_queued_behind_another_is_in_transit_and_a_full_queue_refuses() -> None:
    h = Harness(capacity=2)  # the worker has not started, so nothing leaves the queue
    h.offer("c1")
    h.offer("c2", "stop")
    h.offer("c3", "restart")
    transit, full = h.ack(), h.ack()
    assert (transit.id, transit.result, transit.queue) == ("c2", TRANSIT, 2)
    assert (full.id, full.result, full.detail) == ("c3", CONFLICT, "queue full (2 waiting)")
    h.worker.start()
    assert [(a.id, a.result) for a in (h.ack(), h.ack())] == [("c1", READY), ("c2", READY)]
    assert h.engine.done == [("start", "web"), ("stop", "web")]
    assert h.worker.depth == 0
    h.worker.stop()


def test_it_waits_for_at() -> None:
    h = Harness()
    h.offer("c1", at=NOW + 0.2)  # not started: it stays queued
    assert h.ack().result == TRANSIT
    h.worker.start()
    assert h.engine.done == []
    h.now = NOW + 0.3  # the fake clock reaches T; the worker's next wait sees it
    ack = h.ack()
    assert (ack.result, ack.done) == (READY, NOW + 0.3)
    h.worker.stop()


def test_unknown_container_and_engine_errors_conflict(h: Harness) -> None:
    h.engine.fail = NoSuchContainer("unknown container 'db'")
    h.offer("c1", container="db")
    assert (h.ack().detail, h.worker.depth) == ("unknown container 'db'", 0)
    h.engine.fail = EngineError("/var/run/docker.sock: Connection refused")
    h.offer("c2")
    ack = h.ack()
    assert ack.result == CONFLICT and ack.detail.startswith("engine error:")
    assert h.tracker.impedance(0).reliability == 0.0


def test_a_refused_command_is_acked_at_once_and_counted(h: Harness) -> None:
    h.offer("c1", container="../etc")
    ack = h.ack()
    assert ack.result == CONFLICT and "invalid container name" in ack.detail
    assert h.engine.done == []
    assert h.tracker.impedance(0).reliability == 0.0


def test_stopping_gives_up_a_command_waiting_for_at() -> None:
    h = Harness()
    h.worker.start()
    h.offer("c1", at=NOW + 20)
    assert h.ack().result == TRANSIT
    h.worker.stop()
    assert h.ack().detail == "agent stopping"
