"""Command admission: expired, bad args, too late, queue full, or queued (in transit or not)."""

from __future__ import annotations

import pytest

from fleet.agent.commands import Queue, Refuse, admit, args_problem
from fleet.wire import SCHEMA, Command

NOW = 1_795_000_000.0


def command(kind: str = "start", *, container: str | None = "web", sent: float = NOW - 0.1,
            **fields: object) -> Command:
    args = {} if container is None else {"container": container}
    return Command(v=SCHEMA, id="c1", kind=kind, sent=sent, args=args,  # type: ignore[arg-type]
                   **fields)  # type: ignore[arg-type]


def decide(cmd: Command, *, waiting: int = 0, busy: bool = False) -> Refuse | Queue:
    return admit(cmd, now=NOW, waiting=waiting, busy=busy, capacity=4)


def test_an_idle_agent_queues_without_transit() -> None:
    assert decide(command()) == Queue(transit=False)


@pytest.mark.parametrize(("waiting", "busy", "at"), [
    (1, False, None), (0, True, None), (0, False, NOW + 2.0),
])
def test_transit_when_behind_others_or_waiting_for_at(waiting: int, busy: bool,
                                                       at: float | None) -> None:
    assert decide(command(at=at), waiting=waiting, busy=busy) == Queue(transit=True)


def test_expired_after_sent_plus_ttl() -> None:
    decision = decide(command(sent=NOW - 31, ttl_s=30))
    assert isinstance(decision, Refuse) and decision.detail.startswith("expired")
    assert decide(command(sent=NOW - 29, ttl_s=30)) == Queue(transit=False)


def test_queue_full() -> None:
    assert decide(command(), waiting=4) == Refuse("queue full (4 waiting)")


def test_an_at_after_expiry_is_refused() -> None:
    decision = decide(command(at=NOW + 60, ttl_s=30))
    assert isinstance(decision, Refuse) and "'at'" in decision.detail


@pytest.mark.parametrize(("kind", "args", "problem"), [
    ("start", {"container": "web-1_a.b"}, None),
    ("stop", {"container": "a" * 128}, None),
    ("ping", {}, None),
    ("restart", {}, "bad args: 'container' is required"),
    ("start", {"container": "a" * 129}, "invalid container name"),
    ("start", {"container": "-web"}, "invalid container name"),
    ("start", {"container": "../../images/json"}, "invalid container name"),
    ("start", {"container": "web?force=1"}, "invalid container name"),
    ("start", {"container": ""}, "invalid container name"),
    ("start", {"container": "web", "force": "1"}, "bad args: unexpected force"),
    ("ping", {"container": "web"}, "bad args: ping takes none"),
])
def test_args(kind: str, args: dict[str, str], problem: str | None) -> None:
    cmd = Command(v=SCHEMA, id="c1", kind=kind, sent=NOW, args=args)  # type: ignore[arg-type]
    found = args_problem(cmd)
    assert found == problem if problem is None else problem in (found or "")
    if problem:
        assert decide(cmd) == Refuse(found or "")
