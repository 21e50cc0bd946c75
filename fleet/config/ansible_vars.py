"""`group_vars/` and `host_vars/` beside an inventory file, found as Ansible finds them.

Private to fleet.config. Ansible's host_group_vars plugin looks in the
inventory's directory for `group_vars/NAME` or `host_vars/NAME`: the first of
NAME, NAME.yml, NAME.yaml and NAME.json that exists; a directory is every file
under it (no extension or one of those three; hidden files and `~` backups
skipped; subdirectories without an extension too), in name order, a later
file's vars replacing an earlier one's. A file ansible-vault encrypted is
refused by name: fleet cannot decrypt it, and what it hides could change a
board's address or login.
"""

from __future__ import annotations

import os
from pathlib import Path

from fleet.config.yamlfile import Node, parse
from fleet.errors import ConfigError

_EXTENSIONS = (".yml", ".yaml", ".json")
VAULT_HEADER = "$ANSIBLE_VAULT;"


class VarsFiles:
    """The vars files beside one inventory file, each read once; none if `base` is None."""

    def __init__(self, base: Path | None) -> None:
        self.base = base
        self._read: dict[tuple[str, str], dict[str, Node]] = {}

    def group(self, name: str) -> dict[str, Node]:
        return self._vars("group_vars", name)

    def host(self, name: str) -> dict[str, Node]:
        return self._vars("host_vars", name)

    def _vars(self, kind: str, name: str) -> dict[str, Node]:
        if (kind, name) not in self._read:
            found: dict[str, Node] = {}
            # A name like /srv/chroot is a path (Ansible's chroot hosts), never looked up.
            directory = None if self.base is None else self.base / kind
            if directory is not None and not name.startswith(os.sep) and directory.is_dir():
                for path in find(directory, name):
                    found.update(load(path))
            self._read[kind, name] = found
        return self._read[kind, name]


def find(directory: Path, name: str) -> list[Path]:
    """The files that hold NAME's vars under `directory`, in the order they apply."""
    for extension in ("", *_EXTENSIONS):
        path = directory / f"{name}{extension}"
        if path.is_dir():
            return _files_under(path)
        if path.exists():
            return [path]
    return []


def _files_under(directory: Path) -> list[Path]:
    found: list[Path] = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = directory / name
        extension = os.path.splitext(name)[1]
        if path.is_dir() and not extension:
            found.extend(_files_under(path))
        elif path.is_file() and (not extension or extension in _EXTENSIONS):
            found.append(path)
    return found


def load(path: Path) -> dict[str, Node]:
    """One vars file's vars, each a Node naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read this vars file: {e}", path=str(path)) from None
    if text.lstrip().startswith(VAULT_HEADER):
        raise ConfigError("encrypted with ansible-vault, which fleet cannot decrypt; keep the "
                          "vars fleet reads (ansible_host, ansible_user, ansible_port, "
                          "ansible_connection, fleet_*) in a plain file and move this one "
                          "out of group_vars/ and host_vars/ for fleet", path=str(path))
    root = parse(text, str(path))
    if root.value is None:
        return {}
    if not isinstance(root.value, dict):
        raise root.expected("a mapping of variable names to values")
    return root.fields()
