"""New boards written into an Ansible INI inventory: lines appended, every other byte kept,
and the result read by `ansible-inventory --list` as fleet reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleet.config import inventory
from fleet.config.inventory_add import NewDevice, add_devices
from fleet.errors import ConfigError

CORPUS = Path(__file__).parents[1] / "data" / "ansible"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
BALENA = NewDevice("balena-1", "10.0.0.31", "pi4b-8g", "arm64", "found by fleet discover",
                   port=22222)
BARE = NewDevice("raspberrypi", "10.0.0.32", "pi5-8g")


def ansible_list(path: Path, cwd: Path) -> dict[str, Any]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(cwd / "none.cfg"), "ANSIBLE_HOME": str(cwd),
           "PYTHONWARNINGS": "ignore", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
           "ANSIBLE_INVENTORY_ENABLED": "ini"}
    done = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(path), "--list"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def test_new_hosts_go_in_a_new_ungrouped_section_as_ansible_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    shutil.copy(CORPUS / "k3s-ini" / "hosts.ini", path)
    original = path.read_bytes()
    before = ansible_list(path, tmp_path)
    assert add_devices(path, [BALENA, BARE]) == ["balena-1", "raspberrypi"]
    text = path.read_bytes()
    assert text.startswith(original)  # every byte kept: lines only appended
    assert text[len(original):].decode() == (
        "\n[ungrouped]\n"
        "balena-1 ansible_host=10.0.0.31 ansible_port=22222 fleet_profile=pi4b-8g "
        "fleet_arch=arm64  # found by fleet discover\n"
        "raspberrypi ansible_host=10.0.0.32 fleet_profile=pi5-8g\n")
    after = ansible_list(path, tmp_path)
    assert after["ungrouped"]["hosts"] == ["balena-1", "raspberrypi"]
    old = before["_meta"]["hostvars"]
    new = after["_meta"]["hostvars"]
    assert {h: new[h] for h in old} == old
    assert (new["balena-1"]["ansible_host"], new["balena-1"]["ansible_port"]) == (
        "10.0.0.31", 22222)
    assert new["raspberrypi"]["fleet_profile"] == "pi5-8g"
    fleet = inventory.load(path)
    balena = fleet.device("balena-1")
    assert (balena.host, balena.ssh.port, balena.profile.name, balena.groups) == (
        "10.0.0.31", 22222, "pi4b-8g", ())
    assert add_devices(path, [BALENA]) == [] and path.read_bytes() == text  # already there


def test_an_existing_ungrouped_section_takes_them_after_its_last_host(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"[ungrouped]\r\npi-1 fleet_profile=pi4b-8g\r\n; a note\r\n\r\n"
                     b"[pis]\r\npi-2 fleet_profile=pi4b-8g")
    add_devices(path, [NewDevice("odd", "1234", "pi4b-8g")])
    assert path.read_bytes() == (
        b"[ungrouped]\r\npi-1 fleet_profile=pi4b-8g\r\n"
        b"odd ansible_host=''\"'\"'1234'\"'\"'' fleet_profile=pi4b-8g\r\n"
        b"; a note\r\n\r\n[pis]\r\npi-2 fleet_profile=pi4b-8g")
    listed = ansible_list(path, tmp_path)
    assert listed["_meta"]["hostvars"]["odd"]["ansible_host"] == "1234"  # text, not a number
    assert listed["ungrouped"]["hosts"] == ["pi-1", "odd"]
    assert inventory.load(path).device("odd").host == "1234"


def test_a_host_whose_vars_are_set_elsewhere_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[pis]\npi-1 fleet_profile=pi4b-8g\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "raspberrypi.yml").write_text("ansible_host: 10.9.9.9\n")
    with pytest.raises(ConfigError, match="host raspberrypi would not be as written: "
                                          "ansible_host is set for it elsewhere"):
        add_devices(path, [BARE])
    assert path.read_text() == "[pis]\npi-1 fleet_profile=pi4b-8g\n"


def test_a_host_with_no_profile_anywhere_is_refused_unwritten(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[pis]\npi-1 fleet_profile=pi4b-8g\n")
    with pytest.raises(ConfigError, match=r"not changed: .*no fleet_profile"):
        add_devices(path, [NewDevice("bare", "10.0.0.40")])
    assert path.read_text() == "[pis]\npi-1 fleet_profile=pi4b-8g\n"
    path.write_text("[pis]\npi-1\n[all:vars]\nfleet_profile=pi4b-8g\n")
    assert add_devices(path, [NewDevice("bare", "10.0.0.40")]) == ["bare"]
    assert inventory.load(path).device("bare").profile.name == "pi4b-8g"


def test_an_inventory_directory_is_refused_with_the_lines_to_add(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.ini").write_text("[pis]\npi-1 fleet_profile=pi4b-8g\n")
    with pytest.raises(ConfigError) as caught:
        add_devices(tmp_path / "inv", [BALENA])
    assert "an Ansible inventory directory" in str(caught.value)
    assert "balena-1 ansible_host=10.0.0.31 ansible_port=22222" in str(caught.value)
    assert (tmp_path / "inv" / "hosts.ini").read_text() == "[pis]\npi-1 fleet_profile=pi4b-8g\n"
