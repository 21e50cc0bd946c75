"""Ansible inventories read by fleet and by `ansible-inventory --list`, compared host by host.

Each directory under tests/data/ansible/ is an inventory file with its
group_vars/ and host_vars/, or an inventory directory (`inventory/`, read whole as
`-i inventory/` reads it, its group_vars/ and host_vars/ inside). Ansible is the
oracle: for every host it lists, every var fleet reads (address, port, login, key,
connection, fleet_*) and every group must come out of fleet as Ansible resolves it.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleet.config import inventory
from fleet.model import Arch, Device, Inventory, Profile
from fleet.profiles import PROFILES

CORPUS = Path(__file__).parents[1] / "data" / "ansible"
NAMES = ("hosts", "hosts.ini", "inventory.ini", "hosts.yml", "inventory.yaml")
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
CONTROLLER_USER = pwd.getpwuid(os.geteuid()).pw_name


def inventory_file(case: str) -> Path:
    """The case's inventory: its one file, or its inventory directory."""
    if (CORPUS / case / "inventory").is_dir():
        return CORPUS / case / "inventory"
    found = [CORPUS / case / name for name in NAMES if (CORPUS / case / name).is_file()]
    assert len(found) == 1, f"{case}: expected one inventory file named one of {NAMES}"
    return found[0]


def vars_dir(inventory: Path) -> Path:
    """Where group_vars/ and host_vars/ are: beside a file, inside a directory."""
    return inventory if inventory.is_dir() else inventory.parent


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`ansible-inventory --list` of every case, run side by side (about a second each)."""
    assert ANSIBLE_INVENTORY.exists(), "ansible-core is a development dependency: make setup"
    cwd = tmp_path_factory.mktemp("ansible")  # no ansible.cfg or playbook group_vars here
    env = {**os.environ, "ANSIBLE_CONFIG": str(cwd / "none.cfg"), "PYTHONWARNINGS": "ignore",
           "ANSIBLE_HOME": str(cwd), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
           "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
           "ANSIBLE_INVENTORY_ENABLED": "ini,yaml"}
    running = {case: subprocess.Popen(
        [str(ANSIBLE_INVENTORY), "-i", str(inventory_file(case)), "--list"], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for case in CASES}
    listed = {}
    for case, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{case}: ansible-inventory failed: {err}"
        listed[case] = json.loads(out)
    return listed


def test_the_corpus_has_ini_and_yaml_inventories_with_vars_dirs_and_directories() -> None:
    found = [inventory_file(case) for case in CASES]
    files = [f for f in found if f.is_file()]
    assert {f.suffix for f in files} >= {"", ".ini", ".yml", ".yaml"}
    assert sum((vars_dir(f) / "group_vars").is_dir() for f in found) >= 3
    assert sum((vars_dir(f) / "host_vars").is_dir() for f in found) >= 2
    assert sum(f.is_dir() for f in found) >= 2  # inventory directories


@pytest.mark.parametrize("case", CASES)
def test_fleet_reads_every_host_as_ansible_does(case: str,
                                                oracle: dict[str, dict[str, Any]]) -> None:
    listed = oracle[case]
    path = inventory_file(case)
    fleet = inventory.load(path)
    members = _members(listed)
    hosts = sorted({h for hs in members.values() for h in hs})
    assert sorted(d.id for d in fleet.devices) == sorted(device_id(h) for h in hosts)
    hostvars = listed["_meta"]["hostvars"]
    for name in hosts:
        device = fleet.device(device_id(name))
        want = expected(name, hostvars.get(name, {}), vars_dir(path), members, listed)
        assert seen(device) == {k: want.get(k, v) for k, v in seen(device).items()}, name
        assert want.keys() <= seen(device).keys()
    _same_groups(fleet, members)


def device_id(name: str) -> str:
    """fleet's rule for an Ansible host name: lower case, anything else a dash."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).lstrip("-")


def seen(device: Device) -> dict[str, Any]:
    return {"host": device.host, "user": device.ssh.user, "port": device.ssh.port,
            "key": device.ssh.key, "local": device.ssh.local, "profile": device.profile,
            "arch": device.arch, "site": device.site, "labels": dict(device.labels),
            "groups": device.groups}


def expected(name: str, hv: dict[str, Any], base: Path, members: dict[str, set[str]],
             listed: dict[str, Any]) -> dict[str, Any]:
    """What fleet must make of one host, from Ansible's vars for it."""
    def last(*names: str) -> Any:  # as Ansible's ssh plugin: the last alias set wins
        values = [hv[n] for n in names if hv.get(n) is not None]
        return values[-1] if values else None

    local = str(hv.get("ansible_connection", "ssh")).removeprefix("ansible.builtin.") == "local"
    key = last("ansible_private_key_file", "ansible_ssh_private_key_file")
    profile: Profile = PROFILES[hv["fleet_profile"]]
    if "fleet_storage_gb" in hv:
        profile = profile.with_storage(int(hv["fleet_storage_gb"]))
    want = {
        "host": last("ansible_host", "ansible_ssh_host") or name,
        "user": CONTROLLER_USER if local else last("ansible_user", "ansible_ssh_user") or "pi",
        "port": 22 if local else int(last("ansible_port", "ansible_ssh_port") or 22),
        "key": None if local or key is None else base / Path(key).expanduser(),
        "local": local, "profile": profile,
        "arch": Arch.parse(hv["fleet_arch"]) if "fleet_arch" in hv else profile.arch,
        "labels": {k: _text(v) for k, v in hv.get("fleet_labels", {}).items()},
        "groups": tuple(sorted(g for g, hs in members.items()
                               if name in hs and g not in ("all", "ungrouped"))),
    }
    site = hv.get("fleet_site") or _innermost(name, listed)
    if site is not None:
        want["site"] = site
    return want


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _members(listed: dict[str, Any]) -> dict[str, set[str]]:
    """Each group's hosts, with those of the groups under it."""
    def under(group: str) -> set[str]:
        body = listed.get(group, {})
        found = set(body.get("hosts", []))
        for child in body.get("children", []):
            found |= under(child)
        return found
    return {g: under(g) for g in listed if g != "_meta"}


def _innermost(name: str, listed: dict[str, Any]) -> str | None:
    """fleet's default site: the deepest group naming the host; None where two tie."""
    depth: dict[str, int] = {}

    def walk(group: str, level: int) -> None:
        depth[group] = max(depth.get(group, 0), level)
        for child in listed.get(group, {}).get("children", []):
            walk(child, level + 1)
    walk("all", 0)
    direct = [g for g in depth if name in listed.get(g, {}).get("hosts", [])
              and g != "ungrouped"]
    if not direct:
        return "default"
    deepest = max(depth[g] for g in direct)
    at_deepest = [g for g in direct if depth[g] == deepest]
    return at_deepest[0] if len(at_deepest) == 1 else None


def _same_groups(fleet: Inventory, members: dict[str, set[str]]) -> None:
    named = {g: sorted(device_id(h) for h in hs) for g, hs in members.items()
             if g not in ("all", "ungrouped")}
    assert {g: sorted(ids) for g, ids in fleet.groups.items()} == named
