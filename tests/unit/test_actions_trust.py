"""The trust use case: every device's host key checked, a result each, mDNS read only if needed."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleet.actions import trust as use_case
from fleet.actions.discover import CheckKey, Scanner
from fleet.errors import ConfigError, HostKeyChangedError, HostKeyMismatchError, SshConnectError
from fleet.lan.advert import Advert
from fleet.lan.discovery import Scan
from fleet.lan.sightings import BY_NAME, DeviceSeen
from fleet.model import Arch, SshTarget
from fleet.ssh import trust
from fleet.ssh.hostkeys import HostKey, KnownHosts
from tests.kit import device


def key(n: int) -> HostKey:
    """A distinct, well-formed (if unusable) ed25519 public key per n."""
    name = b"ssh-ed25519"
    return HostKey.from_blob(struct.pack(">I", len(name)) + name + struct.pack(">I", 32)
                             + bytes([n]) * 32)


def advertising(fingerprints: dict[str, str], scans: list[Sequence[str]]) -> Scanner:
    """An mDNS browse where each board's agent advertises the given fingerprint."""
    boards = tuple(DeviceSeen(d, f"{d}.local", ("10.0.0.1",), 22, Advert(
        d, "pi4b-8g", "Raspberry Pi 4 Model B", Arch.ARM64, 8192, 32768, "", "0.1", d,
        ssh_fingerprint=fp), BY_NAME) for d, fp in fingerprints.items())

    def scan(names: Sequence[str]) -> Scan:
        scans.append(names)
        return Scan(boards, (), 1.0)
    return scan


def offering(keys: dict[str, HostKey | Exception]) -> CheckKey:
    """trust.check with each host's sshd replaced by the key (or the error) given for it."""
    def check(device_id: str, host: str, port: int, store: KnownHosts, *,
              advertised: str | None = None, accept: str | None = None,
              **_: Any) -> trust.TrustResult:
        offered = keys[host]
        if isinstance(offered, Exception):
            raise offered
        decision = trust.decide(device_id, offered, store.pinned(device_id), advertised, accept)
        if decision.error is not None:
            raise decision.error
        previous = None
        if decision.action is trust.Action.PIN:
            store.pin(device_id, offered)
        elif decision.action is trust.Action.REPLACE:
            previous = store.replace(device_id, offered)
        return trust.TrustResult(device_id, host, port, decision.action, offered,
                                 decision.basis, previous)
    return check


class Stages:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def stage(self, device: str, text: str) -> None:
        self.seen.append((device, text))

    def expect(self, device: str, nbytes: int) -> None:
        pass

    def sent(self, device: str, nbytes: int) -> None:
        pass


def test_first_contact_pins_what_the_agents_advertise_and_refuses_the_rest(
        tmp_path: Path) -> None:
    fleet = [device(d) for d in ("pi-01", "pi-02", "pi-03", "pi-04")]
    store = KnownHosts(tmp_path / "known_hosts")
    scans: list[Sequence[str]] = []
    progress = Stages()
    checks = use_case.check_all(
        fleet, store, progress=progress,
        scan=advertising({"pi-01": key(1).fingerprint, "pi-02": key(9).fingerprint}, scans),
        check=offering({"pi-01.local": key(1), "pi-02.local": key(2), "pi-03.local": key(3),
                        "pi-04.local": SshConnectError("pi-04.local", 22, "no route")}))
    assert [c.device for c in checks] == ["pi-01", "pi-02", "pi-03", "pi-04"]
    assert checks[0].trusted is not None and checks[0].trusted.result == "pinned"
    assert isinstance(checks[1].refused, HostKeyMismatchError)  # an impostor, or a wrong fp
    assert checks[2].refused is not None and checks[2].refused.kind == "unverified"
    assert "no route" in (checks[3].unreachable or "")
    assert [c.ok for c in checks] == [True, False, False, False]
    assert store.pins() == {"pi-01": key(1)}
    assert scans == [["raspberrypi", "pi-01", "pi-02", "pi-03", "pi-04"]]  # one browse
    assert ("pi-01", "done") in progress.seen and ("pi-02", "failed") in progress.seen


