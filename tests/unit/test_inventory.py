"""The inventory file: fleet's format and Ansible's, and every error pointing into the file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.config import inventory
from fleet.errors import ConfigError, UnknownProfileError
from fleet.model import Arch, Broker, Inventory, SshTarget
from fleet.profiles import PROFILES

EXAMPLE = Path(__file__).parents[2] / "inventory.example.yaml"


def y(*lines: str) -> str:
    """Inventory text, one argument per line, so a case's line numbers can be read off."""
    return "\n".join(lines) + "\n"


def one_device(*extra: str, device: str = "pi-1", profile: str = "pi4b-8g") -> str:
    return y("devices:", f"  {device}:", "    host: pi-1.local", f"    profile: {profile}", *extra)


# -- fleet's own format -----------------------------------------------------------

def test_example_file_loads_with_its_devices_groups_and_budgets() -> None:
    inv = inventory.load(EXAMPLE)
    assert inv.path == EXAMPLE
    assert [d.id for d in inv.devices] == ["shed-pi-1", "kitchen-pi", "orin-1", "porch-zero"]
    assert dict(inv.groups) == {"cameras": ("shed-pi-1", "porch-zero"),
                                "inference": ("orin-1",)}
    shed, kitchen, orin, zero = inv.devices
    assert shed.budget == PROFILES["pi4b-8g"].with_storage(64).budget
    assert kitchen.budget == PROFILES["pi4b-2g"].budget
    assert orin.profile.gpu is not None and orin.labels["gpu"] == "cuda"
    assert zero.profile.name == "pi-zero-2w" and zero.arch is Arch.ARMV7
    assert all(d.host.endswith(".local") for d in inv.devices)
    assert shed.groups == ("cameras",) and kitchen.groups == ()
    assert inv.broker == Broker(host="gateway-pi.local", port=8883, tls=True, username="fleet",
                                password_file=Path("~/.config/fleet/broker.pass").expanduser())


def test_defaults_apply_unless_a_device_sets_its_own() -> None:
    inv = inventory.loads(y(
        "defaults:",
        "  profile: pi4b-8g",
        "  site: home",
        "  arch: armv7l",
        "  ssh: {user: admin, port: 2222, key: /keys/fleet}",
        "  labels: {owner: ops, tier: edge}",
        "devices:",
        "  a: {host: a.local}",
        "  b:",
        "    host: b.local",
        "    profile: pi5-8g",
        "    site: shed",
        "    arch: aarch64",
        "    ssh: {port: 22}",
        "    labels: {tier: core, camera: true, fps: 30}",
    ))
    a, b = inv.devices
    assert (a.profile.name, a.site, a.arch) == ("pi4b-8g", "home", Arch.ARMV7)
    assert a.ssh == SshTarget(user="admin", port=2222, key=Path("/keys/fleet"))
    assert dict(a.labels) == {"owner": "ops", "tier": "edge"}
    assert (b.profile.name, b.site, b.arch) == ("pi5-8g", "shed", Arch.ARM64)
    assert b.ssh == SshTarget(user="admin", port=22, key=Path("/keys/fleet"))
    assert dict(b.labels) == {"owner": "ops", "tier": "core", "camera": "true", "fps": "30"}


def test_arch_defaults_to_the_profiles() -> None:
    (device,) = inventory.loads(one_device()).devices
    assert device.arch is PROFILES["pi4b-8g"].arch
    assert device.ssh == SshTarget() and device.site == "default"


@pytest.mark.parametrize(("written", "resolved"), [
    ("keys/pi", Path("/srv/fleet/keys/pi")),
    ("../pi.key", Path("/srv/fleet/../pi.key")),
    ("/etc/fleet/pi", Path("/etc/fleet/pi")),
    ("~/.ssh/fleet", Path("~/.ssh/fleet").expanduser()),
])
def test_key_path_is_relative_to_the_inventory_file(written: str, resolved: Path) -> None:
    text = one_device("    ssh:", f"      key: {written}")
    (device,) = inventory.loads(text, "/srv/fleet/inventory.yaml").devices
    assert device.ssh.key == resolved


def test_load_reads_a_file_and_resolves_keys_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(one_device("    ssh: {key: id_fleet}"), encoding="utf-8")
    (device,) = inventory.load(path).devices
    assert device.ssh.key == tmp_path / "id_fleet"


def test_storage_gb_swaps_the_card() -> None:
    (device,) = inventory.loads(one_device("    storage_gb: 128")).devices
    assert device.profile == PROFILES["pi4b-8g"].with_storage(128)


