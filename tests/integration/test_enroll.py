"""`fleet enroll` on a lab of its own: two bare boards found, trusted, bootstrapped, then kept.

The lab `ienr` has one agent (in the inventory) and two stock boards that
publish only their host names and are not in the inventory. The CLI runs as a
user would run it, with fleet's pins in a known_hosts file of the test's own.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleet.lab import agents
from fleet.lab.spec import LabDevice
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

SUBNET = "10.243.0.0/24"
BRIDGE = "10.243.0.1"
AGENT = "ienr-01"
BARE = ("raspberrypi", "raspberrypi-2")
BASE = "fleet/agent-base:bookworm"  # preloaded on every lab device: no registry here
PASSWORD = "enroll-test-secret"

pytestmark = pytest.mark.integration


@dataclass
class Work:
    lab: Lab
    root: Path
    devices: dict[str, LabDevice]

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def device(self, device_id: str) -> LabDevice:
        return self.devices[device_id]

    def fleet(self, inv: Path, *args: str, known_hosts: Path | None = None
              ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FLEET_KNOWN_HOSTS": str(known_hosts or self.known_hosts)}
        return subprocess.run([sys.executable, "-m", "fleet", "--inventory", str(inv), *args],
                              capture_output=True, text=True, env=env, timeout=300, check=False)

    def inventory(self, name: str, *, boards: bool = False, credentials: bool = False) -> Path:
        """A copy of the lab's inventory; with the bare boards in it, or broker credentials."""
        text = self.lab.spec.inventory.read_text()
        if boards:
            entries = "".join(f"  {b}:\n    host: {self.device(b).ip}\n    profile: pi4b-8g\n"
                              for b in BARE)
            text = text.replace("groups:\n", entries + "groups:\n")
        if credentials:
            secret = self.root / "mqtt-password"
            secret.write_text(PASSWORD + "\n")
            secret.chmod(0o600)
            text = text.replace("  port: 1883\n", "  port: 1883\n  username: fleet-agent\n"
                                f"  password_file: {secret}\n")
        path = self.root / f"{name}.yaml"
        path.write_text(text)
        return path

    def fingerprint(self, device_id: str) -> str:
        """What the board's console shows: ssh-keygen -lf of its sshd's public host key."""
        pub = self.lab.spec.ssh_dir(self.device(device_id)) / "ssh_host_ed25519_key.pub"
        shown = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                               check=True)
        return shown.stdout.split()[1]

    def etc_fleet(self, device_id: str) -> Path:
        """The board's /etc/fleet, as this host sees it."""
        return self.lab.spec.device_dir(self.device(device_id)) / "root" / "etc" / "fleet"

    def container(self, device_id: str) -> str | None:
        found = agents.container(self.lab.spec, self.device(device_id))
        return None if found is None else str(found.id)


# The second stock board's device tree says it is a Pi 5: fleet must add it as one.
PI5 = "Raspberry Pi 5 Model B Rev 1.0"
lab = lab_fixture("ienr", SUBNET, "--devices", "1", "--bare", str(len(BARE)), "--interval", "1",
                  "--model", f"raspberrypi-2={PI5}")


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Work:
    devices = {d["id"]: LabDevice(0, d["id"], d["ip"], d["profile"], d["bare"])
               for d in lab.status()["devices"]}
    return Work(lab, tmp_path_factory.mktemp("enroll"), devices)


