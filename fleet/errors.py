"""Every error fleet raises on purpose, in one tree.

    FleetError                  base; str(e) is a message for the user
    ├── ConfigError             a file the user wrote is wrong: names file, line, field
    │   └── UnknownProfileError an unknown hardware profile; lists the known ones
    ├── InvalidDeviceIdError    a device id that is not [a-z0-9][a-z0-9-]{0,62}
    ├── KeyFormatError          a public key or fingerprint that is not well-formed
    ├── SshError                talking to a board over SSH failed
    │   ├── SshConnectError     no SSH server at host:port (refused, timed out, not SSH)
    │   ├── SshAuthError        the board refused fleet's login (user, key)
    │   ├── SudoError           the login is not root and `sudo -n` would not make it root
    │   └── HostKeyError        a host key fleet will not trust; carries every fingerprint
    │       ├── HostKeyChangedError     a pinned board offers a different key: a hard stop
    │       ├── HostKeyMismatchError    first contact, and the key is not the one advertised
    │       │                           over mDNS (or given with --accept)
    │       ├── HostKeyUnverifiedError  first contact with nothing to check the key against
    │       └── HostKeyNotPinnedError   an SSH session to a board `fleet trust` has not pinned
    ├── ImageError              an image fleet cannot find or read (names the ref, where it looked)
    ├── PushError               sending an image to a board failed on the board (names the step)
    └── LabError                the fleet lab could not be built or inspected
        └── MissingPackagesError  a system command is missing; names the apt packages

Third-party errors (paramiko, docker, paho) are translated into this tree
where they cross into fleet, so callers catch FleetError and nothing else.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FleetError(Exception):
    """Base of every error fleet raises on purpose."""


class ConfigError(FleetError):
    """A user's file is wrong; the message names file, line and field."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None,
                 field: str = "") -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = path if line is None else f"{path}:{line}"
        prefix = ": ".join(part for part in (where, field) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UnknownProfileError(ConfigError):
    """A profile name that is not one of the presets."""

    def __init__(self, name: str, known: Iterable[str], *, path: str = "",
                 line: int | None = None, field: str = "profile") -> None:
        self.name = name
        super().__init__(
            f"unknown profile {name!r}; known profiles: {', '.join(known)}",
            path=path, line=line, field=field,
        )


class InvalidDeviceIdError(FleetError, ValueError):
    """A device id that does not match [a-z0-9][a-z0-9-]{0,62}."""


class KeyFormatError(FleetError, ValueError):
    """A public key or fingerprint that cannot be read; the message says which and why."""


class SshError(FleetError):
    """Talking to a board over SSH failed."""


class SshConnectError(SshError):
    """No SSH server answered at host:port: refused, timed out or not speaking SSH."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"{host}:{port}: {reason}")


class SshAuthError(SshError):
    """The board's sshd refused the login: the user or the key is wrong."""

    def __init__(self, device_id: str, user: str, reason: str) -> None:
        self.device_id = device_id
        self.user = user
        super().__init__(f"{device_id}: login as {user!r} refused ({reason}); check the "
                         "inventory's ssh.user and ssh.key, and the board's authorized_keys")


class SudoError(SshError):
    """The board's login is not root and `sudo -n` refused it: the message says what to configure.

    fleet.ssh.sudo recognises sudo's own words and writes the message, in one place for
    every action that needs root on a board.
    """

    def __init__(self, device_id: str, user: str, message: str) -> None:
        self.device_id = device_id
        self.user = user
        super().__init__(message)


class HostKeyError(SshError):
    """A host key fleet will not trust. Fingerprints are "SHA256:..." strings, or None.

    `offered` is the key the board presented; `pinned`, `advertised` (mDNS TXT `fp`) and
    `accepted` (typed by the user) are what it was checked against. The first line of the
    message is a summary; the rest says how to check the key and how to accept it.
    """

    kind = "host-key"

    def __init__(self, message: str, *, device_id: str, offered: str, key_type: str,
                 pinned: str | None = None, advertised: str | None = None,
                 accepted: str | None = None) -> None:
        self.device_id = device_id
        self.offered = offered
        self.key_type = key_type
        self.pinned = pinned
        self.advertised = advertised
        self.accepted = accepted
        super().__init__(message)

    @property
    def summary(self) -> str:
        return str(self).partition("\n")[0]

    @property
    def console_check(self) -> str:
        """The command that shows the offered key's fingerprint on the board's own console."""
        return _console_check(self.key_type)

    @property
    def accept_command(self) -> str:
        """What the user runs, after checking the key on the board, to trust it."""
        return f"fleet trust {self.device_id} --accept {self.offered}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "device": self.device_id, "error": self.kind, "key_type": self.key_type,
            "offered": self.offered, "pinned": self.pinned, "advertised": self.advertised,
            "accepted": self.accepted, "accept_command": self.accept_command,
            "message": str(self),
        }


def _console_check(key_type: str) -> str:
    """The command that prints a host key's fingerprint on the board's own console."""
    name = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ssh-dss": "dsa"}.get(key_type)
    if name is None and key_type.startswith("ecdsa-"):
        name = "ecdsa"
    if name is None:
        return 'for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$f"; done'
    return f"ssh-keygen -lf /etc/ssh/ssh_host_{name}_key.pub"


