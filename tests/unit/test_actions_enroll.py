"""The enroll use case: named boards and, with --all-new, the bare ones on mDNS, added first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from fleet.actions import enroll as use_case
from fleet.actions.discover import Scanner
from fleet.config import inventory
from fleet.deploy.enroll import Settings
from fleet.errors import SshConnectError
from fleet.lan.advert import Advert
from fleet.lan.discovery import Scan
from fleet.lan.sightings import BY_NAME, DeviceSeen
from fleet.model import Arch, Broker, Device
from fleet.ssh.connection import Connection, FakeConnection

TODAY = date(2026, 11, 22)
SETTINGS = Settings(Broker(host="10.0.0.254"), "fleet/agent:test", "python:3.11-slim-bookworm")
REPORT = "step docker ok\nstep agent-image present\nstep config written\nstep agent started c0\n"


def write_inventory(tmp_path: Path, *device_ids: str, default_profile: bool = True) -> Path:
    path = tmp_path / "inventory.yaml"
    defaults = "defaults:\n  profile: pi4b-8g\n" if default_profile else ""
    path.write_text(defaults + "groups:\n  shed: [pi-01]\n" * ("pi-01" in device_ids) + "devices:\n"
                    + "".join(f"  {d}:\n    host: {d}.local\n    profile: pi4b-8g\n"
                              for d in device_ids))
    return path


def board(device_id: str, address: str, *, agent: bool = False) -> DeviceSeen:
    advert = Advert(device_id, "pi4b-8g", "Raspberry Pi 4 Model B", Arch.ARM64, 8192, 32768,
                    "", "0.1", device_id) if agent else None
    return DeviceSeen(device_id, f"{device_id}.local", (address,), 22, advert, BY_NAME)


def on_mdns(*boards: DeviceSeen, asked: list[Sequence[str]] | None = None) -> Scanner:
    def scan(names: Sequence[str]) -> Scan:
        if asked is not None:
            asked.append(names)
        return Scan(boards, (), 1.0)
    return scan


class Boards:
    """Every board answers the image check and the playbook; those in `down` are unreachable."""

    def __init__(self, *down: str) -> None:
        self.down = set(down)
        self.connected: list[str] = []

    def __call__(self, device: Device) -> Connection:
        self.connected.append(device.id)
        if device.id in self.down:
            raise SshConnectError(device.host, 22, "no route to host")
        return FakeConnection(lambda command, _: (0, "present") if "image inspect" in command
                              else (0, REPORT), device=device.id)


def test_named_devices_and_groups_are_enrolled_and_nothing_is_added(tmp_path: Path) -> None:
    inv = inventory.load(write_inventory(tmp_path, "pi-01", "pi-02", "pi-03"))
    boards = Boards("pi-03")
    done = use_case.enroll(inv, ["shed", "pi-03"], SETTINGS, boards)
    assert sorted(boards.connected) == ["pi-01", "pi-03"]
    assert [(r.device, r.ok) for r in done.results] == [("pi-01", True), ("pi-03", False)]
    assert done.results[0].container == "c0"
    assert done.added == () and not done.ok


def test_all_new_adds_the_bare_boards_then_enrolls_them(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "pi-01")
    asked: list[Sequence[str]] = []
    scan = on_mdns(board("raspberrypi", "10.0.0.10"), board("raspberrypi-2", "10.0.0.11"),
                   board("pi-01", "10.0.0.1", agent=True), asked=asked)
    boards = Boards()
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(scan, TODAY, "pi4b-2g"))
    assert done.added == ("raspberrypi", "raspberrypi-2")
    assert sorted(boards.connected) == ["raspberrypi", "raspberrypi-2"]  # pi-01 runs an agent
    assert all(r.ok for r in done.results) and done.inventory == path
    added = {d.id: d for d in inventory.load(path).devices}
    assert added["raspberrypi"].profile.name == "pi4b-2g"
    assert added["raspberrypi-2"].host == "10.0.0.11"
    assert "raspberrypi-16" in asked[0]  # avahi's renames of further stock boards


def test_a_bare_board_already_in_the_inventory_is_enrolled_not_added_again(
        tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "raspberrypi")  # a failed first try left it there
    boards = Boards()
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("raspberrypi", "10.0.0.10")),
                                                   TODAY))
    assert (done.added, boards.connected) == ((), ["raspberrypi"])
    assert [d.id for d in inventory.load(path).devices] == ["raspberrypi"]


def test_a_board_without_a_profile_fails_alone_with_a_hint(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "pi-01", default_profile=False)
    boards = Boards()
    done = use_case.enroll(inventory.load(path), ["pi-01"], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("raspberrypi", "10.0.0.10")),
                                                   TODAY))
    assert boards.connected == ["pi-01"]
    [not_added, enrolled] = done.results
    assert (not_added.device, enrolled.device, enrolled.ok) == ("raspberrypi", "pi-01", True)
    assert (not_added.error or "").startswith("not added to the inventory:")
    assert "--profile" in not_added.hint and not done.ok


def test_no_bare_boards_is_nothing_to_enroll(tmp_path: Path) -> None:
    path = write_inventory(tmp_path)
    boards = Boards()
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(), TODAY))
    assert (done.added, done.results, boards.connected) == ((), (), [])
    assert done.ok
