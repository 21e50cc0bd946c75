"""Facts + wanted containers -> only the steps needed, the sh that takes them, and its report.

Pure: idempotence and `--dry-run` come from here. A device whose facts
already match what the plan wants gets no step that changes anything.
The stack's networks (fleet.deploy.layout) are made before any container
starts; containers start in waves by `depends_on`, each wave in parallel.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from fleet.deploy.build import BuildWant
from fleet.deploy.containers import ConfigFile, ContainerSpec
from fleet.deploy.facts import Facts
from fleet.deploy.images import normalize_ref
from fleet.deploy.layout import CONDITIONS, Layout, Network, start_waves


class Action(StrEnum):
    PUSH = "push"  # send the image's missing layers
    PULL = "pull"  # the board's dockerd pulls the image from its registry
    BUILD = "build"  # build the image on the board from the context sent (fleet.deploy.build)
    FILE = "file"  # write a config file
    NETWORK = "network"  # create a stack network the board lacks
    CREATE = "create"
    REPLACE = "replace"  # a new revision; the previous one kept, stopped, for rollback
    START = "start"  # the right revision, stopped
    REMOVE = "remove"  # the stack's container the plan no longer wants
    PRUNE = "prune"  # remove a network of the stack's no container here joins any more
    KEEP = "keep"


SYMBOL = {Action.PUSH: ">", Action.PULL: "<", Action.BUILD: ">", Action.FILE: ">",
          Action.NETWORK: "+", Action.CREATE: "+", Action.REPLACE: "~", Action.START: "^",
          Action.REMOVE: "-", Action.PRUNE: "-", Action.KEEP: "="}
_CONTAINER_CHANGES = (Action.CREATE, Action.REPLACE, Action.START)


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
    networks: tuple[Network, ...] = ()  # those the wanted containers join
    # container -> {a container it waits for: the condition}, both on this device
    needs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

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


def steps(facts: Facts, stack: str, wanted: Sequence[ContainerSpec],
          layout: Layout | None = None,
          pulls: Mapping[str, str] | None = None,
          builds: Mapping[str, BuildWant] | None = None) -> DeviceSteps:
    """Compare what the device runs of `stack` with `wanted`; emit only what differs.

    `pulls`: the images the board pulls (ref -> where from), not pushed.
    `builds`: the images built on the board, by ref, and what they are built from."""
    layout = layout or Layout()
    networks = layout.networks_of(c.service for c in wanted)
    needs = _needs(wanted, layout)
    found: list[Step] = []
    have_ids = set(facts.images.values())
    pulls = pulls or {}
    for ref, image_id in _unique((c.image, c.image_id) for c in wanted):
        short = image_id.removeprefix("sha256:")[:12]
        if builds and ref in builds:
            built = builds[ref].built_on(facts.builds)
            if built is None or built[0] != builds[ref].digest:
                found.append(Step(Action.BUILD, ref, builds[ref].describe(built)))
        elif ref in pulls:  # `docker run` names the tag: the board must have it, not the id
            if facts.images.get(normalize_ref(ref)) != image_id:
                found.append(Step(Action.PULL, ref, f"{short} {pulls[ref]}"))
        elif image_id not in have_ids:
            found.append(Step(Action.PUSH, ref, short))
    for path, digest in _unique((f.path, f.sha256) for c in wanted for f in c.files):
        if facts.files.get(path) != digest:
            found.append(Step(Action.FILE, path, "new" if path not in facts.files else "changed"))
    blocked = _blocked(facts, stack, wanted, networks)
    if blocked:
        return DeviceSteps(facts.device, tuple(found), tuple(wanted), blocked, networks, needs)
    found += [Step(Action.NETWORK, n.name, "new") for n in networks
              if not n.external and n.name not in facts.networks]
    found += _container_steps(facts, stack, wanted)
    found += _prunes(facts, stack, networks, found)
    return DeviceSteps(facts.device, tuple(found), tuple(wanted), "", networks, needs)


def _blocked(facts: Facts, stack: str, wanted: Sequence[ContainerSpec],
             networks: Sequence[Network]) -> str:
    """Why nothing may be done on the device ("" if it may)."""
    by_name = {c.name: c for c in facts.containers}
    clashes = [f"container {c.name} exists and is not stack {stack}'s: rename or remove it, "
               "or rename the stack" for c in wanted
               if c.name in by_name and by_name[c.name].stack != stack]
    missing = [f"external network {n.name} does not exist on the board: create it there "
               f"(docker network create {n.name}) or declare it without external: true"
               for n in networks if n.external and n.name not in facts.networks]
    return next(iter(clashes + missing), "")


def _container_steps(facts: Facts, stack: str, wanted: Sequence[ContainerSpec]) -> list[Step]:
    by_name = {c.name: c for c in facts.containers}
    found = []
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
    return found


def _needs(wanted: Sequence[ContainerSpec], layout: Layout) -> dict[str, Mapping[str, str]]:
    """Each container's dependencies on this device: every replica of each, with its condition."""
    replicas: dict[str, list[str]] = {}
    for c in wanted:
        replicas.setdefault(c.service, []).append(c.name)
    return {c.name: {dep: condition
                     for service, condition in layout.depends.get(c.service, {}).items()
                     for dep in replicas.get(service, ())} for c in wanted}


