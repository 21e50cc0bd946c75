"""SSH trust: the pure decision table, fingerprints, and fleet's known_hosts file."""

from __future__ import annotations

import base64
import stat
import struct
import subprocess
from pathlib import Path

import paramiko
import pytest

from fleet.errors import (
    ConfigError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyMismatchError,
    HostKeyNotPinnedError,
    HostKeyUnverifiedError,
    InvalidDeviceIdError,
    KeyFormatError,
)
from fleet.lan.advert import public_key_fingerprint
from fleet.ssh.hostkeys import HostKey, KnownHosts, parse_fingerprint
from fleet.ssh.trust import Action, PinnedHostKeyPolicy, decide


def blob(n: int, key_type: str = "ssh-ed25519") -> bytes:
    name = key_type.encode()
    return struct.pack(">I", len(name)) + name + struct.pack(">I", 32) + bytes([n]) * 32


def key(n: int = 1, key_type: str = "ssh-ed25519") -> HostKey:
    """A distinct, well-formed (if not usable) public key per n."""
    return HostKey.from_blob(blob(n, key_type))


OFFERED, OTHER, THIRD = key(1), key(2), key(3)
FP, OTHER_FP, THIRD_FP = OFFERED.fingerprint, OTHER.fingerprint, THIRD.fingerprint

# -- decide: the whole policy ------------------------------------------------------------

DECISIONS = [
    # name,                                pinned, advertised, accept,  action,   basis / error
    ("pinned key offered",                 OFFERED, None,      None,     Action.KEEP, "pinned"),
    ("pinned key, board advertises other", OFFERED, OTHER_FP,  None,     Action.KEEP, "pinned"),
    ("pinned key, stale --accept",         OFFERED, None,      OTHER_FP, Action.KEEP, "pinned"),
    ("changed key accepted",               OTHER,   None,      FP,       Action.REPLACE,
     "accepted"),
    ("changed key",                        OTHER,   None,      None,     Action.REFUSE,
     HostKeyChangedError),
    ("changed key, mDNS names the new one", OTHER,  FP,        None,     Action.REFUSE,
     HostKeyChangedError),
    ("changed key, --accept a third",      OTHER,   None,      THIRD_FP, Action.REFUSE,
     HostKeyChangedError),
    ("changed key, --accept the old one",  OTHER,   FP,        OTHER_FP, Action.REFUSE,
     HostKeyChangedError),
    ("first contact, advertised",          None,    FP,        None,     Action.PIN, "advertised"),
    ("first contact, accepted",            None,    None,      FP,       Action.PIN, "accepted"),
    ("first contact, accepted over mDNS",  None,    OTHER_FP,  FP,       Action.PIN, "accepted"),
    ("first contact, wrong --accept",      None,    FP,        OTHER_FP, Action.REFUSE,
     HostKeyMismatchError),
    ("first contact, advertised other",    None,    OTHER_FP,  None,     Action.REFUSE,
     HostKeyMismatchError),
    ("first contact, nothing to check",    None,    None,      None,     Action.REFUSE,
     HostKeyUnverifiedError),
    ("first contact, empty fp in TXT",     None,    "",        "",       Action.REFUSE,
     HostKeyUnverifiedError),
]


@pytest.mark.parametrize(("pinned", "advertised", "accept", "action", "outcome"),
                         [case[1:] for case in DECISIONS], ids=[case[0] for case in DECISIONS])
def test_decide(pinned: HostKey | None, advertised: str | None, accept: str | None,
                action: Action, outcome: str | type[HostKeyError]) -> None:
    decision = decide("pi-01", OFFERED, pinned, advertised, accept)
    assert decision.action is action
    assert decision.offered == OFFERED
    assert decision.previous == pinned
    if isinstance(outcome, str):
        assert (decision.basis, decision.error) == (outcome, None)
    else:
        assert type(decision.error) is outcome
        assert decision.error.device_id == "pi-01"
        assert decision.error.offered == FP
        assert decision.error.accept_command == f"fleet trust pi-01 --accept {FP}"
        assert f"fleet trust pi-01 --accept {FP}" in str(decision.error)


def test_every_action_is_in_the_table() -> None:
    assert {case[4] for case in DECISIONS} == set(Action)


def test_a_changed_key_shows_both_fingerprints_and_how_to_accept() -> None:
    error = decide("pi-01", OFFERED, OTHER, FP, None).error
    assert isinstance(error, HostKeyChangedError)
    assert (error.pinned, error.offered, error.advertised) == (OTHER_FP, FP, FP)
    text = str(error)
    assert error.summary == "pi-01: SSH host key CHANGED since it was pinned; refusing it"
    assert f"pinned:     {OTHER_FP}" in text
    assert f"offered:    {FP} (ssh-ed25519)" in text
    assert "the new key" in text
    assert "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" in text
    assert f"\n  fleet trust pi-01 --accept {FP}\n" in text


