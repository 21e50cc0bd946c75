"""Ansible's YAML inventory, read into fleet's field names: private to fleet.config.inventory.

As in Ansible: groups nest through `children` and a group may be defined in
several places; vars flow down from a group to the groups under it; inner
groups override outer ones (file order among equals); a host's own vars
override every group's. Vars fleet does not use are left alone: it is the
user's Ansible file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fleet.config.yamlfile import Node
from fleet.errors import InvalidDeviceIdError
from fleet.model import validate_device_id
from fleet.profiles import PROFILES

GROUP_KEYS = ("hosts", "children", "vars")
_IMPLICIT = frozenset({"all", "ungrouped"})
_NOT_ID = re.compile(r"[^a-z0-9-]")
_RANGE = re.compile(r"\[([0-9]+|[a-zA-Z]):([0-9]+|[a-zA-Z])(?::([0-9]+))?\]")
_HOST_PORT = re.compile(r"([^:]+):([0-9]+)")
_MAX_HOSTS = 10_000  # from one host pattern
# fleet's name for a field -> the Ansible var that sets it.
ANSIBLE_NAMES = {"host": "ansible_host", "profile": "fleet_profile",
                 "storage_gb": "fleet_storage_gb", "arch": "fleet_arch", "site": "fleet_site"}
# fleet's name for an SSH setting -> the Ansible connection var that sets it.
ANSIBLE_SSH_NAMES = {"user": "ansible_user", "port": "ansible_port",
                     "key": "ansible_ssh_private_key_file"}
_NUMBERS = frozenset({"storage_gb", "port"})


@dataclass(frozen=True, slots=True)
class Host:
    """One host under fleet's field names, ready to become a Device."""

    device_id: str
    fields: Mapping[str, Node]  # host, profile, storage_gb, arch, site
    ssh: Mapping[str, Node]  # user, port, key
    labels: Mapping[str, Node]
    groups: frozenset[str]  # with every group above them; never all or ungrouped


def read(root: Node) -> tuple[list[Host], dict[str, Node]]:
    """The hosts in file order, and the name node of each group but all and ungrouped."""
    tree = _Tree(root)
    ids: dict[str, str] = {}
    hosts = [tree.host(_host_id(seen.key, name, ids), name, seen)
             for name, seen in tree.hosts.items()]
    groups = {name: g.key for name, g in tree.groups.items() if name not in _IMPLICIT}
    return hosts, groups


@dataclass(slots=True)
class _Group:
    key: Node
    order: int
    depth: int
    vars: dict[str, Node] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Seen:
    """A host as read so far: where it first appears, its groups, its own vars."""

    key: Node
    groups: list[str] = field(default_factory=list)
    vars: dict[str, Node] = field(default_factory=dict)