def _prunes(facts: Facts, stack: str, networks: Sequence[Network],
            found: Sequence[Step]) -> list[Step]:
    """The stack's networks on the board that nothing will join once the steps are taken.

    A container being replaced or removed leaves its networks; any other (a
    stopped previous revision, kept for rollback, too) keeps them in use."""
    leaving = {s.target for s in found if s.action in (Action.REPLACE, Action.REMOVE)}
    wanted = {n.name for n in networks}
    used = {net for c in facts.containers if c.name not in leaving for net in c.networks}
    return [Step(Action.PRUNE, name, "no longer used") for name, owner in facts.networks.items()
            if owner == stack and name not in wanted and name not in used]


def apply_script(device: DeviceSteps) -> str:
    """The calls appended to playbooks/apply.sh for this device's steps ("" if none).

    Networks first; then each wave of containers, started in parallel, after
    the conditions it waits for; removals; the check that all stayed up; and
    last the networks nothing joins any more."""
    if not any(s.action in (*_CONTAINER_CHANGES, Action.REMOVE, Action.NETWORK, Action.PRUNE)
               for s in device.steps):
        return ""
    made = {s.target for s in device.of(Action.NETWORK)}
    lines = [shlex.join(["fleet_network", n.name, *n.options]) for n in device.networks
             if n.name in made]
    lines += [shlex.join(["fleet_external", n.name]) for n in device.networks if n.external]
    lines += _waves(device)
    lines += [shlex.join(["fleet_remove", s.target]) for s in device.of(Action.REMOVE)]
    lines.append("fleet_verify")
    lines += [shlex.join(["fleet_prune", s.target]) for s in device.of(Action.PRUNE)]
    return "\n".join([*lines, "fleet_done", ""])


def _waves(device: DeviceSteps) -> list[str]:
    """fleet_ensure calls, wave by wave; before a wave, a fleet_await per condition it needs."""
    specs = {c.name: c for c in device.wanted}
    changed = {s.target for s in device.steps if s.action in _CONTAINER_CHANGES}
    lines: list[str] = []
    awaited: set[tuple[str, str]] = set()
    for wave in start_waves(device.needs or {name: {} for name in specs}):
        starting = [specs[name] for name in wave if name in changed]
        for c in starting:
            for dep, condition in device.needs.get(c.name, {}).items():
                if (dep, condition) not in awaited:
                    awaited.add((dep, condition))
                    lines.append(shlex.join(["fleet_await", dep, CONDITIONS[condition]]))
        lines += [shlex.join(["fleet_ensure", c.name, c.revision,
                              ",".join(device.needs.get(c.name, {})) or "-", *c.run_args()])
                  for c in starting]
        if starting:
            lines.append("fleet_wave")
    return lines


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