def test_an_unpinned_bare_board_is_added_but_not_touched_and_the_error_says_how_to_pin_it(
        work: Work, tmp_path: Path) -> None:
    inv = work.inventory("first-try")
    done = work.fleet(inv, "enroll", "--all-new", "--interface", BRIDGE, "--timeout", "3",
                      "--profile", "pi4b-8g", "--agent-base", BASE, "--json",
                      known_hosts=tmp_path / "known_hosts")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["added"]) == sorted(BARE)
    by_id = {d["device"]: d for d in report["devices"]}
    assert sorted(by_id) == sorted(BARE)
    for board in BARE:
        assert not by_id[board]["ok"]
        assert "not pinned" in by_id[board]["error"]
        assert f"fleet trust {board} --accept {work.fingerprint(board)}" in by_id[board]["hint"]
        assert not (work.etc_fleet(board) / "agent.env").exists()
        assert work.container(board) is None
    listed = json.loads(work.fleet(inv, "inventory", "--json").stdout)
    assert {d["id"] for d in listed["devices"]} == {AGENT, *BARE}
    assert not (tmp_path / "known_hosts").exists()


@dataclass
class Enrolled:
    report: dict[str, Any]
    inventory: Path
    seconds: float
    agent_before: str | None


@pytest.fixture(scope="module")
def enrolled(work: Work) -> Enrolled:
    """Both bare boards pinned from their consoles, then found, added and enrolled in one go,
    each as the profile its model says (no --profile)."""
    for board in BARE:
        trusted = work.fleet(work.inventory("trust", boards=True), "trust", board,
                             "--accept", work.fingerprint(board))
        assert trusted.returncode == 0, trusted.stderr
    inv = work.inventory("fleet", credentials=True)
    agent_before = work.container(AGENT)
    started = time.monotonic()
    done = work.fleet(inv, "enroll", "--all-new", "--interface", BRIDGE, "--timeout", "3",
                      "--agent-base", BASE, "--json")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    return Enrolled(json.loads(done.stdout), inv, seconds, agent_before)


def test_all_new_adds_both_bare_boards_and_bootstraps_them(work: Work,
                                                            enrolled: Enrolled) -> None:
    report = enrolled.report
    assert sorted(report["added"]) == sorted(BARE)
    assert report["summary"] == {"changed": 2, "unchanged": 0, "failed": 0}
    for d in report["devices"]:
        assert d["sent_context"]
        assert d["steps"] == {"docker": "ok", "agent-image": "built", "config": "written",
                              "password": "written", "host-key": "ok", "agent": "started",
                              "old-images": "none"}
        assert d["agent_container"] == work.container(d["device"])
        etc = work.etc_fleet(d["device"])
        config = etc / "agent.env"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert f"FLEET_AGENT_ID={d['device']}\n" in config.read_text()
        assert PASSWORD not in config.read_text()
        secret = etc / "mqtt-password"
        assert (stat.S_IMODE(secret.stat().st_mode), secret.stat().st_uid) == (0o600, 65534)
        assert secret.read_text() == PASSWORD + "\n"
    listed = json.loads(work.fleet(enrolled.inventory, "inventory", "--json").stdout)
    assert {d["id"] for d in listed["devices"]} == {AGENT, *BARE}
    # Each added as what its model (over SSH, as pi, no sudo) and MemTotal say it is.
    assert {d["id"]: d["profile"] for d in listed["devices"]} == {
        AGENT: "pi4b-8g", "raspberrypi": "pi4b-8g", "raspberrypi-2": "pi5-8g"}
    proposals = {p["device"]: p for p in report["proposals"]}
    assert {b: (p["proposed"], p["used"], p["given"]) for b, p in proposals.items()} == {
        "raspberrypi": ("pi4b-8g", True, None), "raspberrypi-2": ("pi5-8g", True, None)}
    assert PI5 in proposals["raspberrypi-2"]["reason"]
    # Enrolled as a stock board's own user, root only through its passwordless sudo.
    assert {d["ssh"]["user"] for d in listed["devices"]} == {"pi"}
    assert work.container(AGENT) == enrolled.agent_before  # not a bare board: left alone
    each = ", ".join(f"{d['seconds']:.1f}" for d in report["devices"])
    print(f"enroll --all-new, 2 boards from bare: {enrolled.seconds:.1f} s (boards {each} s)")


