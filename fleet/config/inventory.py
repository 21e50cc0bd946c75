"""The inventory file -> Devices: fleet's own format, or an Ansible inventory (YAML or INI,
one file or a directory of them).

This module, with its private helpers fleet.config.ansible* (Ansible's YAML and
INI readers, its group_vars/ and host_vars/ beside the file, its variable
precedence), is the only code that knows these formats
(fleet.config.inventory_add writes new devices into fleet's). Every error is a
ConfigError naming the file, the line and the field, and saying what was
expected.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from fleet.config import ansible as _ansible
from fleet.config import ansible_dir as _ansible_dir
from fleet.config import ansible_hosts as _ansible_hosts
from fleet.config import ansible_ini as _ansible_ini
from fleet.config.ansible_graph import Graph
from fleet.config.ansible_vars import VarsFiles
from fleet.config.yamlfile import Node, parse
from fleet.errors import ConfigError, InvalidDeviceIdError, UnknownProfileError, unknown_hint
from fleet.model import Arch, Broker, Device, Inventory, Profile, SshTarget, validate_device_id
from fleet.profiles import PROFILES

_MISSING_FILE = ("no such file; point fleet at your inventory with --inventory PATH or "
                 "FLEET_INVENTORY=PATH (inventory.example.yaml shows the format)")


# Ansible reads these as YAML only; any other name as INI; no extension, either.
_YAML_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def load(path: Path | str) -> Inventory:
    """Read the inventory at `path`, in fleet's format or Ansible's (with its group_vars/);
    a directory is an Ansible inventory directory, every file in it a part."""
    path = Path(path)
    if path.is_dir():
        return _from_directory(path)
    return loads(_text(path), path, beside=path.parent)


def _text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_MISSING_FILE, path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the inventory: {e}", path=str(path)) from None
    _ansible_dir.refuse_unread(path)
    return text


def loads(text: str, path: Path | str = "<string>", *, beside: Path | None = None) -> Inventory:
    """Parse inventory text; `path` is for messages, relative key paths and the format
    (by its extension, as Ansible picks); an Ansible inventory's group_vars/ and
    host_vars/ are read from the directory `beside`, if given."""
    path = Path(path)
    root = _as_yaml(text, path)
    if root is None:
        return _from_ini(text, path, beside)
    return read(root, path, beside)


def reads_as_ini(text: str, path: Path) -> bool:
    """Whether the inventory file at `path` is Ansible INI, as `load` reads it."""
    return _as_yaml(text, path) is None


def _as_yaml(text: str, path: Path) -> Node | None:
    """The file's YAML, if Ansible reads it as YAML; None if as INI."""
    suffix = path.suffix.lower()
    if suffix not in _YAML_SUFFIXES and (suffix or _ansible_ini.looks_like_ini(text)):
        return None
    root = parse(text, str(path))
    if suffix or root.value is None or isinstance(root.value, dict):
        return root
    return None  # no extension and not a mapping: a host name or a few, one a line


def read(root: Node, path: Path, beside: Path | None = None) -> Inventory:
    """The inventory in a parsed YAML file, in either format."""
    if root.value is None:
        raise root.error("the file is empty; expected a mapping with 'devices' "
                         "(see inventory.example.yaml) or an Ansible inventory")
    if not isinstance(root.value, dict):
        raise root.expected("a mapping with 'devices' or an Ansible inventory at the top")
    _refuse_plugin(root)
    if is_ansible(root.value):
        return _from_ansible(_ansible.read(root), path, beside)
    return _native(root, path)


def _refuse_plugin(root: Node) -> None:
    """`plugin: NAME` at the top configures one of Ansible's dynamic inventory plugins."""
    top = root.value
    if isinstance(top, dict) and "plugin" in top and not is_ansible(top):
        raise root.child("plugin", top["plugin"]).error(
            f"the configuration of Ansible's {top['plugin']!r} inventory plugin, which "
            "fleet cannot run; save what it lists (`ansible-inventory -i FILE --list -y`) "
            "as a YAML inventory")


# -- shared by both formats ---------------------------------------------------

def _profile_list() -> str:
    return f"known profiles: {', '.join(PROFILES)}"


def _section(fields: Mapping[str, Node], name: str, parent: Node) -> Node:
    """The node under `name`, or an empty one where the section is absent."""
    return fields.get(name) or parent.child(name)


def _checked_id(node: Node, device_id: str) -> str:
    try:
        return validate_device_id(device_id)
    except InvalidDeviceIdError as e:
        raise node.error(str(e)) from None


