"""The discover use case: boards matched to the inventory; --add writes the new, pins their keys."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fleet.actions import discover
from fleet.config import inventory
from fleet.errors import HostKeyMismatchError, SshConnectError
from fleet.lan.advert import Advert
from fleet.lan.discovery import Scan
from fleet.lan.sightings import BY_NAME, DeviceSeen
from fleet.model import Arch
from fleet.ssh.hostkeys import HostKey, KnownHosts
from fleet.ssh.trust import Action, TrustResult

TODAY = date(2026, 11, 22)
NAME = b"ssh-ed25519"
# A well-formed (if unusable) ed25519 public key blob.
KEY = HostKey.from_blob(struct.pack(">I", len(NAME)) + NAME + struct.pack(">I", 32) + b"\x07" * 32)


def seen(device_id: str, address: str, *, fingerprint: str | None = None,
         agent: bool = True, port: int = 22) -> DeviceSeen:
    advert = Advert(device_id, "pi4b-8g", "Raspberry Pi 4 Model B", Arch.ARM64, 8192, 32768,
                    "", "0.1", device_id, ssh_fingerprint=fingerprint or "") if agent else None
    return DeviceSeen(device_id, f"{device_id}.local", (address,), port, advert, BY_NAME)


def scanner(*boards: DeviceSeen, asked: list[Sequence[str]] | None = None
            ) -> discover.Scanner:
    def scan(names: Sequence[str]) -> Scan:
        if asked is not None:
            asked.append(list(names))
        return Scan(boards, (), 1.0)
    return scan


def write_inventory(tmp_path: Path, *device_ids: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text("defaults:\n  profile: pi4b-8g\ndevices:\n" + "".join(
        f"  {d}:\n    host: {d}.local\n" for d in device_ids))
    return path


class Checker:
    """trust.check without the network: every board offers KEY; a refusal is scripted."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.refuse = refuse or {}
        self.calls: list[tuple[str, str, str | None]] = []

    def __call__(self, device_id: str, host: str, port: int, store: KnownHosts, *,
                 advertised: str | None = None, accept: str | None = None,
                 **_: Any) -> TrustResult:
        self.calls.append((device_id, host, advertised))
        if device_id in self.refuse:
            raise self.refuse[device_id]
        store.pin(device_id, KEY)
        return TrustResult(device_id, host, port, Action.PIN, KEY, "advertised")


def test_find_matches_boards_to_the_inventory_and_names_the_silent(tmp_path: Path) -> None:
    devices = inventory.load(write_inventory(tmp_path, "pi-01", "pi-02")).devices
    asked: list[Sequence[str]] = []
    findings = discover.find(devices, scanner(seen("pi-01", "10.0.0.1"),
                                              seen("garage", "10.0.0.9"), asked=asked),
                             ["extra-board"])
    assert [(f.seen.id, f.inventory_id) for f in findings.found] == [
        ("garage", None), ("pi-01", "pi-01")]
    assert findings.absent == ("pi-02",)
    assert "extra-board" in asked[0] and "pi-01" in asked[0]


def test_add_writes_new_boards_and_pins_only_the_advertised_keys(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "pi-01")
    store = KnownHosts(tmp_path / "known_hosts")
    found = discover.find(inventory.load(path).devices, scanner(
        seen("pi-01", "10.0.0.1", fingerprint=KEY.fingerprint),
        seen("garage", "10.0.0.9", fingerprint=KEY.fingerprint),
        seen("raspberrypi", "10.0.0.10", agent=False))).found
    check = Checker()
    added = discover.add_found(path, found, store, today=TODAY, check=check)
    assert added.added == ("garage", "raspberrypi")
    assert [d.id for d in inventory.load(path).devices] == ["pi-01", "garage", "raspberrypi"]
    # pi-01 was there already, and a bare board advertises no fingerprint: only garage's.
    assert check.calls == [("garage", "10.0.0.9", KEY.fingerprint)]
    assert [(p.device, p.result, p.fingerprint) for p in added.pins] == [
        ("garage", "pinned", KEY.fingerprint)]
    assert store.pinned("garage") == KEY and added.ok