def test_when_every_key_is_pinned_mdns_is_not_read(tmp_path: Path) -> None:
    fleet = [device(d) for d in ("pi-01", "pi-02")]
    store = KnownHosts(tmp_path / "known_hosts")
    store.pin("pi-01", key(1))
    store.pin("pi-02", key(2))
    scans: list[Sequence[str]] = []
    checks = use_case.check_all(fleet, store, scan=advertising({}, scans), check=offering(
        {"pi-01.local": key(1), "pi-02.local": key(7)}))
    assert scans == []
    assert checks[0].trusted is not None and checks[0].trusted.result == "matches"
    assert isinstance(checks[1].refused, HostKeyChangedError)
    assert checks[1].error is not None and key(7).fingerprint in checks[1].error


def test_accept_takes_exactly_one_device(tmp_path: Path) -> None:
    fleet = [device(d) for d in ("pi-01", "pi-02")]
    store = KnownHosts(tmp_path / "known_hosts")
    asked: list[str] = []

    def never(device_id: str, *_: Any, **__: Any) -> trust.TrustResult:
        asked.append(device_id)
        raise AssertionError("no board may be contacted")
    with pytest.raises(ConfigError, match="--accept takes one device"):
        use_case.check_all(fleet, store, scan=advertising({}, []), check=never,
                           accept=key(1).fingerprint)
    assert asked == []


def test_accept_replaces_a_changed_key_without_reading_mdns(tmp_path: Path) -> None:
    pi = device("pi-01")
    store = KnownHosts(tmp_path / "known_hosts")
    store.pin("pi-01", key(1))
    scans: list[Sequence[str]] = []
    [check] = use_case.check_all([pi], store, scan=advertising({}, scans),
                                 check=offering({"pi-01.local": key(2)}),
                                 accept=key(2).fingerprint)
    assert check.trusted is not None and check.trusted.result == "replaced"
    assert (scans, store.pinned("pi-01")) == ([], key(2))


def test_an_unexpected_error_is_that_devices_result(tmp_path: Path) -> None:
    fleet = [device(d) for d in ("pi-01", "pi-02")]
    store = KnownHosts(tmp_path / "known_hosts")
    store.pin("pi-02", key(2))
    checks = use_case.check_all(fleet, store, scan=advertising({}, []), check=offering(
        {"pi-01.local": RuntimeError("a bug"), "pi-02.local": key(2)}))
    assert checks[0].unreachable == "unexpected RuntimeError: a bug"
    assert checks[1].ok


def test_a_local_board_is_skipped_saying_why_and_fails_nothing(tmp_path: Path) -> None:
    gateway = device("gateway", host="localhost", ssh=SshTarget(user="root", local=True))
    store = KnownHosts(tmp_path / "known_hosts")
    scans: list[Sequence[str]] = []
    progress = Stages()
    checks = use_case.check_all(
        [gateway, device("pi-01")], store, progress=progress,
        scan=advertising({"pi-01": key(1).fingerprint}, scans),
        check=offering({"pi-01.local": key(1)}))  # the gateway's host is never asked
    assert checks[0].skipped is not None and "ansible_connection: local" in checks[0].skipped
    assert "no host key" in checks[0].skipped
    assert (checks[0].trusted, checks[0].error) == (None, None)
    assert [c.ok for c in checks] == [True, True]
    assert store.pins() == {"pi-01": key(1)}
    assert scans == [["raspberrypi", "pi-01"]]  # localhost is not a board to look for
    assert ("gateway", "skipped: a local board") in progress.seen


def test_local_boards_alone_need_no_mdns_and_no_ssh(tmp_path: Path) -> None:
    gateway = device("gateway", host="localhost", ssh=SshTarget(user="root", local=True))
    store = KnownHosts(tmp_path / "known_hosts")
    scans: list[Sequence[str]] = []

    def never(device_id: str, *_: Any, **__: Any) -> trust.TrustResult:
        raise AssertionError(f"{device_id} has no sshd to ask")
    [check] = use_case.check_all([gateway], store, scan=advertising({}, scans), check=never)
    assert check.ok and check.skipped is not None
    [accepted] = use_case.check_all([gateway], store, scan=advertising({}, scans), check=never,
                                    accept=key(1).fingerprint)
    assert accepted.skipped == check.skipped
    assert (scans, store.pins()) == ([], {})
