"""Each Ansible host's vars, merged as Ansible merges them, read into fleet's fields.

Private to fleet.config. Ansible's order, lowest first (its VARIABLE_PRECEDENCE
default): the inventory file's `all` vars; its other groups' vars, by depth,
then `ansible_group_priority`, then name; `group_vars/all`; `group_vars/` of
the other groups in the same order; the host's own vars in the file; then
`host_vars/`. A later mapping replaces an earlier one whole.

Of the connection vars, as Ansible's ssh plugin reads them (where a var and its
older `ansible_ssh_` alias are both set, the alias wins): `ansible_host`,
`ansible_port`, `ansible_user`, `ansible_ssh_private_key_file` (or
`ansible_private_key_file`) and `ansible_connection` (ssh, paramiko or smart:
SSH; local: this machine, no SSH; any other refused by name). fleet's actions
need root: it escalates with `sudo -n` whenever it logs in as another user,
whatever `ansible_become` says (false is Ansible's default, with `become` set
per play), so a `ansible_become_method` other than sudo is refused.
A var fleet reads may be a plain `{{ var }}` of the same host (or
`{{ inventory_hostname }}`); other templates and vault-encrypted values are
refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleet.config.ansible_graph import IMPLICIT, Graph, HostEntry
from fleet.config.ansible_vars import VAULT_HEADER, VarsFiles
from fleet.config.yamlfile import Node
from fleet.errors import InvalidDeviceIdError
from fleet.model import validate_device_id
from fleet.profiles import PROFILES

# fleet's name for a field -> the Ansible vars that set it, the last one set winning.
FIELDS = {"host": ("ansible_host", "ansible_ssh_host"), "profile": ("fleet_profile",),
          "storage_gb": ("fleet_storage_gb",), "arch": ("fleet_arch",), "site": ("fleet_site",)}
SSH = {"user": ("ansible_user", "ansible_ssh_user"), "port": ("ansible_port", "ansible_ssh_port"),
       "key": ("ansible_private_key_file", "ansible_ssh_private_key_file")}
_NUMBERS = frozenset({"storage_gb", "port"})
_SSH_KINDS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh"})
_NOT_ID = re.compile(r"[^a-z0-9-]")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TEMPLATE = ("{{", "{%", "{#")


@dataclass(frozen=True, slots=True)
class Host:
    """One host under fleet's field names, ready to become a Device."""

    device_id: str
    fields: Mapping[str, Node]  # host, profile, storage_gb, arch, site
    ssh: Mapping[str, Node]  # user, port, key
    labels: Mapping[str, Node]
    groups: frozenset[str]  # with every group above them; never all or ungrouped
    local: bool = False  # ansible_connection: local: run on this machine, not over SSH


def hosts(graph: Graph, files: VarsFiles) -> tuple[list[Host], dict[str, Node]]:
    """The hosts in file order, and the name node of each group but all and ungrouped."""
    ids: dict[str, str] = {}
    found = [_host(graph, files, _device_id(entry.key, name, ids), name, entry)
             for name, entry in graph.hosts.items()]
    groups = {name: g.key for name, g in graph.groups.items() if name not in IMPLICIT}
    return found, groups


def merged_vars(graph: Graph, files: VarsFiles, name: str, entry: HostEntry) -> dict[str, Node]:
    """The host's vars, every source merged in Ansible's order."""
    groups = sorted(graph.member_of(entry) - {"all"},
                    key=lambda g: (graph.groups[g].depth, graph.groups[g].priority, g))
    found = dict(graph.groups["all"].vars)
    for group in groups:
        found.update(graph.groups[group].vars)
    found.update(files.group("all"))
    for group in groups:
        found.update(files.group(group))
    found.update(entry.vars)
    found.update(files.host(name))
    return found