def test_a_board_whose_records_give_another_ssh_port_is_added_with_it(tmp_path: Path) -> None:
    path = write_inventory(tmp_path)
    found = discover.find((), scanner(seen("balena", "10.0.0.12", agent=False, port=22222),
                                      seen("raspberrypi", "10.0.0.10", agent=False))).found
    discover.add_found(path, found, KnownHosts(tmp_path / "kh"), today=TODAY, check=Checker())
    inv = inventory.load(path)
    assert [(d.id, d.ssh.port) for d in inv.devices] == [("balena", 22222), ("raspberrypi", 22)]
    # 22 is left to the defaults: only balena's port is written.
    assert [line.strip() for line in path.read_text().splitlines() if "port:" in line] == [
        "port: 22222"]


def test_a_refused_key_is_that_boards_result_and_not_the_others(tmp_path: Path) -> None:
    path = write_inventory(tmp_path)
    refusal = HostKeyMismatchError("bad-pi", offered=KEY.fingerprint, key_type=KEY.type,
                                   advertised="SHA256:" + "A" * 43)
    found = discover.find((), scanner(
        seen("bad-pi", "10.0.0.8", fingerprint="SHA256:" + "A" * 43),
        seen("good-pi", "10.0.0.9", fingerprint=KEY.fingerprint),
        seen("gone-pi", "10.0.0.7", fingerprint=KEY.fingerprint))).found
    check = Checker({"bad-pi": refusal,
                     "gone-pi": SshConnectError("10.0.0.7", 22, "cannot connect")})
    added = discover.add_found(path, found, KnownHosts(tmp_path / "kh"), today=TODAY,
                               check=check)
    assert {p.device: (p.result, p.ok) for p in added.pins} == {
        "bad-pi": ("refused", False), "good-pi": ("pinned", True), "gone-pi": ("refused", False)}
    errors = {p.device: p.error or "" for p in added.pins}
    assert "cannot connect" in errors["gone-pi"] and "bad-pi" in errors["bad-pi"]
    assert not added.ok


def test_a_board_the_inventory_cannot_take_does_not_keep_the_others_out(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("devices:\n  pi-01:\n    host: pi-01.local\n    profile: pi4b-8g\n")
    found = discover.find((), scanner(seen("raspberrypi", "10.0.0.10", agent=False),
                                      seen("garage", "10.0.0.9"))).found
    added = discover.add_found(path, found, KnownHosts(tmp_path / "kh"), today=TODAY,
                               check=Checker())
    # A bare board says nothing of its hardware and there is no defaults.profile.
    assert added.added == ("garage",)
    assert [(n.device, "profile" in n.error) for n in added.not_added] == [("raspberrypi", True)]
    assert not added.ok


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyError("x")])
def test_an_unexpected_error_is_a_refused_pin(tmp_path: Path, error: Exception) -> None:
    found = discover.find((), scanner(seen("garage", "10.0.0.9",
                                           fingerprint=KEY.fingerprint))).found
    added = discover.add_found(write_inventory(tmp_path), found, KnownHosts(tmp_path / "kh"),
                               today=TODAY, check=Checker({"garage": error}))
    assert [(p.result, (p.error or "").startswith("unexpected")) for p in added.pins] == [
        ("refused", True)]


def test_a_local_boards_loopback_host_matches_no_board_and_is_not_asked_for(
        tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[fleet]\nlocalhost ansible_connection=local fleet_profile=pi4b-8g\n"
                    "gw ansible_host=127.0.0.1 ansible_connection=local fleet_profile=pi4b-8g\n"
                    "pi-01 fleet_profile=pi4b-8g\n")
    devices = inventory.load(path).devices
    asked: list[Sequence[str]] = []
    # A board whose mDNS record gives a loopback address: not gw, whose host is one too.
    findings = discover.find(devices, scanner(seen("laptop", "127.0.0.1"),
                                              seen("pi-01", "10.0.0.1"), asked=asked))
    assert [(f.seen.id, f.inventory_id) for f in findings.found] == [
        ("laptop", None), ("pi-01", "pi-01")]
    assert findings.absent == ("localhost", "gw")
    assert asked == [["raspberrypi", "pi-01"]]
