"""Root on a board whose login is not root: `sudo -n`, and what to say when sudo refuses.

A Raspberry Pi OS board logs in as `pi`, a Jetson as its JetPack user, each with
passwordless sudo (Raspberry Pi OS ships /etc/sudoers.d/010_pi-nopasswd). Every
remote step that needs root (docker, /var/lib/fleet, the stacks' files) runs
through `run`, which adds `sudo -n` for such a login: -n, because fleet never
answers a prompt, and a prompt with no terminal would hang or fail less clearly.
When sudo refuses, `refusal` reads its own words and names the line to add.
"""

from __future__ import annotations

import shlex
from enum import StrEnum
from typing import TYPE_CHECKING, BinaryIO

from fleet.errors import SudoError

if TYPE_CHECKING:
    from fleet.ssh.connection import Connection, Result, Sent

ROOT = "root"


class Refusal(StrEnum):
    """Why sudo did not run the command, from what it (or the login shell) printed."""

    PASSWORD = "password"  # sudo wants a password (or a terminal to read one from)
    NOT_ALLOWED = "not-allowed"  # the user may not use sudo, or not for this command
    TTY = "tty"  # sudoers says `Defaults requiretty`
    MISSING = "missing"  # the board has no sudo


# What each sudo (1.8 to 1.9) and shell prints, lowercased, with the refusal it means.
_SIGNS = (
    ("a password is required", Refusal.PASSWORD),
    ("a terminal is required to read the password", Refusal.PASSWORD),
    ("no tty present and no askpass program specified", Refusal.PASSWORD),
    ("is not in the sudoers file", Refusal.NOT_ALLOWED),
    ("is not allowed to execute", Refusal.NOT_ALLOWED),
    ("may not run sudo on", Refusal.NOT_ALLOWED),
    ("you must have a tty to run sudo", Refusal.TTY),
    ("sudo: command not found", Refusal.MISSING),  # bash
    ("sudo: not found", Refusal.MISSING),  # dash, busybox
)


def as_root(user: str, command: str) -> str:
    """`command` as root: as it is for root, through `sudo -n` (never a prompt) for another user."""
    return command if user == ROOT else f"sudo -n sh -c {shlex.quote(command)}"


def sudoers_file(user: str) -> str:
    """Where Raspberry Pi OS puts its user's sudo rule; sudo skips names with a dot in them."""
    return f"/etc/sudoers.d/010_{user.replace('.', '_')}-nopasswd"


def rule(user: str) -> str:
    return f"{user} ALL=(ALL) NOPASSWD: ALL"


def refused(stderr: str) -> Refusal | None:
    """The refusal sudo's words on stderr show, if any."""
    text = stderr.lower()
    return next((why for sign, why in _SIGNS if sign in text), None)


def message(user: str, device: str, why: Refusal) -> str:
    """What to configure on the board, in one line."""
    add = f"add `{rule(user)}` to {sudoers_file(user)}"
    if why is Refusal.MISSING:
        return (f"{user} on {device} needs sudo, which the board lacks: install it as root "
                f"(apt-get install sudo), then {add} (or log in as root)")
    if why is Refusal.TTY:
        return (f"{user} on {device} needs sudo without a terminal: remove `Defaults "
                f"requiretty` from the board's sudoers, and {add} (or log in as root)")
    return f"{user} on {device} needs passwordless sudo: {add} (or log in as root)"


def refusal(user: str, device: str, result: Result) -> SudoError | None:
    """The error for a command sudo refused to run as root; None if sudo was not the problem."""
    if user == ROOT or result.ok:
        return None
    why = refused(result.stderr.decode("utf-8", errors="replace"))
    return None if why is None else SudoError(device, user, message(user, device, why))


def run(conn: Connection, command: str, *, stdin: bytes | BinaryIO | None = None,
        timeout: float | None = None, sent: Sent | None = None) -> Result:
    """Run `command` as root on the board (see `as_root`); raise SudoError if sudo refuses.

    Any other failure is the command's own, returned as it came, as `Connection.run` does.
    """
    result = conn.run(as_root(conn.user, command), stdin=stdin, timeout=timeout, sent=sent)
    error = refusal(conn.user, conn.device, result)
    if error is not None:
        raise error
    return result
