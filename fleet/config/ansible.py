"""Ansible's YAML inventory, read as Ansible's yaml plugin reads it: private to fleet.config.

Top-level keys are groups (beside `all`, they are its children); a group has
`hosts`, `children` and `vars`, may be defined in several places, and a later
definition's vars override an earlier one's. Hosts are patterns
(fleet.config.ansible_graph.expand). Which vars win is
fleet.config.ansible_hosts's business.
"""

from __future__ import annotations

from fleet.config.ansible_graph import Graph, expand
from fleet.config.yamlfile import Node

GROUP_KEYS = ("hosts", "children", "vars")
# fleet's name for a field -> the Ansible var that sets it, for writing new hosts.
ANSIBLE_NAMES = {"host": "ansible_host", "profile": "fleet_profile",
                 "storage_gb": "fleet_storage_gb", "arch": "fleet_arch", "site": "fleet_site"}
# ...and the connection var for a new host's SSH port (not the older ansible_ssh_port alias).
ANSIBLE_PORT = "ansible_port"


def read(root: Node) -> Graph:
    """The groups and hosts of a YAML inventory, reconciled as Ansible does."""
    graph = Graph(root)
    fill(graph, root)
    graph.finish()
    return graph


def fill(graph: Graph, root: Node) -> None:
    """Add one YAML file's groups, hosts and vars to `graph` (maybe holding other files')."""
    reader = _Reader(graph)
    for key, body in root.entries():
        reader.walk(key, body, ())


class _Reader:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.walked: set[tuple[str, int]] = set()

    def walk(self, key: Node, body: Node, above: tuple[str, ...]) -> str:
        name = key.text("a group name")
        if name in above:
            raise key.error(f"group {name!r} contains itself: {' -> '.join((*above, name))}")
        self.graph.group(key, name)
        # YAML aliases can put one body under many names: read each place once.
        if body.value is None or (name, id(body.value)) in self.walked:
            return name
        self.walked.add((name, id(body.value)))
        parts = body.fields(GROUP_KEYS)
        for section, part in parts.items():  # in file order, as Ansible reads them
            self.section(name, section, _as_mapping(part), above)
        return name

    def section(self, group: str, section: str, body: Node, above: tuple[str, ...]) -> None:
        if section == "vars":
            for var, value in body.entries():
                self.graph.set_group_var(group, var.value, value)
        elif section == "children":
            for child_key, child_body in body.entries():
                child = self.walk(child_key, child_body, (*above, group))
                self.graph.add_child(group, child, child_key)
        else:
            for host_key, host_vars in body.entries():
                names, port = _host_pattern(host_key)
                for name in names:
                    entry = self.graph.add_host(group, name, host_key)
                    if port is not None:
                        entry.vars["ansible_port"] = host_key.child("ansible_port", port)
                    entry.vars.update(host_vars.fields())


def _as_mapping(node: Node) -> Node:
    """`hosts: pi1.local` means `hosts: {pi1.local: }`, as in Ansible."""
    if isinstance(node.value, str):
        return Node({node.value: None}, node.path, node.line, node.field)
    return node


def _host_pattern(key: Node) -> tuple[list[str], int | None]:
    return expand(key, key.text("a host name"))
