"""The POSIX sh scripts in `playbooks/`, and how one is run on a board: on stdin, in one exec.

Arguments travel as environment assignments on the command line, each value
shell-quoted; a caller's generated lines (a device's part of a plan) are
appended to the script, after the functions it defines.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from fleet.ssh import sudo
from fleet.ssh.connection import Connection, Result

DIRECTORY = Path(__file__).resolve().parents[2] / "playbooks"


def script(name: str) -> str:
    """The text of playbooks/NAME.sh."""
    return (DIRECTORY / f"{name}.sh").read_text(encoding="utf-8")


def command(env: Mapping[str, str]) -> str:
    """`env K=V ... sh -s`: the remote command that runs a script fed on stdin."""
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    return f"env {assignments} sh -s" if assignments else "sh -s"


def run(conn: Connection, name: str, env: Mapping[str, str] | None = None, *,
        then: str = "", timeout: float | None = None) -> Result:
    """Run playbooks/NAME.sh on the board as root, with `then` (more sh) appended to it.

    Every playbook needs root (docker, /var/lib/fleet): a login that is not root
    goes through `sudo -n`, and a sudo that refuses raises SudoError (fleet.ssh.sudo)."""
    text = script(name) + ("\n" + then if then else "")
    return sudo.run(conn, command(env or {}), stdin=text.encode(), timeout=timeout)
