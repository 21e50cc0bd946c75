"""Ansible's INI inventory, read as Ansible's ini plugin reads it: private to fleet.config.

Lines before any section are hosts of `ungrouped`. `[g]` lists hosts (a
pattern, then `key=value` words split as a POSIX shell would, `#` starting a
comment), `[g:children]` group names, `[g:vars]` `key=value` lines (split at the
first `=`, nothing stripped but the spaces around it: a `#` there is part of
the value). Every value goes through Python's literal_eval, as in Ansible
(`2222` is a number, `"pi"` a string, `{'a': 1}` a mapping), and stays the
text it was where that fails. A group named in `:children` or given `:vars`
must be declared by a `[g]` or `[g:children]` somewhere in the file (or, in an
inventory directory, in a file read before it). Lines
starting with `#` or `;` are comments.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any

from fleet.config.ansible_graph import Graph, expand
from fleet.config.yamlfile import Node

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?")
_STATES = ("hosts", "children", "vars")


def looks_like_ini(text: str) -> bool:
    """Whether the first line that is not blank or a comment is an INI section header."""
    for raw in text.splitlines():
        line = raw.strip()
        if line and line[0] not in "#;":
            return _SECTION.fullmatch(line) is not None
    return False


def read(text: str, path: str) -> Graph:
    """The groups and hosts of an INI inventory, reconciled as Ansible does."""
    graph = Graph(Node(None, path, 1, ""))
    fill(graph, text, path)
    graph.finish()
    return graph


def fill(graph: Graph, text: str, path: str) -> None:
    """Add one INI file's groups, hosts and vars to `graph` (maybe holding other files')."""
    reader = _Reader(graph, path)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and line[0] not in "#;":
            reader.line(Node(line, path, number, reader.where()), line)
    reader.check_pending()


@dataclass(slots=True)
class _Pending:
    """A group named before it is declared: by a `:vars` section or as someone's child."""

    line: Node
    state: str
    parents: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, graph: Graph, path: str) -> None:
        self.graph = graph
        self.path = path
        self.group = "ungrouped"
        self.state = "hosts"
        self.pending: dict[str, _Pending] = {}

    def where(self) -> str:
        return self.group if self.state == "hosts" else f"{self.group}:{self.state}"

    def line(self, node: Node, line: str) -> None:
        header = _SECTION.fullmatch(line)
        if header:
            self.section(Node(line, node.path, node.line, ""), header.group(1),
                         header.group(2) or "hosts")
        elif line.startswith("[") and line.endswith("]"):
            raise Node(line, node.path, node.line, "").error(
                f"invalid section {line!r}: expected [group], [group:children] or "
                "[group:vars], with no spaces")
        elif self.state == "hosts":
            self.hosts(node, line)
        elif self.state == "vars":
            key, value = self.variable(node, line)
            self.graph.set_group_var(self.group, key, value)
        else:
            self.child(node, line)

    def section(self, node: Node, group: str, state: str) -> None:
        if state not in _STATES:
            raise node.error(f"unknown section type {state!r}: expected [{group}], "
                             f"[{group}:children] or [{group}:vars]")
        self.group, self.state = group, state
        key = Node(group, self.path, node.line, group)
        if group not in self.graph.groups:
            if state == "vars" and group not in self.pending:
                self.pending[group] = _Pending(key, state)
            self.graph.group(key, group)
        waiting = self.pending.get(group)
        if waiting is not None and state != "vars":
            if waiting.state == "children":
                self.adopt(group)
            else:
                del self.pending[group]

    def adopt(self, group: str) -> None:
        """A group named as a child before it was declared: now it is, join its parents."""
        for parent in self.pending[group].parents:
            self.graph.add_child(parent, group, self.pending[group].line)
            if parent in self.pending and self.pending[parent].state == "children":
                self.adopt(parent)
        del self.pending[group]

    def hosts(self, node: Node, line: str) -> None:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            raise node.error(f"cannot split this host line: {e}") from None
        if not words:
            return
        pattern = Node(words[0], self.path, node.line, words[0])
        names, port = expand(pattern, words[0])
        if any(name.strip() == "---" for name in names):
            raise pattern.error("'---' starts a YAML document: is this a YAML inventory?")
        variables = [self.variable(pattern, word, host_line=True) for word in words[1:]]
        for name in names:
            entry = self.graph.add_host(self.group, name, pattern)
            if port is not None:
                entry.vars["ansible_port"] = pattern.child("ansible_port", port)
            entry.vars.update(variables)

    def variable(self, node: Node, text: str, host_line: bool = False) -> tuple[str, Node]:
        if "=" not in text:
            raise node.error(f"expected key=value, got {text!r}")
        key, value = text.split("=", 1)
        if not host_line:
            key, value = key.strip(), value.strip()
        field_name = f"{node.field}.{key}"
        return key, Node(_value(node, value), self.path, node.line, field_name)

    def child(self, node: Node, line: str) -> None:
        match = _GROUP_NAME.fullmatch(line)
        if match is None:
            raise node.error(f"expected a group name, got {line!r}")
        child = match.group(1)
        if child in self.graph.groups:
            self.graph.add_child(self.group, child, node)
        elif child in self.pending:
            self.pending[child].parents.append(self.group)
        else:
            self.pending[child] = _Pending(node, "children", [self.group])

    def check_pending(self) -> None:
        for name, waiting in self.pending.items():
            if waiting.state == "vars":
                raise waiting.line.error(f"[{name}:vars] is for a group that is never "
                                         f"declared: add a [{name}] or [{name}:children] section")
            raise waiting.line.error(f"[{waiting.parents[-1]}:children] names group {name!r}, "
                                     f"which is never declared: add a [{name}] section")


def _value(node: Node, text: str) -> Any:
    """Ansible's INI value typing: a Python literal if it is one, else the text itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    except Exception as e:  # e.g. `{[]: 1}`: a literal Python cannot build; Ansible fails too
        raise node.error(f"cannot read value {text!r}: {type(e).__name__}: {e}") from None
    return _plain(value)


def _plain(value: Any) -> Any:
    """As Ansible keeps a literal: tuples and sets as lists; complex, `...` and bytes as text."""
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
