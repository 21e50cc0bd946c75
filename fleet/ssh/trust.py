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

import logging
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import paramiko

from fleet.errors import (
    HostKeyChangedError,
    HostKeyError,
    HostKeyMismatchError,
    HostKeyNotPinnedError,
    HostKeyUnverifiedError,
    SshConnectError,
)
from fleet.model import validate_device_id
from fleet.ssh.hostkeys import HostKey, KnownHosts, parse_fingerprint

ED25519 = "ssh-ed25519"
# Host key algorithms that sign with a key of each type, best first (RSA keys sign three ways).
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
# paramiko's thread logs every failed handshake with a traceback; offered_key raises it as an
# SshConnectError instead. The NullHandler only stops Python printing it when nothing is set up.
_PARAMIKO_LOG = "fleet.ssh.trust.paramiko"
logging.getLogger(_PARAMIKO_LOG).addHandler(logging.NullHandler())


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