def test_an_inventory_may_have_no_devices_yet() -> None:
    inv = inventory.loads("devices: {}\n")
    assert inv.devices == () and dict(inv.groups) == {} and inv.broker == Broker()


def test_groups_fill_each_devices_groups_sorted() -> None:
    text = y("devices:",
             "  a: {host: a, profile: pi4b-8g}",
             "  b: {host: b, profile: pi4b-8g}",
             "groups:",
             "  west: [b, a, b]",
             "  east: [b]",
             "  empty: []")
    inv = inventory.loads(text)
    assert dict(inv.groups) == {"west": ("b", "a"), "east": ("b",), "empty": ()}
    assert [d.groups for d in inv.devices] == [("west",), ("east", "west")]


# -- Ansible's YAML inventory -----------------------------------------------------

ANSIBLE = y(
    "all:",
    "  vars:",
    "    fleet_profile: pi4b-4g",
    "    ansible_user: pi",
    "    ansible_python_interpreter: /usr/bin/python3",  # not fleet's: ignored
    "  hosts:",
    "    Gateway.local:",
    "  children:",
    "    garden:",
    "      vars: {fleet_site: garden, ansible_port: '2222'}",
    "      hosts:",
    "        pi1.local:",
    "        pi2.local: {ansible_host: 10.9.0.2, fleet_profile: pi5-8g}",
    "      children:",
    "        garden_cams:",
    "          vars: {fleet_labels: {camera: true}, fleet_site: beds}",
    "          hosts:",
    "            cam_1: {ansible_ssh_private_key_file: keys/cam}",
    "    jetsons:",
    "      vars: {fleet_profile: jetson-orin-nano-8g}",
    "      hosts:",
    "        orin.local: {fleet_arch: arm64, fleet_storage_gb: 256}",
    "        pi2.local: {ansible_user: admin}",
)


def test_ansible_inventory_becomes_devices_and_groups() -> None:
    inv = inventory.loads(ANSIBLE, "/etc/ansible/hosts.yaml")
    assert [d.id for d in inv.devices] == [
        "gateway-local", "pi1-local", "pi2-local", "cam-1", "orin-local"]
    assert dict(inv.groups) == {
        "garden": ("pi1-local", "pi2-local", "cam-1"),  # with its child group's hosts
        "garden_cams": ("cam-1",),
        "jetsons": ("pi2-local", "orin-local"),
    }
    assert inv.device("pi2-local").groups == ("garden", "jetsons")


def test_ansible_vars_flow_down_and_host_vars_win() -> None:
    inv = inventory.loads(ANSIBLE, "/etc/ansible/hosts.yaml")
    gateway, pi1, pi2, cam, orin = inv.devices
    assert (gateway.host, gateway.site, gateway.ssh) == ("Gateway.local", "default", SshTarget())
    assert (pi1.profile.name, pi1.site, pi1.ssh.port) == ("pi4b-4g", "garden", 2222)
    # In two groups: vars of both, the host's own over every group's.
    assert (pi2.host, pi2.profile.name, pi2.ssh.user) == ("10.9.0.2", "pi5-8g", "admin")
    assert (cam.site, dict(cam.labels), cam.ssh.port) == ("beds", {"camera": "true"}, 2222)
    assert cam.ssh.key == Path("/etc/ansible/keys/cam")
    assert orin.profile == PROFILES["jetson-orin-nano-8g"].with_storage(256)
    assert orin.site == "jetsons"  # no fleet_site: the innermost group's name


def test_ansible_without_all_and_with_host_patterns() -> None:
    inv = inventory.loads(y(
        "pis:",
        "  vars: {fleet_profile: pi-zero-2w}",
        "  hosts:",
        "    zero[01:03].local:",
        "    zero-[a:b]:",
        "    porch.local:2200:",
    ))
    assert [d.id for d in inv.devices] == [
        "zero01-local", "zero02-local", "zero03-local", "zero-a", "zero-b", "porch-local"]
    assert inv.device("porch-local").ssh.port == 2200
    assert dict(inv.groups) == {"pis": tuple(d.id for d in inv.devices)}


def test_select_by_device_and_group_in_file_order_once_each() -> None:
    inv = inventory.load(EXAMPLE)
    chosen = inv.select(["orin-1", "cameras", "shed-pi-1"])
    assert [d.id for d in chosen] == ["shed-pi-1", "orin-1", "porch-zero"]
    assert inv.select([]) == ()