def _host(graph: Graph, files: VarsFiles, device_id: str, name: str, entry: HostEntry) -> Host:
    found = merged_vars(graph, files, name, entry)
    if "fleet_profile" not in found:
        raise entry.key.error(f"host {name!r} has no fleet_profile (a group's vars or "
                              "group_vars/ will do too): set fleet_profile in its vars or in "
                              f"all.vars; known profiles: {', '.join(PROFILES)}")
    plain = _Plain(found, name)
    fields = _pick(FIELDS, found, plain)
    fields.setdefault("host", entry.key.child("ansible_host", name))
    inner = [g for g in entry.groups if g not in IMPLICIT]
    site = max(inner, key=lambda g: graph.groups[g].depth, default="default")
    fields.setdefault("site", entry.key.child("fleet_site", site))
    ssh = _pick(SSH, found, plain)
    labels = ({k: plain(v, k) for k, v in found["fleet_labels"].fields().items()}
              if "fleet_labels" in found else {})
    local = _connection(found, plain, name)
    _check_become(found, plain, ssh, local, name)
    return Host(device_id, fields, ssh, labels,
                frozenset(graph.member_of(entry) - IMPLICIT), local)


def _pick(names: Mapping[str, tuple[str, ...]], found: Mapping[str, Node],
          plain: _Plain) -> dict[str, Node]:
    picked: dict[str, Node] = {}
    for field, aliases in names.items():
        for alias in aliases:
            if alias in found and found[alias].value is not None:
                picked[field] = plain(found[alias], field)
    return picked


def _connection(found: Mapping[str, Node], plain: _Plain, name: str) -> bool:
    """True for `local`; False for SSH; any other kind refused by name."""
    if "ansible_connection" not in found:
        return False
    node = plain(found["ansible_connection"], "connection")
    kind = node.text("a connection plugin name").removeprefix("ansible.builtin.")
    if kind == "local":
        return True
    if kind not in _SSH_KINDS:
        raise node.error(f"host {name!r} uses connection {node.value!r}: fleet reaches a board "
                         "over SSH (ssh, paramiko, smart) or runs on this machine (local)")
    return False


def _check_become(found: Mapping[str, Node], plain: _Plain, ssh: Mapping[str, Node],
                  local: bool, name: str) -> None:
    """fleet escalates with `sudo -n` only: another become method is refused by name."""
    node = found.get("ansible_become_method")
    as_root = not local and "user" in ssh and ssh["user"].value == "root"
    if node is None or node.value is None or as_root:
        return
    method = plain(node, "become_method").text("a become method")
    if method.removeprefix("ansible.builtin.") != "sudo":
        raise node.error(f"host {name!r} becomes root with {method!r}: fleet runs its "
                         "actions as root through `sudo -n` only; allow passwordless sudo "
                         "for the login user (or log in as root)")


class _Plain:
    """A var as fleet can use it: no vault; a template only if it is plain `{{ var }}`."""

    def __init__(self, found: Mapping[str, Node], hostname: str) -> None:
        self.found = found
        self.hostname = hostname

    def __call__(self, node: Node, field: str, seen: tuple[str, ...] = ()) -> Node:
        value = node.value
        if getattr(value, "tag", None) == "!vault" or (
                isinstance(value, str) and value.lstrip().startswith(VAULT_HEADER)):
            raise node.error("encrypted with ansible-vault, which fleet cannot decrypt; "
                             "set a plain value")
        if isinstance(value, str) and any(mark in value for mark in _TEMPLATE):
            value = self.render(node, seen)
        if field in _NUMBERS and isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)  # a number may be quoted, as Ansible allows
        return node if value is node.value else Node(value, node.path, node.line, node.field)

    def render(self, node: Node, seen: tuple[str, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "inventory_hostname":
                return self.hostname
            if name == "inventory_hostname_short":
                return self.hostname.split(".")[0]
            if name in self.found and name not in seen:
                inner = self(self.found[name], name, (*seen, name)).value
                if isinstance(inner, str | int) and not isinstance(inner, bool):
                    return str(inner)
            raise self.refuse(node, f"{{{{ {name} }}}} is not a plain var of this host")

        text = _VAR.sub(one, str(node.value))
        if any(mark in text for mark in _TEMPLATE):
            raise self.refuse(node, "only a plain {{ var }} can be read")
        return text

    def refuse(self, node: Node, why: str) -> Exception:
        return node.error(f"fleet cannot evaluate Ansible templates ({why}); set a plain value "
                          f"for host {self.hostname!r}")


def _device_id(key: Node, name: str, ids: dict[str, str]) -> str:
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