def test_a_wrong_accept_is_named_in_the_refusal() -> None:
    changed = decide("pi-01", OFFERED, OTHER, None, THIRD_FP).error
    assert changed is not None and changed.accepted == THIRD_FP
    assert f"--accept {THIRD_FP} is not the offered key: nothing was changed" in str(changed)
    mismatch = decide("pi-01", OFFERED, None, FP, THIRD_FP).error
    assert isinstance(mismatch, HostKeyMismatchError)
    assert mismatch.summary.startswith("pi-01: SSH host key is not the one given with --accept")
    assert f"accepted:   {THIRD_FP}" in str(mismatch)


def test_an_impostor_shows_what_was_advertised_and_what_was_offered() -> None:
    error = decide("pi-01", OFFERED, None, OTHER_FP, None).error
    assert isinstance(error, HostKeyMismatchError)
    assert "possibly an impostor" in error.summary
    assert f"advertised: {OTHER_FP}" in str(error)
    assert f"offered:    {FP}" in str(error)
    assert error.as_dict() == {
        "device": "pi-01", "error": "mismatch", "key_type": "ssh-ed25519", "offered": FP,
        "pinned": None, "advertised": OTHER_FP, "accepted": None,
        "accept_command": f"fleet trust pi-01 --accept {FP}", "message": str(error),
    }


@pytest.mark.parametrize(("key_type", "command"), [
    ("ssh-ed25519", "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"),
    ("ecdsa-sha2-nistp256", "ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub"),
    ("ssh-rsa", "ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub"),
])
def test_an_unverified_key_says_how_to_check_it_on_the_console(key_type: str,
                                                               command: str) -> None:
    offered = key(1, key_type)
    error = decide("pi-01", offered, None, None, None).error
    assert isinstance(error, HostKeyUnverifiedError)
    assert f"`{command}`" in str(error)
    assert f"fleet trust pi-01 --accept {offered.fingerprint}" in str(error)


# -- keys and fingerprints ---------------------------------------------------------------

def test_host_key_reads_a_public_key_line() -> None:
    line = f"ssh-ed25519 {base64.b64encode(blob(5)).decode()} root@pi-01"
    parsed = HostKey.parse(line)
    assert parsed == key(5)
    assert parsed.fingerprint == public_key_fingerprint(line)
    assert parsed.line("pi-01") == "pi-01 " + " ".join(line.split()[:2])


@pytest.mark.parametrize(("key_type", "text"), [
    ("ssh-rsa", base64.b64encode(blob(1)).decode()),  # the blob says ssh-ed25519
    ("ssh-ed25519", "not base64!"),
    ("ssh-ed25519", base64.b64encode(b"\x00\x00\x00\x40short").decode()),
])
def test_host_key_refuses_what_is_not_a_key(key_type: str, text: str) -> None:
    with pytest.raises(KeyFormatError):
        HostKey(key_type, text)


@pytest.mark.parametrize("text", [FP, FP.replace("SHA256:", "sha256:"), FP[7:], f" {FP}= "])
def test_parse_fingerprint_takes_what_ssh_keygen_prints(text: str) -> None:
    assert parse_fingerprint(text) == FP


@pytest.mark.parametrize("text", ["", "SHA256:", FP[:-1], "MD5:16:27:ac:a5:76:28:2d:36:63:1b",
                                  FP + "x", FP.replace("A", "-")])
def test_parse_fingerprint_refuses_anything_else(text: str) -> None:
    with pytest.raises(KeyFormatError, match="not a SHA256 fingerprint"):
        parse_fingerprint(text)


# -- fleet's known_hosts file ------------------------------------------------------------


