"""How each image reaches a board, and what a board's `docker pull` said when it failed. Pure.

A board pulls an image from its registry through its own dockerd when the image has
a registry (the default for a reference that names a registry host, and for a name
found nowhere on this machine, which docker reads as Docker Hub's); fleet pushes the
missing layers over SSH for local builds and archives; a service's `x-fleet.transfer`
(pull|push) overrides both. The pull is `docker pull REF` on the board as root, REF
quoted; its failure is named from docker's own messages (docker 20.10, checked
against the lab's registry: see tests/unit/test_transfer.py).
"""

from __future__ import annotations

import shlex
from enum import StrEnum

from fleet.deploy.registry import parse_reference


class Transfer(StrEnum):
    """How a board gets an image: its dockerd pulls it, or fleet pushes its missing layers.
    A service's `x-fleet.transfer` (fleet.config.stack.TRANSFERS) names one."""

    PULL = "pull"
    PUSH = "push"

    @classmethod
    def asked(cls, text: str) -> Transfer | None:
        """A service's x-fleet.transfer ("" when fleet decides)."""
        return cls(text) if text else None


def decide(ref: str, asked: Transfer | None, local: bool) -> tuple[Transfer, str]:
    """How the boards get `ref`, and why: `asked` is the stack's x-fleet.transfer; `local`,
    whether this machine has the image (an archive or its docker engine)."""
    if asked is not None:
        return asked, "x-fleet.transfer"
    if parse_reference(ref).explicit:
        return Transfer.PULL, f"from {parse_reference(ref).registry}"
    if local:
        return Transfer.PUSH, "a local image, or one the boards have"
    return Transfer.PULL, "from docker.io (not found here)"


def needs_local_lookup(ref: str, asked: Transfer | None) -> bool:
    """Whether deciding needs to know if this machine has the image (a lookup that may
    ask the local docker engine): not for an asked transfer nor a registry's reference."""
    return asked is None and not parse_reference(ref).explicit


def pull_command(ref: str) -> str:
    """The board's pull, then the image id it got (the variant the plan counted, or the tag
    moved since)."""
    quoted = shlex.quote(ref)
    return (f"docker pull --quiet {quoted} >/dev/null && "
            f"docker image inspect --format '{{{{.Id}}}}' {quoted}")


# Phrases of docker's pull errors -> what they mean, first match wins.
_WHY = (
    ("no matching manifest for", "no variant for this board"),
    ("manifest unknown", "no such tag"),
    ("not found: manifest unknown", "no such tag"),
    ("pull access denied", "unauthorised (or no such repository)"),
    ("unauthorized", "unauthorised"),
    ("denied:", "unauthorised"),
    ("no basic auth credentials", "unauthorised"),
    ("server gave http response to https client",
     "unreachable over HTTPS (plain HTTP: add it to the board's dockerd insecure-registries)"),
    ("x509:", "unreachable (its TLS certificate is not trusted by the board)"),
    ("no such host", "unreachable (the board cannot resolve its name)"),
    ("connection refused", "unreachable (connection refused)"),
    ("i/o timeout", "unreachable (timed out)"),
    ("timeout exceeded", "unreachable (timed out)"),
    ("network is unreachable", "unreachable (no route from the board)"),
    ("toomanyrequests", "rate limited"),
    ("no space left on device", "the board's disk is full"),
)


def pull_failure(ref: str, output: str) -> str:
    """One line naming the registry and why the board's pull of `ref` failed."""
    registry = parse_reference(ref).registry
    text = output.lower()
    why = next((meaning for phrase, meaning in _WHY if phrase in text), "")
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    said = last.removeprefix("Error response from daemon: ")[:300]
    if not why:
        return f"pulling {ref} from {registry} failed: {said or 'no output'}"
    return f"pulling {ref} from {registry}: {why} (docker: {said})"