def _profile(node: Node) -> Profile:
    name = node.text("a profile name")
    if name not in PROFILES:
        raise UnknownProfileError(name, PROFILES, path=node.path, line=node.line,
                                  field=node.field)
    return PROFILES[name]


def _storage(node: Node, profile: Profile) -> Profile:
    bigger = profile.with_storage(node.integer(1, 65536, "a size in GB"))
    if bigger.budget.disk_mb <= 0:
        raise node.error(f"{bigger.storage_gb} GB leaves nothing for containers after "
                         f"{profile.name}'s OS reserve; expected a bigger card or disk")
    return bigger


def _arch(node: Node) -> Arch:
    try:
        return Arch.parse(node.text("an architecture"))
    except ValueError as e:
        raise node.error(str(e)) from None


def _file(node: Node, base: Path) -> Path:
    """A path as written: `~` expanded, a relative one taken from the inventory's directory."""
    path = Path(node.text("a file path")).expanduser()
    return path if path.is_absolute() else base / path


def _ssh(fields: Mapping[str, Node], base: Path, local: bool = False) -> SshTarget:
    default = SshTarget()
    if local:
        # Run on this machine: as whoever runs fleet, as Ansible's local connection does.
        return SshTarget(user=pwd.getpwuid(os.geteuid()).pw_name, local=True)
    return SshTarget(
        user=fields["user"].text("a user name") if "user" in fields else default.user,
        port=fields["port"].integer(1, 65535) if "port" in fields else default.port,
        key=_file(fields["key"], base) if "key" in fields else default.key,
    )


def _device(device_id: str, spec: Mapping[str, Node], ssh: Mapping[str, Node],
            labels: Mapping[str, Node], base: Path, local: bool = False) -> Device:
    """A Device from nodes under fleet's names: host, profile, storage_gb, arch, site."""
    profile = _profile(spec["profile"])
    if "storage_gb" in spec:
        profile = _storage(spec["storage_gb"], profile)
    return Device(
        id=device_id,
        host=spec["host"].text("a host name or address"),
        profile=profile,
        arch=_arch(spec["arch"]) if "arch" in spec else profile.arch,
        ssh=_ssh(ssh, base, local),
        site=spec["site"].text("a site name") if "site" in spec else "default",
        labels=MappingProxyType({k: v.scalar_text() for k, v in labels.items()}),
    )


def _inventory(path: Path, devices: list[Device], groups: Mapping[str, list[str]],
               group_keys: Mapping[str, Node], broker: Broker | None = None) -> Inventory:
    """Check group names against device ids, and give each device its groups."""
    ids = {d.id for d in devices}
    for name, key in group_keys.items():
        if name in ids:
            # select() takes both, so one name cannot mean two things.
            raise key.error(f"group {name!r} has the same name as a device; rename one")
    member_of: dict[str, list[str]] = {}
    for name, members in groups.items():
        for device_id in members:
            member_of.setdefault(device_id, []).append(name)
    devices = [replace(d, groups=tuple(sorted(member_of.get(d.id, ())))) for d in devices]
    frozen = MappingProxyType({name: tuple(members) for name, members in groups.items()})
    return Inventory(path, tuple(devices), frozen, broker or Broker())


# -- fleet's own format ---------------------------------------------------------

_TOP_KEYS = ("broker", "defaults", "devices", "groups")
_DEVICE_KEYS = ("host", "profile", "storage_gb", "arch", "site", "labels", "ssh")
_DEFAULT_KEYS = tuple(k for k in _DEVICE_KEYS if k != "host")
_SSH_KEYS = ("user", "port", "key")
_BROKER_KEYS = ("host", "port", "tls", "username", "password_file")


def _native(root: Node, path: Path) -> Inventory:
    top = root.fields(_TOP_KEYS)
    base = path.parent
    defaults = _section(top, "defaults", root).fields(_DEFAULT_KEYS)
    devices = [_native_device(key, body, defaults, base)
               for key, body in _section(top, "devices", root).entries()]
    group_keys, groups = _native_groups(_section(top, "groups", root), {d.id for d in devices})
    broker = _broker(top["broker"], base) if "broker" in top else Broker()
    return _inventory(path, devices, groups, group_keys, broker)