class _Tree:
    """The group tree, read once; then each host's vars are resolved from it."""

    def __init__(self, root: Node) -> None:
        self.groups = {"all": _Group(root.child("all"), -1, 0)}
        self.hosts: dict[str, _Seen] = {}
        self.walked: set[tuple[str, int, int]] = set()
        for key, body in root.entries():
            top = key.value == "all"
            # Top-level groups beside `all` are its children, as in Ansible.
            self.walk(key, body, 0 if top else 1, None if top else "all", () if top else ("all",))

    def walk(self, key: Node, body: Node, depth: int, parent: str | None,
             above: tuple[str, ...]) -> None:
        name = key.text("a group name")
        if name in above:
            raise key.error(f"group {name!r} contains itself: {' -> '.join((*above, name))}")
        group = self.groups.setdefault(name, _Group(key, len(self.groups), depth))
        group.depth = max(group.depth, depth)
        if parent is not None:
            group.parents.add(parent)
        # YAML aliases can put one body under many names: read each place once.
        if (name, id(body.value), depth) in self.walked:
            return
        self.walked.add((name, id(body.value), depth))
        parts = body.fields(GROUP_KEYS)
        group.vars.update(_section(parts, "vars", body).fields())
        for host_key, host_vars in _section(parts, "hosts", body).entries():
            for host_name, port in _expand(host_key):
                seen = self.hosts.setdefault(host_name, _Seen(host_key))
                if name not in seen.groups:
                    seen.groups.append(name)
                if port is not None:
                    seen.vars["ansible_port"] = host_key.child("ansible_port", port)
                seen.vars.update(host_vars.fields())
        for child_key, child_body in _section(parts, "children", body).entries():
            self.walk(child_key, child_body, depth + 1, name, (*above, name))

    def member_of(self, seen: _Seen) -> set[str]:
        found, todo = {"all"}, list(seen.groups)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        return found

    def host(self, device_id: str, name: str, seen: _Seen) -> Host:
        member_of = self.member_of(seen)
        found: dict[str, Node] = {}
        for group in sorted(member_of, key=lambda g: (self.groups[g].depth, self.groups[g].order)):
            found.update(self.groups[group].vars)
        found.update(seen.vars)
        if "fleet_profile" not in found:
            raise seen.key.error(f"host {name!r} has no fleet_profile: set fleet_profile in its "
                                 f"vars or in all.vars; known profiles: {', '.join(PROFILES)}")
        fields = {k: _literal(found[v], k) for k, v in ANSIBLE_NAMES.items() if v in found}
        fields.setdefault("host", seen.key.child("ansible_host", name))
        inner = [g for g in seen.groups if g not in _IMPLICIT]
        site = max(inner, key=lambda g: self.groups[g].depth, default="default")
        fields.setdefault("site", seen.key.child("fleet_site", site))
        ssh = {k: _literal(found[v], k) for k, v in ANSIBLE_SSH_NAMES.items() if v in found}
        labels = found["fleet_labels"].fields() if "fleet_labels" in found else {}
        return Host(device_id, fields, ssh, labels, frozenset(member_of - _IMPLICIT))


def _section(parts: Mapping[str, Node], name: str, parent: Node) -> Node:
    return parts.get(name) or parent.child(name)


def _literal(node: Node, name: str) -> Node:
    """A var as fleet can use it: no Jinja; a number may be quoted, as Ansible allows."""
    value = node.value
    if isinstance(value, str) and "{{" in value:
        raise node.error("fleet cannot evaluate Ansible templates; set a plain value")
    if name in _NUMBERS and isinstance(value, str) and value.isascii() and value.isdigit():
        return Node(int(value), node.path, node.line, node.field)
    return node


def _host_id(key: Node, name: str, ids: dict[str, str]) -> str:
    """The host's name as a device id: `Pi1.local` -> `pi1-local`."""
    device_id = _NOT_ID.sub("-", name.lower()).lstrip("-")
    try:
        validate_device_id(device_id)
    except InvalidDeviceIdError as e:
        raise key.error(f"host {name!r} gives {e}") from None
    if device_id in ids:
        raise key.error(f"hosts {ids[device_id]!r} and {name!r} both become device id "
                        f"{device_id!r}; rename one")
    ids[device_id] = name
    return device_id


def _expand(key: Node) -> list[tuple[str, int | None]]:
    """Ansible's host patterns: `pi[01:12].local` is 12 hosts, `pi1.local:2222` sets a port."""
    names = _expand_ranges(key, key.text("a host name"))
    ports = [_HOST_PORT.fullmatch(n) for n in names]
    return [(m.group(1), int(m.group(2))) if m else (n, None)
            for n, m in zip(names, ports, strict=True)]


def _expand_ranges(key: Node, text: str) -> list[str]:
    match = _RANGE.search(text)
    if match is None:
        return [text]
    start, end, step = match.group(1), match.group(2), int(match.group(3) or 1)
    if start.isdigit() != end.isdigit() or step == 0:
        raise key.error(f"bad host range {match.group(0)!r}: expected [1:9], [01:12] or [a:f]")
    if start.isdigit():
        width = len(start) if start.startswith("0") else 1
        span = range(int(start), int(end) + 1, step)
        values = [str(i).zfill(width) for i in span[:_MAX_HOSTS + 1]]
    else:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    tails = _expand_ranges(key, text[match.end():])
    if not values or len(values) * len(tails) > _MAX_HOSTS:
        raise key.error(f"host range {match.group(0)!r} gives no hosts or more than {_MAX_HOSTS}")
    return [text[:match.start()] + v + tail for v in values for tail in tails]
