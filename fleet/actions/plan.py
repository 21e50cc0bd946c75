"""`fleet plan` and the TUI's plan: a stack onto the fleet, against the inventory's budgets or
against what the boards run (the state `fleet deploy` plans against), saying which.

With `boards`, the devices are read exactly as a deploy reads them (the same
`fleet.deploy.apply.prepare`: each board's facts, the ports others hold, the
stack's replicas running now, each image's architecture), so the plan is the
one `fleet deploy` would make. Without, it is the inventory's devices as if
empty, which needs no board and no image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from fleet import profiles, scheduler
from fleet.config.stack import Stack
from fleet.deploy.apply import Connect, prepare
from fleet.deploy.images import ImageSource
from fleet.fanout import QUIET, Progress
from fleet.model import Device, DeviceState, Placement, Plan, Service
from fleet.render.plan import plan_json, render


class Basis(StrEnum):
    """What a plan was made against."""

    INVENTORY = "inventory"  # the inventory's budgets, every device as if empty
    BOARDS = "boards"  # what the boards run, as `fleet deploy` reads them


NOTES = {
    Basis.INVENTORY: "planned against the inventory's budgets, not what runs: the boards "
                     "were not read (`fleet deploy` plans against what they run; "
                     "`fleet plan --boards` reads them)",
    Basis.BOARDS: "planned against what the boards run, as `fleet deploy` plans",
}


@dataclass(frozen=True, slots=True)
class Boards:
    """How to read the boards for a plan: the deploy's connection factory and image source."""

    connect: Connect
    source: ImageSource | None
    progress: Progress = QUIET
    parallel: int = 8


@dataclass(frozen=True, slots=True)
class Need:
    """`--need PROFILE`: how many more of it would place everything (None: no number does)."""

    profile: str
    count: int | None

    def line(self) -> str:
        if self.count is None:
            return f"no number of {self.profile} places everything (see the reasons)"
        if self.count == 0:
            return f"everything fits already: no {self.profile} to add"
        return f"to place everything, add {self.count} x {self.profile}"


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan and what it was made against; `unread`: boards that could not be read."""

    stack: str
    plan: Plan
    basis: Basis
    need: Need | None = None
    unread: Mapping[str, str] = field(default_factory=dict)  # device -> why
    per_board: frozenset[str] = frozenset()  # the global services (deploy.mode: global)

    def json(self) -> dict[str, Any]:
        """`fleet plan --json`: the plan, what it was made against, and `--need`'s answer."""
        document = plan_json(self.plan, self.per_board) | {
            "basis": str(self.basis), "basis_note": self.note, "unread": dict(self.unread)}
        if self.need is not None:
            document["need"] = {"profile": self.need.profile, "count": self.need.count}
        return document

    def render(self, *, verbose: bool = False) -> RenderableType:
        """The plan for a terminal, ending in what it was made against and `--need`'s line;
        every replica named with `verbose`."""
        parts = [render(self.plan, basis=self.note, per_board=self.per_board, verbose=verbose)]
        if self.need is not None:
            parts.append(Text(self.need.line()))
        return Group(*parts)

    @property
    def note(self) -> str:
        unread = f"; {len(self.unread)} board(s) could not be read and count as empty" \
            if self.unread else ""
        return NOTES[self.basis] + unread


def plan(stack: Stack, devices: Sequence[Device], *, boards: Boards | None = None,
         what_if: Sequence[str] = (), need: str | None = None, seed: int = 0,
         clock: Callable[[], float] = time.time) -> Planned:
    """Plan `stack` onto `devices`, against the boards if given, else the inventory.

    `what_if`: texts like "pi4b-8g:2" adding imaginary empty devices; `need`: a
    profile, to say how many of it would place everything."""
    extra = [pair for text in what_if for pair in profiles.parse_counts(text, "--what-if")]
    wanted = profiles.get(need, field="--need") if need else None
    now = clock()
    states: Sequence[Device | DeviceState] = devices
    services: Sequence[Service] = stack.services
    running: Sequence[Placement] = ()
    unread: dict[str, str] = {}
    as_deployed: Plan | None = None
    if boards is not None:
        prepared = prepare(stack, devices, boards.connect, boards.source,
                           parallel=boards.parallel, seed=seed, now=now,
                           progress=boards.progress)
        prepared.close()  # reading is all a plan needs of them
        states, services, running = prepared.states, prepared.services, prepared.running
        unread, as_deployed = dict(prepared.failed), prepared.plan
    fleet = scheduler.what_if(states, extra)
    result = as_deployed if as_deployed is not None and not extra else scheduler.plan(
        fleet, services, running=running, now=now, seed=seed)
    counted = None
    if wanted is not None:
        counted = Need(wanted.name, scheduler.need(wanted, fleet, services, running=running,
                                                   seed=seed))
    basis = Basis.INVENTORY if boards is None else Basis.BOARDS
    return Planned(stack.name, result, basis, counted, unread,
                   frozenset(s.name for s in services if s.per_board))