def test_the_enrolled_boards_heartbeat_and_advertise_their_own_host_keys(
        work: Work, enrolled: Enrolled) -> None:
    deadline = time.monotonic() + 40
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = json.loads(work.fleet(enrolled.inventory, "status", "--json",
                                       "--wait", "8").stdout)
        states = {d["id"]: d["state"] for d in status["devices"]}
        if all(states.get(b) == "active" for b in BARE):
            break
    assert {b: states.get(b) for b in BARE} == {b: "active" for b in BARE}

    adverts: dict[str, Any] = {}
    while time.monotonic() < deadline and len(adverts) < len(BARE):
        found = json.loads(work.fleet(enrolled.inventory, "discover", "--json", "--interface",
                                      BRIDGE, "--timeout", "3").stdout)
        adverts = {d["id"]: d for d in found["devices"] if d["id"] in BARE and d["enrolled"]}
    assert sorted(adverts) == sorted(BARE)
    for board, advert in adverts.items():
        assert advert["ssh_fingerprint"] == work.fingerprint(board)
        assert advert["addresses"] == [work.device(board).ip]


def test_the_enrolled_boards_heartbeat_their_models_and_status_flags_a_wrong_profile(
        work: Work, enrolled: Enrolled) -> None:
    # bootstrap.sh bound each board's device tree into its agent, which reads it as nobody.
    for board in BARE:
        found = agents.container(work.lab.spec, work.device(board))
        assert found is not None
        assert {"Source": "/sys/firmware/devicetree/base", "Destination": "/fleet/device-tree",
                "RW": False} in [{k: m[k] for k in ("Source", "Destination", "RW")}
                                 for m in found.attrs["Mounts"]]
    wrong = work.inventory("wrong-profile", boards=True)  # both listed as pi4b-8g
    for inv, flagged in ((enrolled.inventory, {}), (wrong, {"raspberrypi-2"})):
        deadline = time.monotonic() + 30
        devices: dict[str, Any] = {}
        while time.monotonic() < deadline and not all(
                devices.get(d, {}).get("board_model") for d in (AGENT, *BARE)):
            status = json.loads(work.fleet(inv, "status", "--json", "--wait", "4").stdout)
            devices = {d["id"]: d for d in status["devices"]}
        pi4 = "Raspberry Pi 4 Model B Rev 1.5"
        assert {d: devices[d]["board_model"] for d in (AGENT, *BARE)} == {
            AGENT: pi4, "raspberrypi": pi4, "raspberrypi-2": PI5}
        mismatched = {d for d in (AGENT, *BARE) if devices[d]["profile_mismatch"]}
        assert mismatched == set(flagged), devices
    # Its model rules out every Pi 4; which Pi 5 it is, its agent cannot tell here: bootstrap's
    # agent has no lab memory cgroup and reads this host's MemTotal, more than any Pi 5 has.
    assert devices["raspberrypi-2"]["profile_mismatch"].startswith(f"{PI5!r} is a Raspberry Pi 5")


def test_a_second_enroll_changes_nothing(work: Work, enrolled: Enrolled) -> None:
    started = time.monotonic()
    done = work.fleet(enrolled.inventory, "enroll", *BARE, "--agent-base", BASE, "--json")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    again = json.loads(done.stdout)
    assert again["added"] == []
    assert again["summary"] == {"changed": 0, "unchanged": 2, "failed": 0}
    first = {d["device"]: d for d in enrolled.report["devices"]}
    for d in again["devices"]:
        assert not d["sent_context"]
        assert d["steps"] == {"docker": "ok", "agent-image": "present", "config": "unchanged",
                              "password": "unchanged", "host-key": "ok", "agent": "running",
                              "old-images": "none"}
        assert d["agent_container"] == first[d["device"]]["agent_container"]
        assert work.container(d["device"]) == d["agent_container"]
    each = ", ".join(f"{d['seconds']:.1f}" for d in again["devices"])
    print(f"enroll rerun, 2 boards: {seconds:.1f} s (boards {each} s)")
