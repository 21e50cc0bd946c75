"""The inventory file -> Devices, in fleet's own format or as an Ansible YAML inventory.

This module, with its private helper fleet.config.ansible, is the only code that
knows either format; `add_devices` writes new devices into fleet's. Every
error is a ConfigError naming the file, the line and the field, and saying
what was expected.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from fleet.config import ansible as _ansible
from fleet.config.yamlfile import Node, parse
from fleet.errors import ConfigError, InvalidDeviceIdError, UnknownProfileError, unknown_hint
from fleet.model import Arch, Broker, Device, Inventory, Profile, SshTarget, validate_device_id
from fleet.profiles import PROFILES

_MISSING_FILE = ("no such file; point fleet at your inventory with --inventory PATH or "
                 "FLEET_INVENTORY=PATH (inventory.example.yaml shows the format)")


def load(path: Path | str) -> Inventory:
    """Read the inventory at `path`, in fleet's format or Ansible's."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_MISSING_FILE, path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the inventory: {e}", path=str(path)) from None
    return loads(text, path)


def loads(text: str, path: Path | str = "<string>") -> Inventory:
    """Parse inventory text; `path` is for messages and for relative key paths."""
    path = Path(path)
    return _read(parse(text, str(path)), path)


def _read(root: Node, path: Path) -> Inventory:
    """The inventory in a parsed file, in either format."""
    if root.value is None:
        raise root.error("the file is empty; expected a mapping with 'devices' "
                         "(see inventory.example.yaml) or an Ansible inventory")
    if not isinstance(root.value, dict):
        raise root.expected("a mapping with 'devices' or an Ansible inventory at the top")
    if _is_ansible(root.value):
        return _from_ansible(root, path)
    return _native(root, path)


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


def _ssh(fields: Mapping[str, Node], base: Path) -> SshTarget:
    default = SshTarget()
    return SshTarget(
        user=fields["user"].text("a user name") if "user" in fields else default.user,
        port=fields["port"].integer(1, 65535) if "port" in fields else default.port,
        key=_file(fields["key"], base) if "key" in fields else default.key,
    )