def _native_device(key: Node, body: Node, defaults: Mapping[str, Node], base: Path) -> Device:
    device_id = _checked_id(key, key.text("a device id"))
    own = body.fields(_DEVICE_KEYS)
    spec = {**defaults, **own}
    if "host" not in own:
        raise key.child("host").error("required: a host name or address, e.g. shed-pi-1.local")
    if "profile" not in spec:
        raise key.child("profile").error(
            f"required here or in defaults: a hardware profile; {_profile_list()}")

    def merged(name: str, allowed: tuple[str, ...] | None = None) -> dict[str, Node]:
        # Key by key: a device's ssh port or one label does not drop the defaults' others.
        return {**_section(defaults, name, key).fields(allowed),
                **_section(own, name, key).fields(allowed)}

    return _device(device_id, spec, merged("ssh", _SSH_KEYS), merged("labels"), base)


def _native_groups(section: Node, ids: set[str]) -> tuple[dict[str, Node], dict[str, list[str]]]:
    keys: dict[str, Node] = {}
    groups: dict[str, list[str]] = {}
    for key, body in section.entries():
        name = key.text("a group name")
        try:
            validate_device_id(name)
        except InvalidDeviceIdError:
            raise key.error(f"invalid group name {name!r}: use 1-63 of a-z, 0-9 and '-', "
                            "starting with a letter or digit") from None
        members: list[str] = []
        for item in body.items():
            member = item.text("a device id")
            if member not in ids:
                raise item.error(f"unknown device {member!r}{unknown_hint(member, sorted(ids))}")
            if member not in members:
                members.append(member)
        keys[name], groups[name] = key, members
    return keys, groups


def _broker(node: Node, base: Path) -> Broker:
    for key, _ in node.entries():
        if key.value == "password":
            raise key.error("the password must not be in the inventory: write it to a file "
                            "only you can read and set password_file")
    f = node.fields(_BROKER_KEYS)
    default = Broker()
    return Broker(
        host=f["host"].text("a host name or address") if "host" in f else default.host,
        port=f["port"].integer(1, 65535) if "port" in f else default.port,
        tls=f["tls"].boolean() if "tls" in f else default.tls,
        username=f["username"].text("a user name") if "username" in f else None,
        password_file=_file(f["password_file"], base) if "password_file" in f else None,
    )


# -- Ansible's inventory, YAML or INI (read by fleet.config.ansible*) ----------------------

def is_ansible(top: Mapping[object, object]) -> bool:
    """`all` at the top, or nothing but mappings of hosts/children/vars."""
    if "devices" in top:
        return False
    if "all" in top:
        return True
    if any(k in _TOP_KEYS for k in top):
        return False
    groups = [v for v in top.values() if v is not None]
    return bool(groups) and all(
        isinstance(v, dict) and v and set(v) <= set(_ansible.GROUP_KEYS) for v in groups)


def _from_ini(text: str, path: Path, beside: Path | None) -> Inventory:
    return _from_ansible(_ansible_ini.read(text, str(path)), path, beside)


def _from_directory(directory: Path) -> Inventory:
    """Every inventory file in `directory` (fleet.config.ansible_dir), one inventory."""
    graph = Graph(Node(None, str(directory), None, ""))
    files = _ansible_dir.sources(directory)
    if not files:
        raise ConfigError("no inventory file in this directory (hidden names, group_vars/, "
                          "host_vars/ and *.bak, *.md, *.txt... are passed over, as Ansible "
                          "does)", path=str(directory))
    for path in files:
        text = _text(path)
        root = _as_yaml(text, path)
        if root is None:
            _ansible_ini.fill(graph, text, str(path))
        elif root.value is not None:  # an empty file adds nothing, as for Ansible
            if not isinstance(root.value, dict):
                raise root.expected("an Ansible inventory: a mapping of groups")
            _refuse_plugin(root)
            if not is_ansible(root.value):
                raise root.error("not an Ansible inventory: fleet's own format is one file, "
                                 "given to --inventory alone, not part of a directory")
            _ansible.fill(graph, root)
    graph.finish()
    return _from_ansible(graph, directory, directory, base=directory)


def _from_ansible(graph: Graph, path: Path, beside: Path | None,
                  base: Path | None = None) -> Inventory:
    """`base`: what a relative key file is relative to (default: the file's directory)."""
    hosts, group_keys = _ansible_hosts.hosts(graph, VarsFiles(beside))
    devices = [_device(h.device_id, h.fields, h.ssh, h.labels, base or path.parent, h.local)
               for h in hosts]
    groups = {name: [h.device_id for h in hosts if name in h.groups] for name in group_keys}
    return _inventory(path, devices, groups, group_keys)
