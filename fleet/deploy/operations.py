"""Facts + wanted containers -> only the steps needed, the sh that takes them, and its report.

Pure: idempotence and `--dry-run` come from here. A device whose facts
already match what the plan wants gets no step that changes anything.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fleet.deploy.containers import ConfigFile, ContainerSpec
from fleet.deploy.facts import Facts


class Action(StrEnum):
    PUSH = "push"  # send the image's missing layers
    FILE = "file"  # write a config file
    CREATE = "create"
    REPLACE = "replace"  # a new revision; the previous one kept, stopped, for rollback
    START = "start"  # the right revision, stopped
    REMOVE = "remove"  # the stack's container the plan no longer wants
    KEEP = "keep"


SYMBOL = {Action.PUSH: ">", Action.FILE: ">", Action.CREATE: "+", Action.REPLACE: "~",
          Action.START: "^", Action.REMOVE: "-", Action.KEEP: "="}


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    target: str  # a container's name, an image's ref or a file's path
    detail: str = ""

    def __str__(self) -> str:
        tail = f"  ({self.detail})" if self.detail else ""
        return f"{SYMBOL[self.action]} {self.action:<7} {self.target}{tail}"


@dataclass(frozen=True, slots=True)
class DeviceSteps:
    """What one device needs: its steps, and what the steps use."""

    device: str
    steps: tuple[Step, ...]
    wanted: tuple[ContainerSpec, ...]
    blocked: str = ""  # why nothing may be done on this device

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action is not Action.KEEP)

    def of(self, action: Action) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action is action)

    def files(self) -> tuple[ConfigFile, ...]:
        """The config files to write."""
        paths = {s.target for s in self.of(Action.FILE)}
        return tuple({f.path: f for c in self.wanted for f in c.files
                      if f.path in paths}.values())


def steps(facts: Facts, stack: str, wanted: Sequence[ContainerSpec]) -> DeviceSteps:
    """Compare what the device runs of `stack` with `wanted`; emit only what differs."""
    found: list[Step] = []
    have_ids = set(facts.images.values())
    for ref, image_id in _unique((c.image, c.image_id) for c in wanted):
        if image_id not in have_ids:
            found.append(Step(Action.PUSH, ref, image_id.removeprefix("sha256:")[:12]))
    for path, digest in _unique((f.path, f.sha256) for c in wanted for f in c.files):
        if facts.files.get(path) != digest:
            found.append(Step(Action.FILE, path, "new" if path not in facts.files else "changed"))
    by_name = {c.name: c for c in facts.containers}
    blocked = [c.name for c in wanted if c.name in by_name and by_name[c.name].stack != stack]
    if blocked:
        return DeviceSteps(facts.device, tuple(found), tuple(wanted),
                           f"container {blocked[0]} exists and is not stack {stack}'s: "
                           "rename or remove it, or rename the stack")
    for c in wanted:
        have = by_name.get(c.name)
        if have is None:
            found.append(Step(Action.CREATE, c.name))
        elif have.revision != c.revision:
            found.append(Step(Action.REPLACE, c.name,
                              f"revision {have.revision or '?'} -> {c.revision}"))
        elif not have.running:
            found.append(Step(Action.START, c.name, f"was {have.state}"))
        else:
            found.append(Step(Action.KEEP, c.name))
    names = {c.name for c in wanted}
    for have in facts.stack(stack):
        if have.name not in names and not have.is_previous:
            found.append(Step(Action.REMOVE, have.name, f"{have.service} not wanted here"))
    return DeviceSteps(facts.device, tuple(found), tuple(wanted))


def apply_script(device: DeviceSteps) -> str:
    """The calls appended to playbooks/apply.sh for this device's container steps ("" if none)."""
    specs = {c.name: c for c in device.wanted}
    lines = []
    for step in device.steps:
        if step.action in (Action.CREATE, Action.REPLACE, Action.START):
            c = specs[step.target]
            lines.append(shlex.join(["fleet_ensure", c.name, c.revision, *c.run_args()]))
        elif step.action is Action.REMOVE:
            lines.append(shlex.join(["fleet_remove", step.target]))
    if not lines:
        return ""
    return "\n".join([*lines, "fleet_verify", "fleet_done", ""])


@dataclass(frozen=True, slots=True)
class Applied:
    """What the apply playbook reported: each container's outcome."""

    outcomes: Mapping[str, str]  # name -> created|replaced|started|kept|removed|failed|rolledback
    failures: Mapping[str, str]  # name -> why

    @property
    def ok(self) -> bool:
        return not self.failures


OUTCOMES = ("kept", "created", "replaced", "started", "removed", "failed", "rolledback")


def parse_applied(text: str) -> Applied:
    """The apply playbook's lines -> outcomes; other lines (docker's noise) are ignored."""
    outcomes: dict[str, str] = {}
    failures: dict[str, str] = {}
    for line in text.splitlines():
        verb, _, rest = line.partition(" ")
        name, _, why = rest.partition(" ")
        if verb not in OUTCOMES or not name:
            continue
        if verb == "failed":
            failures[name] = why
        if verb != "rolledback" or name not in outcomes:
            outcomes[name] = verb
    return Applied(outcomes, failures)


def _unique(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))
