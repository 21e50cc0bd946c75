"""The _fleet._tcp TXT record: the agent writes it, the controller reads it back or refuses it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zeroconf import ServiceInfo

from fleet.lan.advert import (
    MAX_TXT_BYTES,
    SERVICE_TYPE,
    Advert,
    AdvertError,
    fingerprint,
    parse_txt,
    public_key_fingerprint,
    to_txt,
    txt_strings,
)
from fleet.model import Arch

ADVERT = Advert(id="shed-pi-1", profile="pi4b-8g", model="Raspberry Pi 4 Model B Rev 1.4",
                arch=Arch.ARM64, mem_mb=8192, storage_mb=29917, gpu="", agent="0.1.0",
                host="shed-pi-1", ssh_port=22,
                ssh_fingerprint="SHA256:" + "A" * 43)


def rdata(pairs: dict[str, str] | list[bytes]) -> bytes:
    """TXT rdata: each string prefixed by its length."""
    strings = [f"{k}={v}".encode() for k, v in pairs.items()] if isinstance(pairs, dict) \
        else pairs
    return b"".join(bytes([len(s)]) + s for s in strings)


def test_zeroconfs_encoding_of_the_agents_txt_reads_back() -> None:
    info = ServiceInfo(SERVICE_TYPE, f"shed-pi-1.{SERVICE_TYPE}", port=22,
                       properties=to_txt(ADVERT), server="fleet-shed-pi-1.local.",
                       parsed_addresses=["10.0.0.5"])
    assert parse_txt(info.text) == ADVERT
    assert len(info.text) < 300  # well inside one packet


ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
printable = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                                  exclude_categories=["Cs"]), max_size=40
                    ).filter(str.isprintable)
adverts = st.builds(
    Advert, id=ids, profile=printable.filter(bool), model=printable, arch=st.sampled_from(Arch),
    mem_mb=st.integers(1, 1 << 20), storage_mb=st.integers(1, 1 << 24), gpu=printable,
    agent=printable, host=ids, ssh_port=st.integers(1, 65535),
    ssh_fingerprint=st.one_of(st.just(""), st.binary(min_size=1, max_size=64).map(fingerprint)),
)


@given(adverts)
def test_any_advert_round_trips(advert: Advert) -> None:
    assert parse_txt(rdata(to_txt(advert))) == advert


@given(st.binary(max_size=2000))
def test_any_bytes_are_read_or_refused_with_advert_error(raw: bytes) -> None:
    with contextlib.suppress(AdvertError):
        parse_txt(raw)


@given(st.lists(st.binary(max_size=255), max_size=12))
def test_well_framed_strings_of_any_bytes_only_raise_advert_error(strings: list[bytes]) -> None:
    with contextlib.suppress(AdvertError):
        parse_txt(rdata([b"v=1", *strings]))


@given(adverts, st.dictionaries(st.from_regex(r"x-[a-z]{1,8}", fullmatch=True), printable,
                                max_size=5))
def test_unknown_keys_are_ignored(advert: Advert, extra: dict[str, str]) -> None:
    assert parse_txt(rdata({**to_txt(advert), **extra})) == advert


def with_(**changes: str) -> bytes:
    return rdata({**to_txt(ADVERT), **changes})


@pytest.mark.parametrize(("raw", "reason"), [
    (with_(id="Shed_Pi"), "invalid device id"),
    (with_(id=""), "has no 'id'"),
    (with_(v="2"), "TXT version '2'"),
    (with_(mem="lots"), "mem='lots'"),
    (with_(mem="0"), "mem='0'"),
    (with_(ssh="70000"), "ssh='70000'"),
    (with_(arch="sparc"), "sparc"),
    (with_(fp="MD5:aa:bb"), "not an SSH SHA256 fingerprint"),
    (with_(model="evil\x1b[2J"), "control characters"),
    (with_(**{"x-pad": "p" * 200}) * 7, "over the 1300 allowed"),
    (rdata([b"v=1", b"id=\xff\xfe"]), "not UTF-8"),
    (b"\x09v=1", "cut short"),
])
def test_bad_records_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    assert len(raw) > MAX_TXT_BYTES or "1300" not in reason
    with pytest.raises(AdvertError, match=reason.replace("[", r"\[").replace("(", r"\(")):
        parse_txt(raw)


def test_the_first_of_a_repeated_key_counts_and_keys_ignore_case() -> None:
    raw = rdata([b"V=1", *(f"{k}={v}".encode() for k, v in to_txt(ADVERT).items() if k != "v"),
                 b"id=someone-else"])
    assert parse_txt(raw).id == "shed-pi-1"


def test_txt_strings_splits_on_lengths() -> None:
    assert txt_strings(b"\x03a=b\x00\x01c") == [b"a=b", b"", b"c"]


def test_fingerprints_match_ssh_keygen(tmp_path: Path) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True,
                           capture_output=True, text=True).stdout.split()[1]
    assert public_key_fingerprint(Path(f"{key}.pub").read_text()) == shown
    blob = base64.b64decode(Path(f"{key}.pub").read_text().split()[1])
    assert shown == "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode()[:43]


def test_a_line_that_is_not_a_public_key_is_refused() -> None:
    with pytest.raises(AdvertError, match="not an OpenSSH public key"):
        public_key_fingerprint("-----BEGIN OPENSSH PRIVATE KEY-----")