@pytest.mark.parametrize("call", [
    lambda inv: inv.device("orin-2"),
    lambda inv: inv.select(["cameras", "orin-2"]),
])
def test_unknown_device_names_it_and_suggests(call: Callable[[Inventory], object]) -> None:
    inv = inventory.load(EXAMPLE)
    with pytest.raises(ConfigError) as caught:
        call(inv)
    assert caught.value.path == str(EXAMPLE)
    assert "'orin-2' (did you mean 'orin-1'?)" in str(caught.value)
    assert "known: shed-pi-1, kitchen-pi" in str(caught.value)


def test_inventory_can_be_built_directly() -> None:
    inv = Inventory(Path("x.yaml"), ())
    assert inv.groups == {} and inv.broker == Broker() and inv.select([]) == ()


# -- errors: each names the file, the line, the field and what was expected ------

BAD = [
    # id, text, line, field, fragment of the message
    ("syntax error", y("devices:", "  pi-1: {host: a", "groups: {}"),
     3, "", "invalid YAML: while parsing a flow mapping (from line 2), expected ','"),
    ("duplicate key", one_device("    host: other.local"),
     5, "", 'found duplicate key "host" with value "other.local"'),
    ("tab indentation", y("devices:", "\tpi-1: {}"),
     2, "", "invalid YAML"),
    ("empty file", "", 1, "", "the file is empty"),
    ("only comments", "# nothing yet\n", 1, "", "the file is empty"),
    ("top level is a list", y("- pi-1"), 1, "", "expected a mapping"),
    ("unknown top-level key", y("devices: {}", "device: {}"),
     2, "device", "unknown key 'device' (did you mean 'devices'?); allowed keys: broker"),
    ("unknown device key", one_device("    hots: x"),
     5, "devices.pi-1.hots", "allowed keys: arch, host, labels"),
    ("missing host", y("devices:", "  pi-1:", "    profile: pi4b-8g"),
     2, "devices.pi-1.host", "required: a host name or address"),
    ("device without a body", y("devices:", "  pi-1:"),
     2, "devices.pi-1.host", "required"),
    ("no profile anywhere", y("devices:", "  pi-1: {host: a}"),
     2, "devices.pi-1.profile", "known profiles: pi-zero-2w"),
    ("bad port", one_device("    ssh:", "      port: abc"),
     6, "devices.pi-1.ssh.port", "expected an integer 1-65535, got 'abc'"),
    ("port out of range", one_device("    ssh: {port: 70000}"),
     5, "devices.pi-1.ssh.port", "expected an integer 1-65535, got 70000"),
    ("port is a boolean", one_device("    ssh: {port: true}"),
     5, "devices.pi-1.ssh.port", "got true"),
    ("unknown ssh key", one_device("    ssh: {usr: pi}"),
     5, "devices.pi-1.ssh.usr", "(did you mean 'user'?)"),
    ("invalid device id", one_device(device="Pi_1"),
     2, "devices.Pi_1", "invalid device id 'Pi_1'"),
    ("numeric device id", one_device(device="1234"),
     2, "devices.1234", "quote it"),
    ("host is a list", y("devices:", "  pi-1:", "    host: [a, b]", "    profile: pi4b-8g"),
     3, "devices.pi-1.host", "expected a host name or address, got a list"),
    ("unknown profile", one_device(profile="pi6"),
     4, "devices.pi-1.profile", "unknown profile 'pi6'; known profiles: pi-zero-2w, pi3b, "
     "pi3b-plus"),
    ("unknown profile in defaults", y("defaults: {profile: pi6}", "devices: {a: {host: a}}"),
     1, "defaults.profile", "unknown profile 'pi6'"),
    ("unknown arch", one_device("    arch: mips"),
     5, "devices.pi-1.arch", "unknown architecture 'mips'"),
    ("storage too small for the OS", one_device("    storage_gb: 2"),
     5, "devices.pi-1.storage_gb", "leaves nothing for containers"),
    ("label value is a list", one_device("    labels: {zone: [a]}"),
     5, "devices.pi-1.labels.zone", "expected a string, number or boolean"),
    ("defaults with a host", y("defaults:", "  host: a"),
     2, "defaults.host", "unknown key 'host'"),
    ("devices is a list", y("devices:", "  - pi-1"),
     2, "devices", "expected a mapping, got a list"),
    ("group naming a missing device", one_device("groups:", "  cams: [pi-1, pi-9]"),
     6, "groups.cams[1]", "unknown device 'pi-9' (did you mean 'pi-1'?); known: pi-1"),
    ("invalid group name", one_device("groups:", "  Cams: [pi-1]"),
     6, "groups.Cams", "invalid group name 'Cams'"),
    ("group named like a device", one_device("groups:", "  pi-1: [pi-1]"),
     6, "groups.pi-1", "same name as a device"),
    ("password in the inventory", y("broker:", "  host: gw.local", "  password: hunter2"),
     3, "broker.password", "set password_file"),
    ("broker tls not a boolean", y("broker: {tls: 'yes'}"),
     1, "broker.tls", "expected true or false, got 'yes'"),
    ("ansible host without fleet_profile", y("all:", "  hosts:", "    pi1.local:"),
     3, "all.hosts.pi1.local", "set fleet_profile in its vars or in all.vars; known profiles"),
    ("two ansible hosts, one id", y(
        "all:",
        "  vars: {fleet_profile: pi4b-8g}",
        "  children:",
        "    a: {hosts: {Pi1.local: null}}",
        "    b: {hosts: {pi1_local: null}}"),
     5, "all.children.b.hosts.pi1_local",
     "hosts 'Pi1.local' and 'pi1_local' both become device id 'pi1-local'"),
    ("ansible host name too long", y("all:", "  hosts:", f"    {'p' * 64}:"),
     3, f"all.hosts.{'p' * 64}", "invalid device id"),
    ("ansible unknown profile", y("all:", "  vars:", "    fleet_profile: pi9", "  hosts: {a: }"),
     3, "all.vars.fleet_profile", "unknown profile 'pi9'"),
    ("ansible group key typo", y("all:", "  hsots: {a: }"),
     2, "all.hsots", "(did you mean 'hosts'?)"),
    ("ansible group contains itself", y("all:", "  children:", "    a:", "      children:",
                                        "        a: {}"),
     5, "all.children.a.children.a", "group 'a' contains itself: all -> a -> a"),
    ("ansible jinja template", y("all:", "  vars: {fleet_profile: pi4b-8g}",
                                 "  hosts: {a: {ansible_host: '{{ ip }}'}}"),
     3, "all.hosts.a.ansible_host", "cannot evaluate Ansible templates"),
    ("ansible bad host range", y("all:", "  hosts:", "    pi[1:a]:"),
     3, "all.hosts.pi[1:a]", "bad host range '[1:a]'"),
]