def _accept_howto(device_id: str, offered: str, key_type: str, condition: str) -> str:
    return (f"Check the key on the board's console with `{_console_check(key_type)}`;\n"
            f"{condition}, accept it deliberately:\n"
            f"  fleet trust {device_id} --accept {offered}")


class HostKeyChangedError(HostKeyError):
    """A board offers a key other than the one pinned for it. Only --accept gets past it."""

    kind = "changed"

    def __init__(self, device_id: str, *, pinned: str, offered: str, key_type: str,
                 advertised: str | None = None, accepted: str | None = None) -> None:
        lines = [f"{device_id}: SSH host key CHANGED since it was pinned; refusing it",
                 f"  pinned:     {pinned}",
                 f"  offered:    {offered} ({key_type})"]
        if advertised == offered:
            lines.append(f"  advertised: {advertised} over mDNS: the new key (no proof)")
        elif advertised:
            lines.append(f"  advertised: {advertised} over mDNS, "
                         + ("the pinned key" if advertised == pinned else "neither key"))
        if accepted:
            lines.append(f"  --accept {accepted} is not the offered key: nothing was changed")
        lines.append(_accept_howto(device_id, offered, key_type,
                                   "if it was reinstalled and the console shows the offered key"))
        lines.append("Otherwise something else may be answering at the board's address.")
        super().__init__("\n".join(lines), device_id=device_id, offered=offered,
                         key_type=key_type, pinned=pinned, advertised=advertised,
                         accepted=accepted)


class HostKeyMismatchError(HostKeyError):
    """First contact, and the key offered is not the advertised (or --accept'ed) one."""

    kind = "mismatch"

    def __init__(self, device_id: str, *, offered: str, key_type: str,
                 advertised: str | None = None, accepted: str | None = None) -> None:
        if accepted:
            lines = [f"{device_id}: SSH host key is not the one given with --accept; "
                     "nothing was pinned",
                     f"  accepted:   {accepted}"]
        else:
            lines = [f"{device_id}: SSH host key is not the one the board advertises over mDNS "
                     "(possibly an impostor); nothing was pinned"]
        if advertised:
            lines.append(f"  advertised: {advertised}")
        lines.append(f"  offered:    {offered} ({key_type})")
        lines.append(_accept_howto(device_id, offered, key_type,
                                   "only if it shows the offered key"))
        super().__init__("\n".join(lines), device_id=device_id, offered=offered,
                         key_type=key_type, advertised=advertised, accepted=accepted)


class HostKeyUnverifiedError(HostKeyError):
    """First contact, no fingerprint advertised and none given: the user must check it."""

    kind = "unverified"

    def __init__(self, device_id: str, *, offered: str, key_type: str) -> None:
        super().__init__(
            f"{device_id}: first contact and nothing to check its SSH host key against "
            "(no fingerprint advertised over mDNS); nothing was pinned\n"
            f"  offered:    {offered} ({key_type})\n"
            + _accept_howto(device_id, offered, key_type, "if the two match"),
            device_id=device_id, offered=offered, key_type=key_type)


class HostKeyNotPinnedError(HostKeyError):
    """An SSH session to a board with no pinned key: `fleet trust` it first."""

    kind = "not-pinned"

    def __init__(self, device_id: str, *, offered: str, key_type: str, path: str) -> None:
        self.path = path
        super().__init__(
            f"{device_id}: no SSH host key pinned in {path}; run `fleet trust {device_id}` "
            f"first\n  offered:    {offered} ({key_type})",
            device_id=device_id, offered=offered, key_type=key_type)

    @property
    def accept_command(self) -> str:
        return f"fleet trust {self.device_id}"


class ImageError(FleetError):
    """An image that cannot be found or read: names the ref or archive, and where it looked."""


class PushError(FleetError):
    """A board could not stage, check or load an image sent to it; names the step and why."""


class LabError(FleetError):
    """The fleet lab could not be built, inspected or torn down."""


class MissingPackagesError(LabError):
    """System commands the lab needs are not installed."""

    def __init__(self, commands: Iterable[str], packages: Iterable[str]) -> None:
        self.commands = sorted(commands)
        self.packages = sorted(set(packages))
        super().__init__(
            f"missing {', '.join(self.commands)}: run "
            f"`apt-get install -y {' '.join(self.packages)}` (or `make setup`)"
        )


def close_match(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a likely typo, else ''."""
    found = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {found[0]!r}?)" if found else ""


def unknown_hint(name: str, names: Iterable[str]) -> str:
    """What follows 'unknown X': a likely typo's fix, then some of the known names."""
    names = list(names)
    if not names:
        return "; the inventory has none"
    more = f", ... ({len(names)} in all)" if len(names) > 8 else ""
    return f"{close_match(name, names)}; known: {', '.join(names[:8])}{more}"


class RegistryError(ImageError):
    """A registry that could not say what an image is: names the registry, the image and why
    (unreachable, unauthorised, no such tag, a reply that is not a manifest)."""
