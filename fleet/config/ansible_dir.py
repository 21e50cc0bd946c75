"""An Ansible inventory directory (`-i inventories/prod/`): its files, as Ansible picks them.

Private to fleet.config. Ansible's inventory manager reads every entry of the
directory in name order (sorted as bytes), skipping hidden names, `group_vars`,
`host_vars` and `vars_plugins`, and names ending in one of its
INVENTORY_IGNORE_EXTS (REJECT_EXTS: .pyc .pyo .swp .bak ~ .rpm .md .txt .rst, then
.orig .cfg .retry); a subdirectory is read the same way, where its name falls.
Every file feeds one inventory (a later file's vars win, a group or host named
again is the same one). Only the directory's own `group_vars/` and `host_vars/`
apply, not those of its subdirectories.

Files fleet cannot read as Ansible would are refused by name rather than skipped:
an executable starting with `#!` (an inventory script, which Ansible runs) and
`.toml` (its toml plugin). Ansible skips a file no plugin parses with a warning;
fleet stops there instead, naming the file and the line, since a skipped file
could be the one that held a board.
"""

from __future__ import annotations

import os
from pathlib import Path

from fleet.errors import ConfigError

# ansible-core's config/base.yml (INVENTORY_IGNORE_EXTS) and constants.py (REJECT_EXTS).
IGNORED_ENDINGS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                   ".orig", ".cfg", ".retry")
IGNORED_NAMES = frozenset({"host_vars", "group_vars", "vars_plugins"})


def sources(directory: Path) -> list[Path]:
    """The files of an inventory directory, in the order Ansible reads them."""
    found: list[Path] = []
    try:
        names = sorted(os.listdir(directory), key=os.fsencode)
    except OSError as e:
        raise ConfigError(f"cannot list this inventory directory: {e.strerror or e}",
                          path=str(directory)) from None
    for name in names:
        if ignored(name):
            continue
        path = directory / name
        if path.is_dir():
            found.extend(sources(path))
        elif path.is_file():
            refuse_unread(path)
            found.append(path)
    return found


def ignored(name: str) -> bool:
    """Whether Ansible passes over `name` in an inventory directory."""
    return name.startswith(".") or name in IGNORED_NAMES or name.endswith(IGNORED_ENDINGS)


def refuse_unread(path: Path) -> None:
    """Refuse, by name, an inventory file Ansible reads with a plugin fleet does not have."""
    if path.suffix == ".toml":
        raise ConfigError("a TOML inventory (Ansible's toml plugin), which fleet does not "
                          "read: write it as INI or YAML", path=str(path))
    if os.access(path, os.X_OK) and _starts_with_shebang(path):
        raise ConfigError("an executable with #!: an inventory script to Ansible, which "
                          "fleet does not run; save its output (`ansible-inventory -i "
                          "SCRIPT --list -y`) as a YAML inventory, or chmod -x it if it is "
                          "a static one", path=str(path))


def _starts_with_shebang(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False  # reading it fails, and says why, where it is read
