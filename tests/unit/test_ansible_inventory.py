"""Ansible inventories fleet reads (INI, group_vars/, connection vars) and those it refuses.

What Ansible itself makes of the corpus is test_ansible_oracle.py's; here, each
refusal names the file, the line and the field, and each choice fleet makes
where Ansible has no answer for it (templates, vault, become) is pinned down.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import inventory
from fleet.errors import ConfigError
from fleet.model import Inventory


def lines(*text: str) -> str:
    return "\n".join(text) + "\n"


def write(tmp_path: Path, name: str, text: str, **files: str) -> Path:
    """An inventory file `name` with vars files beside it: {'group_vars/pis.yml': text}."""
    for relative, body in files.items():
        path = tmp_path / relative.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "hosts.ini", **files: str) -> Inventory:
    return inventory.load(write(tmp_path, name, text, **files))


def refused(tmp_path: Path, text: str, name: str = "hosts.ini", **files: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, name, **files)
    return caught.value


# -- what fleet reads --------------------------------------------------------------

def test_an_ini_inventory_loads_where_it_once_failed_as_yaml(tmp_path: Path) -> None:
    inv = load(tmp_path, lines(
        "[pis]", "pi-1 ansible_host=10.0.0.1", "[pis:vars]", "fleet_profile=pi4b-8g"))
    (pi,) = inv.devices
    assert (pi.id, pi.host, pi.profile.name, pi.groups) == ("pi-1", "10.0.0.1", "pi4b-8g",
                                                            ("pis",))


def test_the_format_follows_the_extension_as_in_ansible(tmp_path: Path) -> None:
    ini = lines("pi-1 fleet_profile=pi5-8g")
    assert [d.id for d in load(tmp_path, ini, "hosts").devices] == ["pi-1"]
    assert [d.id for d in load(tmp_path, ini, "cluster.cfg").devices] == ["pi-1"]
    yaml = lines("all:", "  hosts:", "    pi-2: {fleet_profile: pi5-8g}")
    assert [d.id for d in load(tmp_path, yaml, "hosts").devices] == ["pi-2"]


def test_fleet_profile_may_come_from_group_vars_alone(tmp_path: Path) -> None:
    inv = load(tmp_path, lines("[jetsons]", "orin-1"),
               group_vars__jetsons__main=lines("fleet_profile: jetson-orin-nano-8g"))
    assert inv.device("orin-1").profile.name == "jetson-orin-nano-8g"


def test_ungrouped_hosts_leave_ungrouped_when_a_group_names_them(tmp_path: Path) -> None:
    inv = load(tmp_path, lines("pi-1", "pi-2", "[pis]", "pi-1", "[all:vars]",
                               "fleet_profile=pi4b-4g"),
               group_vars__ungrouped=lines("fleet_site: loose"))
    assert (inv.device("pi-1").site, inv.device("pi-1").groups) == ("pis", ("pis",))
    assert (inv.device("pi-2").site, inv.device("pi-2").groups) == ("loose", ())


def test_ansible_become_false_is_not_fleets_business(tmp_path: Path) -> None:
    inv = load(tmp_path, lines("pi-1 fleet_profile=pi4b-4g ansible_become=false "
                               "ansible_become_method=ansible.builtin.sudo"))
    assert inv.device("pi-1").ssh.user == "pi"  # fleet will still use sudo -n as pi


def test_a_root_login_may_name_any_become_method(tmp_path: Path) -> None:
    inv = load(tmp_path, lines("pi-1 fleet_profile=pi4b-4g ansible_user=root "
                               "ansible_become_method=su"))
    assert inv.device("pi-1").ssh.user == "root"


def test_plain_templates_of_the_same_host_are_read(tmp_path: Path) -> None:
    inv = load(tmp_path, lines(
        "[pis]", "pi-1", "pi-2 ip=10.0.0.2 ansible_host='{{ ip }}'",
        "[pis:vars]", "fleet_profile=pi4b-4g", "ansible_host={{ inventory_hostname }}.lan",
        "ansible_port='{{ port }}'", "port=2222"))
    assert [(d.host, d.ssh.port) for d in inv.devices] == [("pi-1.lan", 2222),
                                                           ("10.0.0.2", 2222)]


def test_a_vault_value_fleet_does_not_read_is_left_alone(tmp_path: Path) -> None:
    vaulted = lines("k3s_token: !vault |", "  $ANSIBLE_VAULT;1.1;AES256", "  6162")
    inv = load(tmp_path, lines("pi-1 fleet_profile=pi4b-4g"), group_vars__all=vaulted)
    assert [d.id for d in inv.devices] == ["pi-1"]


def test_a_local_board_runs_as_whoever_runs_fleet(tmp_path: Path) -> None:
    inv = load(tmp_path, lines("gateway ansible_connection=local ansible_user=pi "
                               "fleet_profile=pi5-8g"))
    ssh = inv.device("gateway").ssh
    assert ssh.local and ssh.user == "root"  # the tests run as root; not the inventory's pi


# -- what fleet refuses, and where it says -------------------------------------------

INI_ERRORS = [
    ("semicolon on a host line", lines("[pis]", "pi-1 ; note"),
     2, "pi-1", "expected key=value, got ';'"),
    ("unknown section type", lines("[pis:hostz]"), 1, "", "unknown section type 'hostz'"),
    ("section with a space", lines("[my pis]"), 1, "", "invalid section '[my pis]'"),
    ("vars for an undeclared group", lines("pi-1", "[cams:vars]", "a=1"),
     2, "cams", "[cams:vars] is for a group that is never declared"),
    ("undeclared child", lines("[site:children]", "cams"),
     2, "site:children", "[site:children] names group 'cams', which is never declared"),
    ("vars line without =", lines("[pis]", "pi-1", "[pis:vars]", "fleet_profile"),
     4, "pis:vars", "expected key=value, got 'fleet_profile'"),
    ("unclosed quote", lines("pi-1 ansible_user='pi"), 1, "ungrouped",
     "cannot split this host line"),
    ("host ending in a colon", lines("pi-1:"), 1, "pi-1:", "ends in ':'"),
    ("a YAML file read as INI", lines("---", "all:"), 1, "---", "a YAML inventory?"),
    ("children in a loop", lines("[a]", "[b]", "[a:children]", "b", "[b:children]", "a"),
     6, "b:children", "group 'a' contains itself: a -> b -> a"),
    ("padded range of two widths", lines("pi-[01:100] fleet_profile=pi4b-4g"),
     1, "pi-[01:100]", "zero-padded ends must be the same length"),
    ("letters backwards", lines("pi-[f:a] fleet_profile=pi4b-4g"),
     1, "pi-[f:a]", "the beginning is after the end"),
    ("winrm", lines("[win]", "w1 fleet_profile=pi4b-4g", "[win:vars]",
                    "ansible_connection=winrm"),
     4, "win:vars.ansible_connection", "host 'w1' uses connection 'winrm'"),
    ("docker connection",
     lines("c1 fleet_profile=pi4b-4g ansible_connection=community.docker.docker"),
     1, "c1.ansible_connection", "fleet reaches a board over SSH"),
    ("become with su", lines("pi-1 fleet_profile=pi4b-4g ansible_become_method=su"),
     1, "pi-1.ansible_become_method", "through `sudo -n` only"),
    ("a filter in a template",
     lines("pi-1 fleet_profile=pi4b-4g ansible_host=\"{{ ip | default('x') }}\""),
     1, "pi-1.ansible_host", "cannot evaluate Ansible templates (only a plain {{ var }}"),
    ("a template of itself",
     lines("pi-1 fleet_profile=pi4b-4g ansible_host='{{ ansible_host }}'"),
     1, "pi-1.ansible_host", "{{ ansible_host }} is not a plain var of this host"),
    ("an undefined var", lines("pi-1 fleet_profile=pi4b-4g ansible_user='{{ login }}'"),
     1, "pi-1.ansible_user", "{{ login }} is not a plain var of this host"),
    ("a literal Python cannot build", lines("pi-1 fleet_labels={[]:1}"),
     1, "pi-1", "cannot read value '{[]:1}'"),
    ("a port that is not a number", lines("pi-1 fleet_profile=pi4b-4g ansible_port=ssh"),
     1, "pi-1.ansible_port", "expected an integer 1-65535, got 'ssh'"),
]


@pytest.mark.parametrize(("text", "line", "field", "fragment"),
                         [case[1:] for case in INI_ERRORS], ids=[c[0] for c in INI_ERRORS])
def test_a_bad_ini_inventory_points_at_the_line_and_field(tmp_path: Path, text: str, line: int,
                                                          field: str, fragment: str) -> None:
    error = refused(tmp_path, text)
    assert (error.path, error.line, error.field) == (str(tmp_path / "hosts.ini"), line, field)
    assert fragment in error.reason


def test_a_vaulted_value_fleet_reads_is_refused_where_it_is(tmp_path: Path) -> None:
    error = refused(tmp_path, lines("[pis]", "pi-1 fleet_profile=pi4b-4g"),
                    group_vars__pis__10_net=lines("# the address", "ansible_host: !vault |",
                                                  "  $ANSIBLE_VAULT;1.1;AES256", "  6162"))
    assert (error.path, error.line, error.field) == (
        str(tmp_path / "group_vars" / "pis" / "10_net"), 2, "ansible_host")
    assert "ansible-vault" in error.reason


def test_a_vault_encrypted_file_of_the_host_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", lines("pi1 fleet_profile=pi4b-4g"),
                 host_vars__pi1__vault=lines("$ANSIBLE_VAULT;1.1;AES256", "6162"))
    with pytest.raises(ConfigError, match="encrypted with ansible-vault") as caught:
        inventory.load(path)
    assert caught.value.path == str(tmp_path / "host_vars" / "pi1" / "vault")


def test_a_vars_file_that_is_not_a_mapping_says_so(tmp_path: Path) -> None:
    error = refused(tmp_path, lines("pi-1 fleet_profile=pi4b-4g"),
                    **{"group_vars__all.yml": lines("- a", "- b")})
    assert error.path == str(tmp_path / "group_vars" / "all.yml")
    assert "expected a mapping of variable names to values, got a list" in error.reason
