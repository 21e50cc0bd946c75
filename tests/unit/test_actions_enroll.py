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
from fleet.lan.boards import PROBE_COMMAND
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


def board(device_id: str, address: str, *, agent: bool = False, port: int = 22) -> DeviceSeen:
    advert = Advert(device_id, "pi4b-8g", "Raspberry Pi 4 Model B", Arch.ARM64, 8192, 32768,
                    "", "0.1", device_id) if agent else None
    return DeviceSeen(device_id, f"{device_id}.local", (address,), port, advert, BY_NAME)


def on_mdns(*boards: DeviceSeen, asked: list[Sequence[str]] | None = None) -> Scanner:
    def scan(names: Sequence[str]) -> Scan:
        if asked is not None:
            asked.append(names)
        return Scan(boards, (), 1.0)
    return scan


class Boards:
    """Every board answers the image check and the playbook, and the model probe with what
    `models` says it is (nothing if absent); those in `down` are unreachable."""

    def __init__(self, *down: str, models: dict[str, str] | None = None) -> None:
        self.down = set(down)
        self.models = models or {}
        self.connected: list[str] = []  # connections tried, but for the model probes
        self.probed: list[Device] = []

    def __call__(self, device: Device) -> Connection:
        self.connected.append(device.id)
        if device.id in self.down:
            raise SshConnectError(device.host, 22, "no route to host")

        def answer(command: str, _: bytes) -> tuple[int, str]:
            if command == PROBE_COMMAND:
                self.connected.remove(device.id)
                self.probed.append(device)
                return 0, self.models.get(device.id, "\n### tegra\n### mem\n")
            return (0, "present") if "image inspect" in command else (0, REPORT)
        return FakeConnection(answer, device=device.id)


PI4_4G = "Raspberry Pi 4 Model B Rev 1.4\n### tegra\n### mem\nMemTotal:        3884328 kB\n"


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
    assert [d.id for d in boards.probed] == ["raspberrypi"]  # it said nothing fleet knows
    assert done.proposals[0].proposed is None and not done.proposals[0].used
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


def test_without_a_profile_a_bare_board_is_added_as_what_its_model_says(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "pi-01")  # defaults.profile pi4b-8g: the board overrules it
    boards = Boards(models={"raspberrypi": PI4_4G})
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("raspberrypi", "10.0.0.10")),
                                                   TODAY))
    assert done.ok and done.added == ("raspberrypi",)
    assert inventory.load(path).device("raspberrypi").profile.name == "pi4b-4g"
    [proposal] = done.proposals
    assert (proposal.proposed, proposal.used, proposal.disagrees) == ("pi4b-4g", True, False)
    assert "MemTotal 3793 MiB" in proposal.reason


def test_the_users_profile_wins_and_a_disagreement_is_reported(tmp_path: Path) -> None:
    path = write_inventory(tmp_path, "pi-01")
    boards = Boards(models={"raspberrypi": PI4_4G})
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("raspberrypi", "10.0.0.10")),
                                                   TODAY, "pi4b-2g"))
    assert inventory.load(path).device("raspberrypi").profile.name == "pi4b-2g"
    [proposal] = done.proposals
    assert (proposal.proposed, proposal.given, proposal.used, proposal.disagrees) == \
        ("pi4b-4g", "pi4b-2g", False, True)


def test_the_probe_logs_in_as_the_inventory_would_and_a_failed_one_says_why(
        tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("defaults:\n  profile: jetson-orin-nano-8g\n  ssh:\n    user: nvidia\n"
                    "devices:\n  pi-01:\n    host: pi-01.local\n")
    boards = Boards("orin-2", models={"orin-1": "NVIDIA Orin Nano Developer Kit\n### tegra\n"
                                      "# R35 (release), REVISION: 4.1\n### mem\n"
                                      "MemTotal:        7789952 kB\n"})
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("orin-1", "10.0.0.21"),
                                                           board("orin-2", "10.0.0.22")), TODAY))
    assert [(d.id, d.host, d.ssh.user) for d in boards.probed] == [
        ("orin-1", "10.0.0.21", "nvidia")]
    assert boards.probed[0].ssh.port == 22
    by_id = {p.device: p for p in done.proposals}
    assert by_id["orin-1"].proposed == "jetson-orin-nano-8g" and by_id["orin-1"].used
    assert by_id["orin-2"].proposed is None
    assert "could not read its model: " in by_id["orin-2"].reason
    assert "no route to host" in by_id["orin-2"].reason
    assert done.added == ("orin-1", "orin-2")  # orin-2 with the inventory's default profile


def test_a_board_on_another_ssh_port_is_probed_enrolled_and_added_on_it(tmp_path: Path) -> None:
    path = write_inventory(tmp_path)
    boards = Boards(models={"balena": PI4_4G})
    done = use_case.enroll(inventory.load(path), [], SETTINGS, boards,
                           all_new=use_case.AllNew(on_mdns(board("balena", "10.0.0.12",
                                                                 port=22222)), TODAY))
    assert done.ok and done.added == ("balena",)
    assert [(d.id, d.ssh.port) for d in boards.probed] == [("balena", 22222)]
    added = inventory.load(path).device("balena")
    assert (added.ssh.port, added.profile.name) == (22222, "pi4b-4g")