def test_pins_survive_reloading(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    store = KnownHosts(path)
    assert store.pinned("pi-01") is None
    assert store.pin("pi-01", key(1)) is True
    assert store.pin("pi-02", key(2, "ecdsa-sha2-nistp256")) is True
    assert store.pin("pi-01", key(1)) is False  # already pinned: nothing written
    again = KnownHosts(path)
    assert again.pinned("pi-01") == key(1)
    ecdsa = key(2, "ecdsa-sha2-nistp256")
    assert again.pins() == {"pi-01": key(1), "pi-02": ecdsa}
    assert path.read_text() == f"{key(1).line('pi-01')}\n{ecdsa.line('pi-02')}\n"


def test_pin_refuses_a_different_key(tmp_path: Path) -> None:
    store = KnownHosts(tmp_path / "known_hosts")
    store.pin("pi-01", key(1))
    before = store.path.read_bytes()
    with pytest.raises(HostKeyChangedError) as caught:
        store.pin("pi-01", key(2))
    assert (caught.value.pinned, caught.value.offered) == (key(1).fingerprint, key(2).fingerprint)
    assert store.path.read_bytes() == before


def test_replace_swaps_the_key_in_place(tmp_path: Path) -> None:
    store = KnownHosts(tmp_path / "known_hosts")
    for n, device in enumerate(["pi-01", "pi-02", "pi-03"], start=1):
        store.pin(device, key(n))
    assert store.replace("pi-02", key(9)) == key(2)
    assert store.replace("pi-04", key(4)) is None  # nothing pinned yet: added
    assert list(store.pins().items()) == [("pi-01", key(1)), ("pi-02", key(9)),
                                          ("pi-03", key(3)), ("pi-04", key(4))]


OTHER_LINES = [
    "# fleet's pins; hand edits are kept",
    "",
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 "
    + base64.b64encode(blob(7)).decode(),
    "@cert-authority *.lan ssh-ed25519 " + base64.b64encode(blob(8)).decode(),
    "pi-05,10.0.0.5 ssh-ed25519 " + base64.b64encode(blob(5)).decode() + " a pattern list",
    "pi-06 ssh-ed25519 this-is-not-a-key",
    "a line fleet does not understand",
    "caf\udce9 latin-1 bytes",
]


def test_lines_fleet_did_not_write_are_kept_and_not_read_as_pins(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    original = "\n".join(OTHER_LINES).encode("utf-8", "surrogateescape") + b"\n"
    path.write_bytes(original)
    store = KnownHosts(path)
    assert store.pins() == {}  # "pi-05,10.0.0.5" and "pi-06 ... not-a-key" are not fleet's
    store.pin("pi-01", key(1))
    store.replace("pi-06", key(6))
    store.replace("pi-01", key(2))
    added = f"{key(2).line('pi-01')}\n{key(6).line('pi-06')}\n"
    assert path.read_bytes() == original + added.encode()


def test_a_second_line_for_a_board_does_not_count_and_goes_on_replace(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{key(1).line('pi-01')}\n# between\n{key(2).line('pi-01')}\n")
    store = KnownHosts(path)
    assert store.pinned("pi-01") == key(1)
    assert store.replace("pi-01", key(3)) == key(1)
    assert path.read_text() == f"{key(3).line('pi-01')}\n# between\n"


def test_the_file_is_private_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "config" / "fleet" / "known_hosts"
    store = KnownHosts(path)
    store.pin("pi-01", key(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    store.replace("pi-01", key(2))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a rewrite is a new, private file
    assert sorted(p.name for p in path.parent.iterdir()) == ["known_hosts", "known_hosts.lock"]


def test_device_ids_are_checked(tmp_path: Path) -> None:
    store = KnownHosts(tmp_path / "known_hosts")
    with pytest.raises(InvalidDeviceIdError):
        store.pin("pi-01 *", key(1))
    with pytest.raises(InvalidDeviceIdError):
        store.pinned("PI-01")


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{tmp_path}: cannot read it"):
        KnownHosts(tmp_path).pinned("pi-01")  # a directory


def test_openssh_finds_the_pins_by_device_id(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(OTHER_LINES[:3]) + "\n")
    store = KnownHosts(path)
    store.pin("pi-01", key(1))
    store.pin("pi-02", key(2))

    def keygen_find(host: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh-keygen", "-F", host, "-f", str(path)],
                              capture_output=True, text=True, check=False)

    found = keygen_find("pi-02")
    assert found.returncode == 0
    assert key(2).line("pi-02") in found.stdout.splitlines()
    assert keygen_find("pi-03").returncode == 1


# -- the policy for later SSH sessions ---------------------------------------------------

def policy_check(store: KnownHosts, offered: HostKey) -> None:
    paramiko_key = paramiko.Ed25519Key(data=base64.b64decode(offered.base64))
    PinnedHostKeyPolicy(store, "pi-01").missing_host_key(paramiko.SSHClient(), "[pi]:22",
                                                          paramiko_key)


def test_the_policy_accepts_only_the_pinned_key_and_pins_nothing(tmp_path: Path) -> None:
    store = KnownHosts(tmp_path / "known_hosts")
    with pytest.raises(HostKeyNotPinnedError) as caught:
        policy_check(store, key(1))
    assert caught.value.accept_command == "fleet trust pi-01"
    assert f"no SSH host key pinned in {store.path}; run `fleet trust pi-01` first" in str(
        caught.value)
    assert not store.path.exists()
    store.pin("pi-01", key(1))
    policy_check(store, key(1))
    with pytest.raises(HostKeyChangedError) as changed:
        policy_check(store, key(2))
    assert (changed.value.pinned, changed.value.offered) == (key(1).fingerprint,
                                                             key(2).fingerprint)
    assert store.pins() == {"pi-01": key(1)}
