"""Ansible's inventory model, as its YAML and INI readers fill it: groups, hosts, their own vars.

Private to fleet.config. Both readers declare groups, nest them, add hosts and
set vars here; `finish` then applies Ansible's reconcile rules (a group without
a parent is a child of `all`; a host in no group is in `ungrouped`, and only
there) and each group's depth (the longest path from `all`), which orders the
groups' vars (fleet.config.ansible_hosts). Host patterns (`pi-[01:10]`,
`[a:f]`, strides, `host:port`) expand as Ansible's do.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from fleet.config.yamlfile import Node

IMPLICIT = frozenset({"all", "ungrouped"})
PRIORITY = "ansible_group_priority"  # sets the group's priority; never a var of its own
_MAX_HOSTS = 10_000  # from one host pattern
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)")  # Ansible's 'hostport'
_BRACKETED_PORT = re.compile(r"\[(.+)\]:([0-9]+)")  # `[host or IPv6]:port`


@dataclass(slots=True)
class Group:
    """A group as declared: where first, its own vars, its parents, its priority and depth."""

    key: Node
    vars: dict[str, Node] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    priority: int = 1
    depth: int = 0


@dataclass(slots=True)
class HostEntry:
    """A host as declared: where first, its groups in the order it joined them, its own vars."""

    key: Node
    groups: list[str] = field(default_factory=list)
    vars: dict[str, Node] = field(default_factory=dict)


class Graph:
    """One inventory file's groups and hosts, filled by a reader, then `finish`ed."""

    def __init__(self, root: Node) -> None:
        self.groups: dict[str, Group] = {name: Group(root.child(name)) for name in ("all",
                                                                                    "ungrouped")}
        self.groups["ungrouped"].parents.append("all")
        self.hosts: dict[str, HostEntry] = {}

    def group(self, key: Node, name: str) -> Group:
        """Declare `name` (again): the first place it is named is where errors point."""
        return self.groups.setdefault(name, Group(key))

    def add_child(self, parent: str, child: str, key: Node) -> None:
        if child == "all":
            raise key.error("group 'all' cannot be a child: every group is already under it")
        path = self._path(child, parent)
        if path is not None:
            raise key.error(f"group {child!r} contains itself: {' -> '.join((*path, child))}")
        parents = self.groups[child].parents
        if parent not in parents:
            parents.append(parent)

    def _path(self, start: str, goal: str, seen: set[str] | None = None) -> list[str] | None:
        """Groups from `start` down to `goal` through children, if `goal` is under `start`."""
        if start == goal:
            return [start]
        seen = set() if seen is None else seen
        seen.add(start)
        for name, group in self.groups.items():
            if start in group.parents and name not in seen:
                below = self._path(name, goal, seen)
                if below is not None:
                    return [start, *below]
        return None

    def add_host(self, group: str, name: str, key: Node) -> HostEntry:
        entry = self.hosts.setdefault(name, HostEntry(key))
        if group not in entry.groups:
            entry.groups.append(group)
        return entry

    def set_group_var(self, group: str, key: str, value: Node) -> None:
        if key == PRIORITY:
            self.groups[group].priority = _priority(value)
        else:
            self.groups[group].vars[key] = value

    def finish(self) -> None:
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                group.parents.append("all")
        for entry in self.hosts.values():
            inner = [g for g in entry.groups if g not in IMPLICIT]
            entry.groups = inner or ["ungrouped"]
        done: dict[str, int] = {"all": 0}
        for name, group in self.groups.items():
            group.depth = self._depth(name, done)

    def _depth(self, name: str, done: dict[str, int]) -> int:
        if name not in done:
            done[name] = 1 + max(self._depth(p, done) for p in self.groups[name].parents)
        return done[name]

    def member_of(self, entry: HostEntry) -> set[str]:
        """Every group the host is in, through its groups' parents, with all."""
        found: set[str] = set()
        todo = list(entry.groups)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        return found | {"all"}


def _priority(value: Node) -> int:
    raw = value.value
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise value.expected("an integer")


def expand(key: Node, pattern: str) -> tuple[list[str], int | None]:
    """A host pattern's names and port: `pi[01:12].local` is 12 hosts, `pi.local:2222` a port."""
    host, port = pattern, None
    for form in (_BRACKETED_PORT, _HOST_PORT):
        match = form.fullmatch(host)
        if match:
            host, port = match.group(1), int(match.group(2))
    if pattern.strip().endswith(":") and port is None:
        raise key.error(f"host {pattern!r} ends in ':', which Ansible keeps for a port")
    names = _expand_ranges(key, host) if "[" in host else [host]
    return names, port


def _expand_ranges(key: Node, text: str) -> list[str]:
    """Ansible's `[begin:end:step]`: numbers (zero-padded alike), or letters a-z then A-Z."""
    head, _, rest = text.partition("[")
    inside, closed, tail = rest.partition("]")
    bounds = inside.split(":")
    if not closed or len(bounds) not in (2, 3) or not bounds[1]:
        raise key.error(f"bad host range in {text!r}: expected [1:9], [01:12:2] or [a:f]")
    begin, end = bounds[0] or "0", bounds[1]
    step = _step(key, bounds[2] if len(bounds) == 3 else "1")
    values = _range_values(key, begin, end, step)
    if len(values) > _MAX_HOSTS:
        raise key.error(f"host range [{inside}] gives more than {_MAX_HOSTS} hosts")
    names: list[str] = []
    for value in values:
        name = head + value + tail
        names.extend(_expand_ranges(key, name) if "[" in name else [name])
        if len(names) > _MAX_HOSTS:
            raise key.error(f"host pattern {text!r} gives more than {_MAX_HOSTS} hosts")
    if not names:
        raise key.error(f"host range [{inside}] gives no hosts")
    return names


def _step(key: Node, text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise key.error(f"bad host range step {text!r}: expected a whole number from 1")
    return int(text)


def _range_values(key: Node, begin: str, end: str, step: int) -> list[str]:
    letters = string.ascii_letters
    if begin in letters and end in letters and len(begin) == len(end) == 1:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise key.error(f"bad host range '[{begin}:{end}]': the beginning is after the end")
        return list(letters[first:last + 1:step])
    if not (begin.isascii() and begin.isdigit() and end.isascii() and end.isdigit()):
        raise key.error(f"bad host range '[{begin}:{end}]': expected numbers or single letters")
    if begin.startswith("0") and len(begin) > 1:
        if len(begin) != len(end):
            raise key.error(f"bad host range '[{begin}:{end}]': zero-padded ends must be "
                            "the same length")
        width = len(begin)
    else:
        width = 1
    span = range(int(begin), int(end) + 1, step)
    return [str(i).zfill(width) for i in span[:_MAX_HOSTS + 1]]
