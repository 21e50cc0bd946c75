"""SSH host keys: check the key a board offers, pin it in fleet's own known_hosts, refuse changes.

Nothing is ever accepted silently. On first contact (`check`) the key the board's sshd offers
is pinned only if its fingerprint equals the one the board's agent advertises over mDNS (TXT
`fp`, the SHA256 of its ed25519 host key) or the one the user typed after reading it on the
board's console (`fleet trust DEVICE --accept SHA256:...`). Later, a different key is a hard
stop (HostKeyChangedError) until the user accepts the new one the same deliberate way.
`decide` is the whole policy, pure; the table below is what it returns.

    pinned         advertised     --accept      -> action   why / error
    = offered      any            any              keep     "pinned"
    other key      any            = offered        replace  "accepted"
    other key      any            none or other    refuse   HostKeyChangedError
    none           any            = offered        pin      "accepted"
    none           any            other            refuse   HostKeyMismatchError
    none           = offered      none             pin      "advertised"
    none           other          none             refuse   HostKeyMismatchError
    none           none           none             refuse   HostKeyUnverifiedError

The pins live in an OpenSSH known_hosts file (`fleet.config.paths.known_hosts()`) whose
host pattern is the DEVICE ID, not an address, so a board keeps its pin when DHCP moves
it, and plain OpenSSH checks the same pins:

    ssh -o HostKeyAlias=pi-01 -o UserKnownHostsFile=~/.config/fleet/known_hosts \\
        -o StrictHostKeyChecking=yes pi@192.168.1.23

Later SSH sessions (deploy) give a paramiko SSHClient with no host keys loaded a
`PinnedHostKeyPolicy`, so paramiko always asks it and it accepts only the pinned key. fabric's
Connection installs AutoAddPolicy: replace it (`conn.client.set_missing_host_key_policy(...)`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import logging
import os
import re
import socket
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import paramiko

from fleet.errors import (
    ConfigError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyMismatchError,
    HostKeyNotPinnedError,
    HostKeyUnverifiedError,
    KeyFormatError,
    SshConnectError,
)
from fleet.lan.advert import fingerprint
from fleet.model import DEVICE_ID, validate_device_id

ED25519 = "ssh-ed25519"
# Host key algorithms that sign with a key of each type, best first (RSA keys sign three ways).
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
_DIGEST = re.compile(r"[A-Za-z0-9+/]{43}")
_KEY_TYPE = re.compile(rb"[a-z0-9][a-z0-9@.+-]{0,63}")
# paramiko's thread logs every failed handshake with a traceback; offered_key raises it as an
# SshConnectError instead. The NullHandler only stops Python printing it when nothing is set up.
_PARAMIKO_LOG = "fleet.ssh.trust.paramiko"
logging.getLogger(_PARAMIKO_LOG).addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class HostKey:
    """An SSH public host key: its type ("ssh-ed25519") and its blob in base64."""

    type: str
    base64: str

    def __post_init__(self) -> None:
        try:
            blob = base64.b64decode(self.base64, validate=True)
        except binascii.Error:
            raise KeyFormatError(f"host key {self.base64[:40]!r} is not base64") from None
        if _blob_type(blob) != self.type:
            raise KeyFormatError(f"host key says {self.type!r} but its blob is "
                                 f"{_blob_type(blob) or 'unreadable'!r}")
        object.__setattr__(self, "base64", base64.b64encode(blob).decode())  # canonical

    @classmethod
    def from_blob(cls, blob: bytes) -> HostKey:
        """The key in an SSH wire-format blob (paramiko's `PKey.asbytes()`)."""
        if (key_type := _blob_type(blob)) is None:
            raise KeyFormatError(f"not an SSH public key blob: {blob[:20]!r}")
        return cls(key_type, base64.b64encode(blob).decode())

    @classmethod
    def parse(cls, text: str) -> HostKey:
        """The key in a public key line: `ssh-ed25519 AAAA... [comment]`."""
        fields = text.split()
        if len(fields) < 2:
            raise KeyFormatError(f"not an OpenSSH public key: {text[:60]!r}")
        return cls(fields[0], fields[1])

    @property
    def fingerprint(self) -> str:
        return fingerprint(base64.b64decode(self.base64))

    def line(self, pattern: str) -> str:
        """This key as a known_hosts line for `pattern`."""
        return f"{pattern} {self.type} {self.base64}"


def _blob_type(blob: bytes) -> str | None:
    """The key type a wire-format blob starts with (an SSH string), if it is a plausible one."""
    size = struct.unpack(">I", blob[:4])[0] if len(blob) >= 4 else 0
    name = blob[4:4 + size]
    return name.decode() if len(name) == size and _KEY_TYPE.fullmatch(name) else None


def parse_fingerprint(text: str) -> str:
    """A SHA256 fingerprint as `ssh-keygen -l` prints it, or KeyFormatError saying what is wrong."""
    value = text.strip()
    digest = value[7:] if value[:7].upper() == "SHA256:" else value
    digest = digest.rstrip("=")
    if not _DIGEST.fullmatch(digest):
        raise KeyFormatError(f"{text!r} is not a SHA256 fingerprint (SHA256: and 43 base64 "
                             "characters, as `ssh-keygen -lf KEY.pub` prints it)")
    return f"SHA256:{digest}"



class KnownHosts:
    """fleet's known_hosts file: one `DEVICE-ID TYPE BASE64` line per pinned board.

    Read afresh on every call and rewritten under a lock, whole and atomically (temp file and
    rename), 0600 in a directory created 0700. Comments and lines fleet did not write (other
    hosts, hashed names, @markers, pattern lists) are kept as they are and never read as pins.
    If a board has two lines, the first one counts; replacing its key removes the others.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def pins(self) -> dict[str, HostKey]:
        return _pins(self._read())

    def pinned(self, device_id: str) -> HostKey | None:
        return self.pins().get(validate_device_id(device_id))

    def pin(self, device_id: str, key: HostKey) -> bool:
        """Pin `key`; False if it already was. A different pinned key is HostKeyChangedError."""
        validate_device_id(device_id)
        with self._locked():
            lines = self._read()
            current = _pins(lines).get(device_id)
            if current == key:
                return False
            if current is not None:
                raise HostKeyChangedError(device_id, pinned=current.fingerprint,
                                          offered=key.fingerprint, key_type=key.type)
            self._write([*lines, key.line(device_id)])
            return True

    def replace(self, device_id: str, key: HostKey) -> HostKey | None:
        """Pin `key` whatever was pinned before; returns the key it replaced, if any."""
        validate_device_id(device_id)
        with self._locked():
            previous, kept = None, []
            for raw in self._read():
                entry = _pin_line(raw)
                if entry is None or entry[0] != device_id:
                    kept.append(raw)
                elif previous is None:
                    previous = entry[1]
                    kept.append(key.line(device_id))  # where the old pin was
            if previous is None:
                kept.append(key.line(device_id))
            self._write(kept)
            return previous

    def _read(self) -> list[str]:
        try:
            # surrogateescape: bytes that are not UTF-8 are written back exactly as they were.
            text = self.path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return []
        except OSError as e:
            raise ConfigError(f"cannot read it: {e.strerror}", path=str(self.path)) from None
        return text.splitlines()

    def _write(self, lines: list[str]) -> None:
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as out:
                out.write("".join(f"{line}\n" for line in lines))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)  # mkstemp made it 0600
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write with other fleet processes (a daemon and a CLI)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _pins(lines: list[str]) -> dict[str, HostKey]:
    found: dict[str, HostKey] = {}
    for raw in lines:
        if (entry := _pin_line(raw)) is not None:
            found.setdefault(*entry)
    return found


def _pin_line(raw: str) -> tuple[str, HostKey] | None:
    """(device id, key) if `raw` is a line fleet writes, else None."""
    fields = raw.split()
    if len(fields) < 3 or not DEVICE_ID.fullmatch(fields[0]):
        return None
    try:
        return fields[0], HostKey(fields[1], fields[2])
    except KeyFormatError:
        return None


def offered_key(host: str, port: int = 22, timeout: float = 5.0, *,
                prefer: str = ED25519) -> HostKey:
    """The host key sshd at host:port offers, by a key exchange without authentication.

    sshd signs with the first of the client's host key algorithms it has a key for, so
    `prefer` picks which of a board's keys (a Pi has rsa, ecdsa and ed25519) is offered:
    ed25519, whose fingerprint the agent advertises, unless the pin is of another type.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise SshConnectError(host, port, f"no answer within {timeout:g}s") from None
    except OSError as e:
        raise SshConnectError(host, port, f"cannot connect: {e.strerror or e}") from None
    transport = paramiko.Transport(sock)
    transport.set_log_channel(_PARAMIKO_LOG)
    started = time.monotonic()
    try:
        _prefer(transport, prefer)
        transport.banner_timeout = transport.handshake_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as e:
            late = time.monotonic() - started >= timeout
            why = f"within {timeout:g}s" if late else f"({e or type(e).__name__})"
            raise SshConnectError(host, port, f"no SSH key exchange {why}; "
                                  "is it an SSH server?") from None
    finally:
        transport.close()
    return HostKey.from_blob(key.asbytes())


def _prefer(transport: paramiko.Transport, key_type: str) -> None:
    options = transport.get_security_options()
    known = tuple(options.key_types)
    first = tuple(a for a in _ALGORITHMS.get(key_type, (key_type,)) if a in known)
    options.key_types = first + tuple(a for a in known if a not in first)


class Action(StrEnum):
    """What `decide` says to do with the key a board offers."""

    KEEP = "keep"  # it is the pinned key
    PIN = "pin"  # first contact, verified: pin it
    REPLACE = "replace"  # the user accepted a changed key
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with the key a board offers, and why; a refusal carries its error."""

    action: Action
    offered: HostKey
    basis: str = ""  # what vouches for the key: "pinned", "advertised" or "accepted"
    previous: HostKey | None = None  # the pinned key, if any
    error: HostKeyError | None = None  # set when, and only when, action is REFUSE


def decide(device_id: str, offered: HostKey, pinned: HostKey | None,
           advertised: str | None, accept: str | None) -> Decision:
    """The trust policy (module docstring's table); fingerprints are "SHA256:..." or None."""
    fp, advertised, accept = offered.fingerprint, advertised or None, accept or None
    if pinned == offered:
        return Decision(Action.KEEP, offered, "pinned", pinned)
    if pinned is not None:
        if accept == fp:
            return Decision(Action.REPLACE, offered, "accepted", pinned)
        return _refuse(offered, pinned, HostKeyChangedError(
            device_id, pinned=pinned.fingerprint, offered=fp, key_type=offered.type,
            advertised=advertised, accepted=accept))
    if accept is not None:
        if accept == fp:
            return Decision(Action.PIN, offered, "accepted")
        return _refuse(offered, None, HostKeyMismatchError(
            device_id, offered=fp, key_type=offered.type, advertised=advertised,
            accepted=accept))
    if advertised == fp:
        return Decision(Action.PIN, offered, "advertised")
    if advertised is not None:
        return _refuse(offered, None, HostKeyMismatchError(
            device_id, offered=fp, key_type=offered.type, advertised=advertised))
    return _refuse(offered, None, HostKeyUnverifiedError(device_id, offered=fp,
                                                         key_type=offered.type))


def _refuse(offered: HostKey, pinned: HostKey | None, error: HostKeyError) -> Decision:
    return Decision(Action.REFUSE, offered, previous=pinned, error=error)


_RESULTS = {Action.KEEP: "matches", Action.PIN: "pinned", Action.REPLACE: "replaced"}


@dataclass(frozen=True, slots=True)
class TrustResult:
    """What `check` did for one board: `result` is "matches", "pinned" or "replaced"."""

    device_id: str
    host: str
    port: int
    action: Action  # KEEP, PIN or REPLACE; a refusal is raised instead
    key: HostKey
    basis: str
    previous: HostKey | None = None  # the key that was replaced

    @property
    def result(self) -> str:
        return _RESULTS[self.action]

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "device": self.device_id, "host": self.host, "port": self.port,
            "result": self.result, "basis": self.basis, "key_type": self.key.type,
            "fingerprint": self.fingerprint,
            "previous": self.previous.fingerprint if self.previous else None,
        }


def check(device_id: str, host: str, port: int, store: KnownHosts, *,
          advertised: str | None = None, accept: str | None = None,
          timeout: float = 5.0) -> TrustResult:
    """Fetch the key host:port offers, decide, pin or replace as decided; raise a refusal.

    Raises SshConnectError if no SSH server answers, HostKeyError if the key is refused,
    KeyFormatError if `accept` or `advertised` is not a SHA256 fingerprint.
    """
    validate_device_id(device_id)
    accepted = parse_fingerprint(accept) if accept else None
    expected = parse_fingerprint(advertised) if advertised else None
    pinned = store.pinned(device_id)
    offered = offered_key(host, port, timeout, prefer=pinned.type if pinned else ED25519)
    decision = decide(device_id, offered, pinned, expected, accepted)
    if decision.error is not None:
        raise decision.error
    previous = None
    if decision.action is Action.PIN:
        store.pin(device_id, offered)
    elif decision.action is Action.REPLACE:
        previous = store.replace(device_id, offered)
    return TrustResult(device_id, host, port, decision.action, offered, decision.basis, previous)


class PinnedHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Accept only the key pinned for one board; never pin anything.

    Give it to an SSHClient with no host keys loaded (paramiko consults the policy only for
    hosts it has no key for); what it raises aborts `connect` before authentication. Pass
    `transport_factory=policy.transport_factory` to `connect` too, so a board with several
    host keys offers the pinned one.
    """

    def __init__(self, store: KnownHosts, device_id: str) -> None:
        self.store = store
        self.device_id = validate_device_id(device_id)

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        offered = HostKey.from_blob(key.asbytes())
        pinned = self.store.pinned(self.device_id)
        if pinned is None:
            raise HostKeyNotPinnedError(self.device_id, offered=offered.fingerprint,
                                        key_type=offered.type, path=str(self.store.path))
        if pinned != offered:
            raise HostKeyChangedError(self.device_id, pinned=pinned.fingerprint,
                                      offered=offered.fingerprint, key_type=offered.type)

    def transport_factory(self, sock: Any, /, **kwargs: Any) -> paramiko.Transport:
        """A Transport (over whatever SSHClient passes) asking for the pinned key's type first."""
        transport = paramiko.Transport(sock, **kwargs)
        pinned = self.store.pinned(self.device_id)
        _prefer(transport, pinned.type if pinned else ED25519)
        return transport
