"""What to do with an arriving command: refuse it, or queue it (in transit or not). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleet.wire import Command

CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
CONTAINER_KINDS = frozenset({"start", "stop", "restart"})


@dataclass(frozen=True, slots=True)
class Refuse:
    detail: str


@dataclass(frozen=True, slots=True)
class Queue:
    transit: bool  # it will not take effect at once: others are ahead, or `at` is later


def args_problem(command: Command) -> str | None:
    """Why the command's args are wrong for its kind, or None if they are right."""
    if command.kind not in CONTAINER_KINDS:
        return None if not command.args else f"bad args: {command.kind} takes none"
    extra = sorted(set(command.args) - {"container"})
    if extra:
        return f"bad args: unexpected {', '.join(extra)}"
    name = command.args.get("container")
    if name is None:
        return "bad args: 'container' is required"
    if not CONTAINER_NAME.fullmatch(name):
        # The name goes into an Engine API path: only docker's own name characters pass.
        return f"bad args: invalid container name {name[:140]!r}"
    return None


def admit(command: Command, *, now: float, waiting: int, busy: bool,
          capacity: int) -> Refuse | Queue:
    """Refuse an expired, malformed or unqueueable command; otherwise queue it.

    A command is valid until `sent + ttl_s`, so one whose `at` lies beyond
    that is refused too: it would act after it had expired.
    """
    deadline = command.sent + command.ttl_s
    if now > deadline:
        return Refuse(f"expired: arrived {now - deadline:.3f} s after its ttl")
    problem = args_problem(command)
    if problem is not None:
        return Refuse(problem)
    if command.at is not None and command.at > deadline:
        return Refuse("bad args: 'at' is after the command expires (sent + ttl_s)")
    if waiting >= capacity:
        return Refuse(f"queue full ({capacity} waiting)")
    later = command.at is not None and command.at > now
    return Queue(transit=waiting > 0 or busy or later)