def _device(device_id: str, spec: Mapping[str, Node], ssh: Mapping[str, Node],
            labels: Mapping[str, Node], base: Path) -> Device:
    """A Device from nodes under fleet's names: host, profile, storage_gb, arch, site."""
    profile = _profile(spec["profile"])
    if "storage_gb" in spec:
        profile = _storage(spec["storage_gb"], profile)
    return Device(
        id=device_id,
        host=spec["host"].text("a host name or address"),
        profile=profile,
        arch=_arch(spec["arch"]) if "arch" in spec else profile.arch,
        ssh=_ssh(ssh, base),
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


# -- Ansible's YAML inventory (read by fleet.config.ansible) -----------------------------

def _is_ansible(top: Mapping[object, object]) -> bool:
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


def _from_ansible(root: Node, path: Path) -> Inventory:
    hosts, group_keys = _ansible.read(root)
    devices = [_device(h.device_id, h.fields, h.ssh, h.labels, path.parent) for h in hosts]
    groups = {name: [h.device_id for h in hosts if name in h.groups] for name in group_keys}
    return _inventory(path, devices, groups, group_keys)


# -- adding devices to fleet's format (`fleet discover --add`) --------------------

@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device to add; a profile or arch of None is left to the inventory's defaults."""

    id: str
    host: str
    profile: str | None = None
    arch: str | None = None
    note: str = ""  # written as a comment on the device's line


_HEADER = ("# fleet inventory, started by `fleet discover --add`; "
           "inventory.example.yaml shows the whole format.\n")
_BREAKS = "\r\n\x85\u2028\u2029"
# A line with its break, breaking where ruamel counts lines, so its line numbers index the list.
_LINES = re.compile(f"[^{_BREAKS}]*(?:\r\n|[{_BREAKS}])|[^{_BREAKS}]+\\Z")
_LOST = "fleet could not tell where `devices:` ends in this file"
# The key line of a section with nothing in it yet: null, ~ or {}, then perhaps a comment.
_EMPTY_SECTION = re.compile(r"(.*?:)([ \t]+(?:~|null|Null|NULL|\{[ \t]*\}))?([ \t]*(?:#.*)?)")


def add_devices(path: Path | str, new: Sequence[NewDevice]) -> list[str]:
    """Append the devices not yet in the inventory to its `devices:`; the ids added, in order.

    Only lines are added (and a `~` or `{}` after an empty `devices:` taken
    away), so the user's comments, order and quoting stay byte for byte. A
    missing file is created. The new text must load, with the old devices as
    they were, before it replaces the file: atomically, keeping its mode.
    """
    path = Path(path)
    checked = [_checked_new(d, path) for d in new]
    text = _read_for_edit(path)
    root = parse(text or "", str(path))
    before = Inventory(path, ()) if root.value is None else _read(root, path)
    known = {d.id for d in before.devices}
    adding: dict[str, NewDevice] = {}
    for d in checked:
        if d.id not in known:
            adding.setdefault(d.id, d)
    if not adding:
        return []
    devices = list(adding.values())
    if root.value is not None and _is_ansible(root.value):
        hosts = "".join(_entries(devices, 4, 2, "\n", ansible=True))
        raise ConfigError("an Ansible inventory: `fleet discover --add` writes fleet's own "
                          "format only; add the hosts by hand, under all.hosts or a group's "
                          f"hosts:\nall:\n  hosts:\n{hosts}", path=str(path))
    new_text = _spliced(_HEADER if text is None else text, root.value, devices, path)
    _check_added(new_text, before, devices, path)
    try:
        _replace(path, new_text.encode("utf-8"), existed=text is not None)
    except OSError as e:
        raise ConfigError(f"cannot write the inventory: {e}", path=str(path)) from None
    return list(adding)


def _checked_new(d: NewDevice, path: Path) -> NewDevice:
    """`d` with its arch in image names and its note on one line; a ConfigError if wrong."""
    try:
        validate_device_id(d.id)
    except InvalidDeviceIdError as e:
        raise ConfigError(f"cannot add a device: {e}", path=str(path), field="devices") from None
    where = f"devices.{d.id}"
    if not d.host or any(c.isspace() or not c.isprintable() for c in d.host):
        raise ConfigError(f"expected a host name or address, got {d.host!r}",
                          path=str(path), field=f"{where}.host")
    if d.profile is not None and d.profile not in PROFILES:
        raise UnknownProfileError(d.profile, PROFILES, path=str(path), field=f"{where}.profile")
    try:
        arch = None if d.arch is None else Arch.parse(d.arch).value
    except ValueError as e:
        raise ConfigError(str(e), path=str(path), field=f"{where}.arch") from None
    note = " ".join("".join(c if c.isprintable() else " " for c in d.note).split())
    return replace(d, arch=arch, note=note)


def _read_for_edit(path: Path) -> str | None:
    """The file's text with its own line breaks, or None if there is no file yet."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the inventory: {e}", path=str(path)) from None


def _spliced(text: str, top: Any, devices: list[NewDevice], path: Path) -> str:
    """`text` with the devices' entries added where `devices:` ends, or in a new section."""
    lines: list[str] = _LINES.findall(text)
    found = re.search(r"\r\n|[\r\n]", text)
    nl = found.group() if found else "\n"
    if top is not None and top.fa.flow_style() is not False:  # None for an empty {}
        raise _by_hand(devices, path, "the whole file is one inline mapping ({...})")
    step = _step(top)
    if top is None or "devices" not in top:
        col = _position(top, next(iter(top)), devices, path)[1] if top else 0
        _end_line(lines, len(lines), nl)
        blank = [nl] if lines and lines[-1].strip() else []
        lines += [*blank, f"{' ' * col}devices:{nl}", *_entries(devices, col + step, step, nl)]
        return "".join(lines)
    keys = list(top)
    key_line, top_col = _position(top, "devices", devices, path)
    following = keys.index("devices") + 1
    stop = (_position(top, keys[following], devices, path)[0] if following < len(keys)
            else len(lines))
    section = top["devices"]
    if section:
        if section.fa.flow_style():
            raise _by_hand(devices, path, "its devices are written inline ({...})")
        anchor, col = _position(section, list(section)[-1], devices, path)
        # Devices set apart by blank lines, as in the example, get one each too.
        gap = nl if anchor > 0 and not lines[anchor - 1].strip() else ""
    else:
        line = lines[key_line]
        body = line.rstrip(_BREAKS)
        empty = _EMPTY_SECTION.fullmatch(body)
        if empty is None:
            raise _by_hand(devices, path, "its empty `devices:` line has more than a key")
        head, value, comment = empty.group(1), empty.group(2) or "", empty.group(3)
        # Blank out the ~ or {} so that a comment keeps its column.
        kept = " " * len(value) + comment if comment.strip() else ""
        lines[key_line] = head + kept + line[len(body):]
        anchor, col, gap = key_line, top_col + step, ""
    at = _end_of_section(lines, anchor, stop, col, top_col)
    _end_line(lines, at, nl)
    lines[at:at] = _entries(devices, col, step, nl, gap=gap)
    return "".join(lines)


def _position(mapping: Any, key: str, devices: list[NewDevice], path: Path) -> tuple[int, int]:
    """The 0-based line and column of a key; a merged key has none."""
    try:
        line, col = mapping.lc.key(key)
    except (AttributeError, KeyError):
        raise _by_hand(devices, path, f"{key!r} comes from a merge (<<)") from None
    return int(line), int(col)


def _step(top: Any) -> int:
    """How far the file indents a mapping inside another: from its first one, else 2."""
    for key, value in (top or {}).items():
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            try:
                return max(1, int(value.lc.key(next(iter(value)))[1] - top.lc.key(key)[1]))
            except (AttributeError, KeyError):
                break
    return 2


def _end_of_section(lines: list[str], anchor: int, stop: int, col: int, top_col: int) -> int:
    """Where new entries go: after the section's last content or comment at its entries' indent.

    Blank lines, and comments left of the entries, before the next top-level
    key (`stop`) stay with that key; so does the end of the file.
    """
    at = stop
    while at - 1 > anchor:
        line = lines[at - 1]
        text = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if text and (indent >= col if text.startswith("#") else indent > top_col):
            break
        at -= 1
    return at


def _end_line(lines: list[str], at: int, nl: str) -> None:
    """Give the line before `at` a line break if it is the file's last and has none."""
    if at > 0 and lines[at - 1][-1] not in _BREAKS:
        lines[at - 1] += nl


def _entries(devices: Iterable[NewDevice], col: int, step: int, nl: str, *, gap: str = "",
             ansible: bool = False) -> list[str]:
    """Block-style entries at column `col`, each after `gap`: `id:` and its note, then
    host, profile and arch."""
    yaml = YAML(typ="rt")
    yaml.width = 4096  # a value on one line, however long
    yaml.indent(mapping=step)
    names = [_ansible._VARS[name] if ansible else name for name in ("host", "profile", "arch")]
    out: list[str] = []
    for d in devices:
        values = zip(names, (d.host, d.profile, d.arch), strict=True)
        body = CommentedMap([(name, value) for name, value in values if value is not None])
        buf = io.StringIO()
        yaml.dump(CommentedMap([(d.id, body)]), buf)  # quotes what needs it: '123', 'null'
        first, *rest = buf.getvalue().splitlines()
        note = f"  # {d.note}" if d.note else ""
        out += [gap] if gap else []
        out += [" " * col + line + nl for line in (first + note, *rest)]
    return out


def _by_hand(devices: list[NewDevice], path: Path, why: str) -> ConfigError:
    entries = "".join(_entries(devices, 2, 2, "\n"))
    return ConfigError(f"not changed: {why}; add the devices by hand under `devices:`:\n"
                       f"{entries}", path=str(path))


def _check_added(text: str, before: Inventory, added: list[NewDevice], path: Path) -> None:
    """Raise unless `text` loads as `before` with `added` after its devices, as asked."""
    try:
        root = parse(text, str(path))
    except ConfigError:
        # The entries are well-formed YAML, so they went in at the wrong place.
        raise _by_hand(added, path, _LOST) from None
    try:
        after = _read(root, path)
    except ConfigError as e:
        where = f"{e.field}: " if e.field else ""
        raise ConfigError(f"not changed: with the new devices it would not load: "
                          f"{where}{e.reason}", path=str(path)) from None
    n = len(before.devices)
    new = after.devices[n:]
    as_asked = len(new) == len(added) and all(
        (d.id, d.host) == (a.id, a.host) and a.profile in (None, d.profile.name)
        and a.arch in (None, d.arch) for d, a in zip(new, added, strict=True))
    kept = (after.devices[:n], after.groups, after.broker) == (
        before.devices, before.groups, before.broker)
    if not (as_asked and kept):
        # A layout this module misreads; the check keeps it from changing anything.
        raise _by_hand(added, path, _LOST)


def _replace(path: Path, data: bytes, *, existed: bool) -> None:
    """Write beside the file and rename over it, so a reader sees the old text or the new."""
    target = Path(os.path.realpath(path))  # through a symlink, so the link stays a link
    mode = stat.S_IMODE(target.stat().st_mode) if existed else None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # A new file gets the umask's bits; an edited one its own, once the data is in.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
