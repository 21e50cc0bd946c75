"""Adding devices to an inventory in fleet's own format (`discover --add`, `enroll --all-new`),
or to an Ansible INI one (fleet.config.inventory_add_ini).

Only lines are added, so the user's comments, order and quoting stay byte for
byte; the result must load, with the old devices as they were, before it
replaces the file.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from fleet.config import inventory_add_ini
from fleet.config.ansible import ANSIBLE_NAMES, ANSIBLE_PORT
from fleet.config.inventory import is_ansible, load, read, reads_as_ini
from fleet.config.yamlfile import parse
from fleet.errors import ConfigError, InvalidDeviceIdError, UnknownProfileError
from fleet.model import Arch, Inventory, SshTarget, validate_device_id
from fleet.profiles import PROFILES

DEFAULT_SSH_PORT = SshTarget().port

@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device to add; a profile or arch of None is left to the inventory's defaults.

    So is an SSH port of 22: sshd's default, and what mDNS says when no record
    gives sshd's port. Any other (balenaOS's 22222) is written as the device's own.
    """

    id: str
    host: str
    profile: str | None = None
    arch: str | None = None
    note: str = ""  # written as a comment on the device's line
    port: int = DEFAULT_SSH_PORT


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
    edit = _edit(path, new)
    if edit is None:
        return []
    text, new_text, _, added = edit
    try:
        _replace(path, new_text.encode("utf-8"), existed=text is not None)
    except OSError as e:
        raise ConfigError(f"cannot write the inventory: {e}", path=str(path)) from None
    return added


def preview(path: Path | str, new: Sequence[NewDevice]) -> Inventory:
    """The inventory as it would load with `new` added, written nowhere: what a new device's
    SSH settings would be before it is added. Raises what add_devices would."""
    path = Path(path)
    edit = _edit(path, new)
    return load(path) if edit is None else edit[2]


def _edit(path: Path, new: Sequence[NewDevice]
          ) -> tuple[str | None, str, Inventory, list[str]] | None:
    """The file's text, its text with `new` added, how that loads and the ids added; None if
    every one is there already."""
    checked = [_checked_new(d, path) for d in new]
    if path.is_dir():
        raise ConfigError("an Ansible inventory directory: fleet does not choose which of its "
                          "files a board goes in; add these lines to one of them by hand:\n"
                          + "".join(inventory_add_ini.host_line(d) + "\n" for d in checked),
                          path=str(path))
    text = _read_for_edit(path)
    if text is not None and reads_as_ini(text, path):
        return inventory_add_ini.edit(text, path, checked)
    root = parse(text or "", str(path))
    before = Inventory(path, ()) if root.value is None else read(root, path)
    known = {d.id for d in before.devices}
    adding: dict[str, NewDevice] = {}
    for d in checked:
        if d.id not in known:
            adding.setdefault(d.id, d)
    if not adding:
        return None
    devices = list(adding.values())
    if root.value is not None and is_ansible(root.value):
        hosts = "".join(_entries(devices, 4, 2, "\n", ansible=True))
        raise ConfigError("an Ansible inventory: `fleet discover --add` writes fleet's own "
                          "format only; add the hosts by hand, under all.hosts or a group's "
                          f"hosts:\nall:\n  hosts:\n{hosts}", path=str(path))
    new_text = _spliced(_HEADER if text is None else text, root.value, devices, path)
    after = _check_added(new_text, before, devices, path)
    return text, new_text, after, list(adding)


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
    if not 1 <= d.port <= 65535:
        raise ConfigError(f"expected an SSH port from 1 to 65535, got {d.port}",
                          path=str(path), field=f"{where}.ssh.port")
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
    host, profile, arch and an SSH port other than 22."""
    yaml = YAML(typ="rt")
    yaml.width = 4096  # a value on one line, however long
    yaml.indent(mapping=step)
    names = [ANSIBLE_NAMES[name] if ansible else name for name in ("host", "profile", "arch")]
    out: list[str] = []
    for d in devices:
        values = zip(names, (d.host, d.profile, d.arch), strict=True)
        body = CommentedMap([(name, value) for name, value in values if value is not None])
        if d.port != DEFAULT_SSH_PORT:
            # Ansible's connection var sits among the host's; fleet's has its own section.
            body.update({ANSIBLE_PORT: d.port} if ansible
                        else {"ssh": CommentedMap([("port", d.port)])})
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


def _check_added(text: str, before: Inventory, added: list[NewDevice], path: Path
                 ) -> Inventory:
    """How `text` loads; raise unless as `before` with `added` after its devices, as asked."""
    try:
        root = parse(text, str(path))
    except ConfigError:
        # The entries are well-formed YAML, so they went in at the wrong place.
        raise _by_hand(added, path, _LOST) from None
    try:
        after = read(root, path)
    except ConfigError as e:
        where = f"{e.field}: " if e.field else ""
        raise ConfigError(f"not changed: with the new devices it would not load: "
                          f"{where}{e.reason}", path=str(path)) from None
    n = len(before.devices)
    new = after.devices[n:]
    as_asked = len(new) == len(added) and all(
        (d.id, d.host) == (a.id, a.host) and a.profile in (None, d.profile.name)
        and a.arch in (None, d.arch) and a.port in (DEFAULT_SSH_PORT, d.ssh.port)
        for d, a in zip(new, added, strict=True))
    kept = (after.devices[:n], after.groups, after.broker) == (
        before.devices, before.groups, before.broker)
    if not (as_asked and kept):
        # A layout this module misreads; the check keeps it from changing anything.
        raise _by_hand(added, path, _LOST)
    return after


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