@pytest.mark.parametrize(("text", "line", "field", "fragment"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_inventory_points_at_the_line_and_field(text: str, line: int, field: str,
                                                    fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        inventory.loads(text, "inventory.yaml")
    error = caught.value
    assert (error.path, error.line, error.field) == ("inventory.yaml", line, field)
    assert fragment in error.reason
    assert str(error).startswith(f"inventory.yaml:{line}: ")


def test_unknown_profile_is_its_own_error_and_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError) as caught:
        inventory.loads(one_device(profile="pi4b-16g"), "inventory.yaml")
    error = caught.value
    assert (error.name, error.line, error.field) == ("pi4b-16g", 4, "devices.pi-1.profile")
    assert all(name in str(error) for name in PROFILES)


def test_missing_file_says_how_to_point_at_another(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        inventory.load(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), None)
    assert "--inventory PATH" in str(error) and "FLEET_INVENTORY" in str(error)


def test_a_directory_with_no_inventory_file_is_not_an_inventory(tmp_path: Path) -> None:
    # A directory is read as Ansible's -i DIR is (test_ansible_directory.py): one with no
    # inventory file in it is refused, naming it.
    with pytest.raises(ConfigError, match="no inventory file in this directory") as caught:
        inventory.load(tmp_path)
    assert caught.value.path == str(tmp_path)


# -- nothing but ConfigError, whatever the text -------------------------------------

@settings(deadline=None)
@given(st.text())
def test_loads_arbitrary_text_raises_only_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        inventory.loads(text)


FRAGMENTS = [
    "\n", "\n  ", "\n    ", "\n      ", "  ", "- ", ": ", "{", "}", "[", "]", ", ", "&a ", "*a",
    "<<: ", "!!int ", "!!bool ", "null", "7", "true", "'x'", "2024-02-30", "devices:", "defaults:",
    "groups:", "broker:", "all:", "hosts:", "children:", "vars:", "pi-1", "Pi_2.local", "host: h",
    "profile: pi4b-8g", "fleet_profile: pi5-8g", "ssh:", "port: 22", "key: k", "labels:",
    "storage_gb: 64", "arch: armv7", "pi[1:3]", "h:22", "{{ x }}", "password:", "tls: true",
]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_loads_inventory_like_text_raises_only_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        inventory.loads(text)
