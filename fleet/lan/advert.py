"""What a board says about itself over mDNS: the `_fleet._tcp` TXT record, both ways. No IO.

The agent builds an Advert from its profile and host key and publishes
`to_txt(advert)`; the controller reads the raw TXT rdata back with
`parse_txt`, which refuses anything it would not trust (oversized, not
UTF-8, a bad id or number) with an AdvertError that says why. Unknown keys
are ignored, so a newer agent's extra keys do not hide it from an older
controller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from fleet.errors import FleetError
from fleet.model import Arch, validate_device_id

SERVICE_TYPE = "_fleet._tcp.local."
# What a board with no agent yet may publish (avahi's service files, macOS-style workstations).
BARE_SERVICE_TYPES = ("_workstation._tcp.local.", "_ssh._tcp.local.", "_sftp-ssh._tcp.local.")
# The records whose port is sshd's, most direct first (balenaOS advertises SSH on 22222).
SSH_SERVICE_TYPES = ("_ssh._tcp.local.", "_sftp-ssh._tcp.local.")
TXT_VERSION = "1"
# RFC 6763 section 6.2: a TXT record should stay well inside one packet; we
# publish about 250 bytes and refuse anything past 1,300.
MAX_TXT_BYTES = 1300
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_TEXT_FIELDS = ("profile", "model", "host", "agent")


class AdvertError(FleetError):
    """A TXT record that fleet will not take: the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Advert:
    """A board's own description of itself."""

    id: str
    profile: str
    model: str
    arch: Arch
    mem_mb: int
    storage_mb: int
    gpu: str  # "" for none
    agent: str  # the agent's version
    host: str  # the board's host name, without .local
    ssh_port: int = 22
    ssh_fingerprint: str = ""  # "SHA256:...", "" if the agent could not read the host key


def to_txt(advert: Advert) -> dict[str, str]:
    """The TXT key/value pairs, short keys first-class: each pair well under 255 bytes."""
    return {
        "v": TXT_VERSION, "id": advert.id, "profile": advert.profile, "model": advert.model,
        "arch": str(advert.arch), "mem": str(advert.mem_mb), "disk": str(advert.storage_mb),
        "gpu": advert.gpu, "agent": advert.agent, "host": advert.host,
        "ssh": str(advert.ssh_port), "fp": advert.ssh_fingerprint,
    }


def txt_strings(rdata: bytes) -> list[bytes]:
    """Split TXT rdata into its length-prefixed strings; a string running past the end is bad."""
    strings, at = [], 0
    while at < len(rdata):
        end = at + 1 + rdata[at]
        if end > len(rdata):
            raise AdvertError(f"TXT record cut short: a string of {rdata[at]} bytes "
                              f"at offset {at} has only {len(rdata) - at - 1}")
        strings.append(rdata[at + 1:end])
        at = end
    return strings


def parse_txt(rdata: bytes) -> Advert:
    """The Advert in raw TXT rdata, or AdvertError saying why it is refused."""
    if len(rdata) > MAX_TXT_BYTES:
        raise AdvertError(f"TXT record of {len(rdata)} bytes, over the {MAX_TXT_BYTES} allowed")
    pairs: dict[str, str] = {}
    for raw in txt_strings(rdata):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise AdvertError(f"TXT string is not UTF-8: {raw[:40]!r}") from None
        key, _, value = text.partition("=")
        key = key.lower()
        if key and key not in pairs:  # RFC 6763 6.4: the first of a repeated key counts
            pairs[key] = value
    if pairs.get("v") != TXT_VERSION:
        raise AdvertError(f"TXT version {pairs.get('v')!r}, this fleet reads {TXT_VERSION!r}")
    try:
        device_id = validate_device_id(_required(pairs, "id"))
    except FleetError as e:
        raise AdvertError(str(e)) from None
    fingerprint = pairs.get("fp", "")
    if fingerprint and not _FINGERPRINT.fullmatch(fingerprint):
        raise AdvertError(f"fp {fingerprint[:60]!r} is not an SSH SHA256 fingerprint")
    for name in _TEXT_FIELDS:
        if not pairs.get(name, "x").isprintable():
            raise AdvertError(f"{name} has control characters")
    try:
        arch = Arch.parse(_required(pairs, "arch"))
    except ValueError as e:
        raise AdvertError(str(e)) from None
    return Advert(
        id=device_id, profile=_required(pairs, "profile"), model=pairs.get("model", ""),
        arch=arch, mem_mb=_number(pairs, "mem"), storage_mb=_number(pairs, "disk"),
        gpu=pairs.get("gpu", ""), agent=pairs.get("agent", ""),
        host=pairs.get("host", "") or device_id,
        ssh_port=_number(pairs, "ssh", default=22, high=65535), ssh_fingerprint=fingerprint,
    )


def _required(pairs: dict[str, str], key: str) -> str:
    value = pairs.get(key, "")
    if not value:
        raise AdvertError(f"TXT record has no {key!r}")
    return value


def _number(pairs: dict[str, str], key: str, default: int | None = None,
            high: int = 1 << 40) -> int:
    text = pairs.get(key)
    if text is None and default is not None:
        return default
    if text is None or not text.isascii() or not text.isdigit() or not 0 < int(text) <= high:
        raise AdvertError(f"{key}={text!r}: expected a whole number from 1 to {high}")
    return int(text)


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob, as `ssh-keygen -l` prints it."""
    digest = base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def public_key_fingerprint(line: str) -> str:
    """The fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)."""
    fields = line.split()
    try:
        return fingerprint(base64.b64decode(fields[1], validate=True))
    except (IndexError, binascii.Error):
        raise AdvertError(f"not an OpenSSH public key: {line[:60]!r}") from None
