"""The one fan-out: bounded, results in input order, one item's failure its own result."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from fleet.cleanup.board import DeviceCleanup
from fleet.deploy.apply import DeviceResult
from fleet.deploy.enroll import EnrollResult
from fleet.fanout import (
    QUIET,
    Background,
    Outcome,
    Stages,
    all_ok,
    failures,
    fan_out,
    fan_out_or_raise,
    unexpected,
)
from fleet.lab.lab import DeviceStatus

WAIT_S = 10.0  # a generous bound on a wait that a correct fan-out ends at once


@dataclass(frozen=True, slots=True)
class Done:
    device: str
    ok: bool = True
    error: str | None = None


def test_at_most_parallel_items_run_at_once_and_that_many_do() -> None:
    lock = threading.Lock()
    active, peak = [0], [0]
    # Two items must meet to pass: with a bound of one this would break, not hang.
    meet = threading.Barrier(2, timeout=WAIT_S)

    def work(item: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        meet.wait()
        with lock:
            active[0] -= 1
        return item

    assert fan_out(range(6), work, parallel=2, failed=lambda _i, e: -1) == list(range(6))
    assert peak[0] == 2


def test_results_come_in_input_order_when_items_finish_in_reverse() -> None:
    finished = [threading.Event() for _ in range(4)]

    def work(item: int) -> str:
        if item + 1 < len(finished):  # each waits for the next one to finish first
            assert finished[item + 1].wait(WAIT_S)
        finished[item].set()
        return f"item {item}"

    results = fan_out(range(4), work, parallel=4, failed=lambda i, e: f"failed {i}")
    assert results == ["item 0", "item 1", "item 2", "item 3"]


def test_a_failing_item_becomes_its_own_result_and_the_others_still_run() -> None:
    def work(device: str) -> Done:
        if device == "b":
            raise ValueError("bad answer")
        return Done(device)

    results = fan_out(["a", "b", "c"], work, parallel=1,
                      failed=lambda d, e: Done(d, False, unexpected(e)))
    assert results == [Done("a"), Done("b", False, "unexpected ValueError: bad answer"),
                       Done("c")]
    assert not all_ok(results)
    assert failures(results) == {"b": "unexpected ValueError: bad answer"}


def test_fan_out_or_raise_runs_every_item_then_raises_the_first_failure_in_order() -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> int:
        with lock:
            ran.append(item)
        if item in (1, 3):
            raise RuntimeError(f"item {item}")
        return item

    with pytest.raises(RuntimeError, match="item 1"):
        fan_out_or_raise(range(5), work, parallel=2)
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert fan_out_or_raise(range(3), lambda i: i * 2, parallel=2) == [0, 2, 4]


def test_background_futures_hold_results_never_exceptions() -> None:
    release = threading.Event()

    def work(item: str) -> str:
        assert release.wait(WAIT_S)
        if item == "boom":
            raise OSError("gone")
        return item.upper()

    pool = Background(1, name="test")
    first = pool.submit("a", work, lambda i, e: f"{i}: {e}")
    second = pool.submit("boom", work, lambda i, e: f"{i}: {e}")
    queued = pool.submit("c", work, lambda i, e: f"{i}: {e}")
    release.set()
    pool.close(wait=True)
    assert (first.result(), second.result(), queued.result()) == ("A", "boom: gone", "C")


def test_background_close_with_cancel_drops_work_not_started() -> None:
    started, release = threading.Event(), threading.Event()

    def work(item: str) -> str:
        started.set()
        assert release.wait(WAIT_S)
        return item

    pool = Background(1)
    running = pool.submit("a", work, lambda i, e: "failed")
    assert started.wait(WAIT_S)
    waiting = pool.submit("b", work, lambda i, e: "failed")
    pool.close(wait=False, cancel=True)
    release.set()
    assert running.result(WAIT_S) == "a"
    assert waiting.cancelled()


def test_stages_forwards_stages_only_and_quiet_says_nothing() -> None:
    told: list[tuple[str, str]] = []
    progress = Stages(lambda d, text: told.append((d, text)))
    progress.stage("pi-1", "connecting")
    progress.expect("pi-1", 10)
    progress.sent("pi-1", 5)
    QUIET.stage("pi-1", "ignored")
    assert told == [("pi-1", "connecting")]


def test_every_per_device_result_has_the_one_shape() -> None:
    # Typed as Outcomes, so mypy checks each type has the shape; the values check the meaning.
    results: list[Outcome] = [
        DeviceResult("pi-01", True), DeviceResult("pi-02", False, "refused"),
        DeviceCleanup("pi-03", error="unreachable"), EnrollResult("pi-04"),
        EnrollResult("pi-05", error="agent: crashed"),
        DeviceStatus("pi-06", "10.0.0.6", "pi4b-8g", ssh=True, docker=False, agent=None),
        DeviceStatus("pi-07", "10.0.0.7", "pi4b-8g", ssh=True, docker=True, agent=True)]
    assert failures(results) == {"pi-02": "refused", "pi-03": "unreachable",
                                 "pi-05": "agent: crashed", "pi-06": "docker not answering"}
