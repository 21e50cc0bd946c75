"""Adding devices to an Ansible INI inventory (`discover --add`, `enroll --all-new`).

Private to fleet.config.inventory_add. A new board is one host line,
`NAME ansible_host=ADDR [ansible_port=P] fleet_profile=P [fleet_arch=A]  # note`,
in `[ungrouped]` (where Ansible puts a host of no group, as fleet's YAML hint puts
it under all.hosts): after that section's last line if the file has one, else in
a new `[ungrouped]` at the end. Every other byte stays as it was. Each value is
written so that Ansible's INI reading (shell-like words, then literal_eval) gives
back the same text. The new text must then load with every old board as it was
and every new one as written, its group_vars/ and host_vars/ read too: a var
set for it elsewhere (host_vars/NAME) would win over its line, so that is
refused, naming the host, rather than written to no effect.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.config.inventory import loads
from fleet.errors import ConfigError
from fleet.model import Device, Inventory

if TYPE_CHECKING:
    from fleet.config.inventory_add import NewDevice

GROUP = "ungrouped"
_HEADER = re.compile(r"\s*\[([^:\]\s]+)(?::\w+)?\]\s*(?:[#;].*)?")
_DEFAULT_PORT = 22


def edit(text: str, path: Path, new: Sequence[NewDevice]
         ) -> tuple[str, str, Inventory, list[str]] | None:
    """(text, text with the new hosts, how it loads, the ids added); None if none is new."""
    before = loads(text, path, beside=path.parent)
    known = {d.id for d in before.devices}
    adding: dict[str, NewDevice] = {}
    for d in new:
        if d.id not in known:
            adding.setdefault(d.id, d)
    if not adding:
        return None
    devices = list(adding.values())
    new_text = spliced(text, devices)
    try:
        after = loads(new_text, path, beside=path.parent)
    except ConfigError as e:
        where = f"{e.field}: " if e.field else ""
        raise ConfigError(f"not changed: with the new hosts it would not load: {where}"
                          f"{e.reason}", path=str(path)) from None
    _check(before, after, devices, path)
    return text, new_text, after, list(adding)


def host_line(d: NewDevice) -> str:
    """The host's line, without its line break."""
    words = [d.id, f"ansible_host={_word(d.host)}"]
    if d.port != _DEFAULT_PORT:
        words.append(f"ansible_port={d.port}")
    if d.profile is not None:
        words.append(f"fleet_profile={_word(d.profile)}")
    if d.arch is not None:
        words.append(f"fleet_arch={_word(d.arch)}")
    return " ".join(words) + (f"  # {d.note}" if d.note else "")


def spliced(text: str, devices: Sequence[NewDevice]) -> str:
    """`text` with the devices' lines at the end of its [ungrouped], or in a new one."""
    lines = text.splitlines(keepends=True)
    found = re.search(r"\r\n|[\r\n]", text)
    nl = found.group() if found else "\n"
    new = [host_line(d) + nl for d in devices]
    at = _end_of_ungrouped(lines)
    if lines and at in (None, len(lines)) and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl  # the new lines follow the last: it needs its break
    if at is None:
        blank = [nl] if lines and lines[-1].strip() else []
        return "".join([*lines, *blank, f"[{GROUP}]{nl}", *new])
    return "".join([*lines[:at], *new, *lines[at:]])


def _end_of_ungrouped(lines: list[str]) -> int | None:
    """Where lines go in the last [ungrouped] section: after its last host; None if none."""
    sections = [(i, m.group(1), line.strip().startswith(f"[{GROUP}]"))
                for i, line in enumerate(lines) if (m := _HEADER.fullmatch(line.rstrip("\r\n")))]
    ours = [i for i, _, hosts in sections if hosts]
    if not ours:
        return None
    start = ours[-1]
    stop = next((i for i, _, _ in sections if i > start), len(lines))
    at = start + 1
    for i in range(start + 1, stop):
        stripped = lines[i].strip()
        if stripped and stripped[0] not in "#;":
            at = i + 1
    return at


def _word(value: str) -> str:
    """`value` as a host-line word that Ansible reads back as the same text."""
    if shlex.split(value, comments=True) == [value] and _typed(value) == value:
        return value
    return shlex.quote(repr(value))  # the quotes shlex keeps make literal_eval give a str


def _typed(text: str) -> object:
    """What Ansible's INI reader makes of a value: literal_eval's result, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _check(before: Inventory, after: Inventory, added: Sequence[NewDevice], path: Path) -> None:
    """Raise unless the old boards load as they were and each new one as written."""
    now = {d.id: d for d in after.devices}
    if any(now.get(d.id) != d for d in before.devices) or after.groups != before.groups:
        raise ConfigError("not changed: with the new hosts, boards already there would "
                          "change; add these by hand:\n"
                          + "".join(host_line(d) + "\n" for d in added), path=str(path))
    for d in added:
        differs = _differs(now[d.id], d)
        if differs:
            raise ConfigError(
                f"not changed: host {d.id} would not be as written: {differs} is set for it "
                f"elsewhere (host_vars/{d.id} wins over its line; a group's vars give what "
                "the line leaves out); add it by hand, or change what sets that",
                path=str(path))


def _differs(device: Device, asked: NewDevice) -> str:
    checks = (("ansible_host", device.host == asked.host),
              ("ansible_port", device.ssh.port == asked.port or device.ssh.local),
              ("ansible_connection", not device.ssh.local),
              ("fleet_profile", asked.profile in (None, device.profile.name)),
              ("fleet_arch", asked.arch in (None, device.arch)))
    return ", ".join(name for name, ok in checks if not ok)
