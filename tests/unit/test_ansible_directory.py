"""An Ansible inventory directory: which files are parts, in what order, and what is refused.

What Ansible makes of whole directories is test_ansible_oracle.py's (the dir-*
cases); here, the file choice and each refusal, naming the file and the line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.config import ansible_dir, inventory
from fleet.errors import ConfigError


def tree(root: Path, **files: str) -> Path:
    """Files under `root`, `__` for a directory separator; returns `root`."""
    for relative, body in files.items():
        path = root / relative.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return root


def refused(directory: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        inventory.load(directory)
    return caught.value


PIS = "[pis]\npi-1 fleet_profile=pi4b-8g\n"


def test_the_parts_are_read_in_byte_order_skipping_what_ansible_skips(tmp_path: Path) -> None:
    root = tree(tmp_path / "inv", **{
        "b.ini": PIS, "B.yml": "all:\n  hosts:\n    pi-0:\n      fleet_profile: pi5-8g\n",
        "a__z.ini": "[pis]\npi-2 fleet_profile=pi4b-8g\n", ".git__config": "[core]\n",
        "hosts.bak": "x", "notes.txt": "x", "README.md": "x", "x.orig": "x", "x.cfg": "x",
        "x.retry": "x", "x.swp": "x", "x~": "x", "x.pyc": "x", "x.rst": "x", "x.rpm": "x",
        "group_vars__all.yml": "ansible_user: admin\n", "host_vars__pi-1": "ansible_port: 2\n",
        "vars_plugins__p.ini": "x",
    })
    assert [p.relative_to(root).as_posix() for p in ansible_dir.sources(root)] == [
        "B.yml", "a/z.ini", "b.ini"]
    inv = inventory.load(root)
    assert [d.id for d in inv.devices] == ["pi-0", "pi-2", "pi-1"]
    assert {d.id: (d.ssh.user, d.ssh.port) for d in inv.devices} == {
        "pi-0": ("admin", 22), "pi-2": ("admin", 22), "pi-1": ("admin", 2)}
    assert inv.path == root and inv.groups == {"pis": ("pi-2", "pi-1")}


def test_a_later_part_names_groups_of_an_earlier_one(tmp_path: Path) -> None:
    root = tree(tmp_path / "inv", **{
        "1.ini": PIS, "2.ini": "[pis:vars]\nansible_user=later\n[edge:children]\npis\n"})
    [pi] = inventory.load(root).devices
    assert (pi.ssh.user, pi.groups) == ("later", ("edge", "pis"))


def test_a_part_that_names_an_undeclared_group_is_refused_where_it_does(
        tmp_path: Path) -> None:
    root = tree(tmp_path / "inv", **{"1.ini": PIS, "2.ini": "[cams:vars]\nx=1\n"})
    error = refused(root)
    assert (error.path, error.line) == (str(root / "2.ini"), 1)
    assert "[cams:vars] is for a group that is never declared" in str(error)


def test_an_empty_part_adds_nothing_and_an_empty_directory_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path / "inv", **{"1.ini": PIS, "2.yml": "# nothing yet\n", "3": ""})
    assert [d.id for d in inventory.load(root).devices] == ["pi-1"]
    empty = tree(tmp_path / "empty", **{"README.md": "a directory of notes only\n"})
    error = refused(empty)
    assert error.path == str(empty) and "no inventory file in this directory" in str(error)


@pytest.mark.parametrize("name, body, reason", [
    ("cloud.toml", "[pis.hosts]\n", "a TOML inventory"),
    ("aws.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
     "'amazon.aws.aws_ec2' inventory plugin, which fleet cannot run"),
    ("fleet.yaml", "devices:\n  pi-9:\n    host: pi-9.local\n    profile: pi4b-8g\n",
     "fleet's own format is one file"),
    ("list.yml", "- pi-1\n", "expected an Ansible inventory: a mapping of groups"),
    ("bad.ini", "[pis]\npi-2 ansible_port\n", "expected key=value"),
])
def test_a_part_fleet_cannot_read_is_refused_by_name(
        tmp_path: Path, name: str, body: str, reason: str) -> None:
    root = tree(tmp_path / "inv", **{"1.ini": PIS, name: body})
    error = refused(root)
    assert error.path == str(root / name) and reason in str(error)


def test_an_inventory_script_is_refused_not_run(tmp_path: Path) -> None:
    root = tree(tmp_path / "inv", **{"1.ini": PIS, "ec2.py": "#!/bin/sh\ntouch ran\n"})
    script = root / "ec2.py"
    script.chmod(0o755)
    error = refused(root)
    assert error.path == str(script) and "inventory script" in str(error)
    assert not (root / "ran").exists() and not Path("ran").exists()
    with pytest.raises(ConfigError, match="inventory script"):
        inventory.load(script)  # given alone, too
    # Executable without #!, as files on some mounts are: Ansible reads it as INI after all.
    script.write_text(PIS.replace("pi-1", "pi-7"))
    assert [d.id for d in inventory.load(root).devices] == ["pi-1", "pi-7"]
    assert os.access(script, os.X_OK)


def test_the_cli_takes_a_directory_for_inventory(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from fleet.cli import main

    root = tree(tmp_path / "inventories" / "prod", **{"1.ini": PIS})
    assert main(["--inventory", str(root), "inventory", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in listed["devices"]] == ["pi-1"]
