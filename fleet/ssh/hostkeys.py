"""Pinned SSH host keys: a key as a value, and fleet's own known_hosts file that holds the pins.

The file is OpenSSH's format with the DEVICE ID as the host pattern, so a pin
survives DHCP moving a board, and plain OpenSSH can check the same pins
(`-o HostKeyAlias=ID -o UserKnownHostsFile=...`). Deciding whether to pin,
keep or refuse a key is fleet.ssh.trust's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import ConfigError, HostKeyChangedError, KeyFormatError
from fleet.lan.advert import fingerprint
from fleet.model import DEVICE_ID, validate_device_id

_DIGEST = re.compile(r"[A-Za-z0-9+/]{43}")
_KEY_TYPE = re.compile(rb"[a-z0-9][a-z0-9@.+-]{0,63}")


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
