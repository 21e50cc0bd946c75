"""`fleet deploy` and the TUI's deploy: read the boards, plan, record the deploy, make room
where a board is too full, apply, and record how each device ended.

One sequence for both callers, so they cannot drift: the deploy is recorded
in the store before anything is changed; a board too full for its images is
first cleaned of just enough by the cleanup policy (unless `make_room` is
off), and each time that happens is an event; the record is finished with
every device's outcome. Nothing is recorded or changed when the stack does
not fit or on a dry run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from fleet.cleanup import board
from fleet.config.stack import Stack
from fleet.deploy.apply import Connect, DeviceResult, Prepared, apply, prepare
from fleet.deploy.images import ImageSource
from fleet.fanout import QUIET, Progress, all_ok
from fleet.model import Device
from fleet.render.deploy import deploy_json

MAKE_ROOM_EVENT = "cleanup_make_room"


class Recorder(Protocol):
    """Where deploys are recorded (fleet.health.store.Store)."""

    def deployment_started(self, at: float, stack: str, plan: str,
                           devices: Mapping[str, str]) -> int: ...

    def deployment_finished(self, deployment: int, at: float,
                            results: Mapping[str, tuple[bool, str]]) -> None: ...

    def event(self, at: float, device: str, kind: str, detail: str = "") -> None: ...


# Opened only when a deploy is about to act, on the thread that runs it (SQLite's rule).
OpenRecorder = Callable[[], AbstractContextManager[Recorder]]


@dataclass(frozen=True, slots=True)
class Options:
    """How to deploy: `fleet deploy`'s flags."""

    dry_run: bool = False
    make_room: bool = True
    parallel: int = 4  # devices changed at once; they are read 8 or more at a time
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What a deploy acts through: the boards, the image source, the store, a clock, progress."""

    connect: Connect
    source: ImageSource | None
    open_recorder: OpenRecorder
    clock: Callable[[], float] = time.time
    progress: Progress = QUIET


@dataclass(frozen=True, slots=True)
class Deployed:
    """How a deploy went: what it read and planned and, if it acted, each device's result."""

    prepared: Prepared
    results: tuple[DeviceResult, ...] = ()
    deployment: int | None = None  # the store's id, once recorded
    dry_run: bool = False

    @property
    def unplaced(self) -> bool:
        """The stack does not fit: nothing was changed."""
        return bool(self.prepared.plan.unplaced)

    @property
    def acted(self) -> bool:
        return self.deployment is not None

    @property
    def ok(self) -> bool:
        if self.unplaced:
            return False
        if not self.acted:
            return not self.prepared.failed
        return all_ok(self.results)

    def json(self) -> dict[str, object]:
        """`fleet deploy --json`."""
        return deploy_json(self.prepared, self.results if self.acted else None, self.deployment)


def deploy(stack: Stack, devices: Sequence[Device], using: Collaborators,
           options: Options = Options(), *,
           before_acting: Callable[[Prepared], None] = lambda _p: None) -> Deployed:
    """Deploy `stack` onto `devices`; `before_acting` sees the plan's diff just before any
    device is changed (the CLI prints it). Every connection is closed on return."""
    prepared = prepare(stack, devices, using.connect, using.source,
                       parallel=max(options.parallel, 8), seed=options.seed, now=using.clock(),
                       progress=using.progress)
    try:
        if prepared.plan.unplaced or options.dry_run:
            return Deployed(prepared, dry_run=options.dry_run)
        before_acting(prepared)
        return _act(stack, devices, prepared, using, options)
    finally:
        prepared.close()


def _act(stack: Stack, devices: Sequence[Device], prepared: Prepared, using: Collaborators,
         options: Options) -> Deployed:
    with using.open_recorder() as recorder:
        deployment = recorder.deployment_started(
            using.clock(), stack.name, json.dumps(deploy_json(prepared, None, None)),
            {d: f"{len(s.changes)} change(s)" for d, s in prepared.steps.items()})
        room = board.make_room({s.image for s in stack.services}) if options.make_room else None
        results = apply(prepared, using.source, parallel=options.parallel,
                        keep_free_pct=keep_free_pct(devices), make_room=room,
                        progress=using.progress)
        recorder.deployment_finished(deployment, using.clock(),
                                     {r.device: (r.ok, r.error) for r in results})
        for r in results:
            if r.room:  # the cleanup policy acted on its own: an event, as the daemon's are
                recorder.event(using.clock(), r.device, MAKE_ROOM_EVENT, r.room)
    return Deployed(prepared, tuple(results), deployment)


def keep_free_pct(devices: Sequence[Device]) -> dict[str, int]:
    """The share of its disk each device's profile keeps free of pushes."""
    return {d.id: d.profile.reserve.free_disk_pct for d in devices}
