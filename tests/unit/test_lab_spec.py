"""The lab's pure parts: naming, addressing, profiles per device, generated files."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.config import inventory
from fleet.errors import ConfigError, LabError, MissingPackagesError, UnknownProfileError
from fleet.lab import spec as lab
from fleet.lab.host import REQUIRED, preflight
from fleet.lab.images import write_archive
from fleet.lab.spec import LabSpec, expand_profiles
from fleet.model import Arch


def spec(name: str = "t", subnet: str = "10.250.0.0/24") -> LabSpec:
    return LabSpec.create(name, root=Path("/labs") / name, subnet=subnet)


@pytest.mark.parametrize(("profiles", "count", "expected"), [
    ("", 2, ["pi4b-8g", "pi4b-8g"]),
    ("pi4b-2g", 3, ["pi4b-2g"] * 3),
    ("pi4b-8g:4,pi4b-2g,jetson-orin-nano-8g", 6,
     ["pi4b-8g"] * 4 + ["pi4b-2g", "jetson-orin-nano-8g"]),
    ("pi4b-8g,pi5-8g", 5, ["pi4b-8g", "pi5-8g", "pi4b-8g", "pi5-8g", "pi4b-8g"]),
    (" pi4b-4g , ", 1, ["pi4b-4g"]),
])
def test_expand_profiles(profiles: str, count: int, expected: list[str]) -> None:
    assert expand_profiles(profiles, count) == expected


@pytest.mark.parametrize(("profiles", "count", "error", "fragment"), [
    ("pi4b-9g", 1, UnknownProfileError, "known profiles: pi-zero-2w"),
    ("pi4b-8g:0", 1, ConfigError, "must be positive"),
    ("pi4b-8g:x", 1, ConfigError, "must be positive"),
    ("pi4b-8g:3", 2, ConfigError, "lists 3 devices but --devices is 2"),
    ("", 0, ConfigError, "expected 1 to"),
    ("", lab.MAX_DEVICES + 1, ConfigError, "expected 1 to"),
])
def test_expand_profiles_rejects(profiles: str, count: int, error: type[Exception],
                                 fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        expand_profiles(profiles, count)


def test_devices_get_ids_and_addresses_in_order() -> None:
    devices = spec().devices(3, "pi4b-8g,jetson-orin-nano-8g")
    assert [(d.index, d.id, d.ip, d.profile) for d in devices] == [
        (1, "t-01", "10.250.0.11", "pi4b-8g"),
        (2, "t-02", "10.250.0.12", "jetson-orin-nano-8g"),
        (3, "t-03", "10.250.0.13", "pi4b-8g"),
    ]


def test_subnet_too_small_for_the_devices() -> None:
    assert len(spec(subnet="10.9.0.0/28").devices(4)) == 4
    with pytest.raises(ConfigError, match="has room for 4"):
        spec(subnet="10.9.0.0/28").devices(5)


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "toolongname", "a-b"])
def test_lab_name_rules(name: str) -> None:
    with pytest.raises(ConfigError, match="lab name"):
        LabSpec.create(name)


def test_interface_names_fit_the_kernel_limit() -> None:
    s = LabSpec.create("abcdefgh")
    last = s.devices(lab.MAX_DEVICES)[-1]
    assert len(s.bridge) <= 15
    assert len(s.veth(last)) <= 15


def test_sshd_config_allows_only_keys_and_refuses_root_unless_asked() -> None:
    s = spec()
    device = s.devices(1)[0]
    config = lab.sshd_config(s, device)
    assert "ListenAddress 10.250.0.11" in config
    assert "PasswordAuthentication no" in config
    assert "AuthorizedKeysFile .ssh/authorized_keys" in config
    assert "PermitRootLogin no" in config.splitlines()
    allowed = lab.sshd_config(s, device, root_login=True)
    assert "PermitRootLogin prohibit-password" in allowed.splitlines()


def test_lab_inventory_loads_with_profile_budgets() -> None:
    s = spec()
    devices = s.devices(2, "pi4b-8g,pi4b-2g")
    text = io.StringIO()
    YAML().dump(lab.inventory(s, devices, Arch.AMD64), text)
    inv = inventory.loads(text.getvalue(), "lab.yaml")
    assert [(d.id, d.host, d.profile.name, d.arch) for d in inv.devices] == [
        ("t-01", "10.250.0.11", "pi4b-8g", Arch.AMD64),
        ("t-02", "10.250.0.12", "pi4b-2g", Arch.AMD64),
    ]
    assert [d.ssh.user for d in inv.devices] == ["pi", "pi"]
    assert inv.groups == {"t": ("t-01", "t-02")}


def test_lab_inventory_names_each_boards_user_a_jetson_its_jetpack_user() -> None:
    s = spec()
    devices = s.devices(2, "pi5-8g,jetson-orin-nano-8g")
    text = io.StringIO()
    YAML().dump(lab.inventory(s, devices, Arch.AMD64), text)
    inv = inventory.loads(text.getvalue(), "lab.yaml")
    assert [(d.id, d.ssh.user, d.ssh.key) for d in inv.devices] == [
        ("t-01", "pi", s.client_key), ("t-02", "nvidia", s.client_key)]


def test_preflight_names_the_apt_packages_of_missing_commands() -> None:
    missing = {"mosquitto", "sshd", "debootstrap"}
    with pytest.raises(MissingPackagesError) as caught:
        preflight(find=lambda c: None if c in missing else f"/usr/bin/{c}", euid=lambda: 0)
    assert caught.value.packages == ["debootstrap", "mosquitto", "openssh-server"]
    assert "apt-get install -y debootstrap mosquitto openssh-server" in str(caught.value)


def test_preflight_needs_root() -> None:
    with pytest.raises(LabError, match="needs root"):
        preflight(find=lambda c: f"/usr/bin/{c}", euid=lambda: 1000)


def test_every_required_command_has_a_package() -> None:
    assert all(REQUIRED.values())


def test_image_archive_config_names_the_layer_and_architecture(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(__file__, arcname="hello.py")
    out = tmp_path / "image.tar"
    write_archive(out, layer, tag="x/y:1", arch=Arch.ARM64, cmd=("sh",))
    with tarfile.open(out) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        stored = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["x/y:1"]
    assert config["architecture"] == "arm64"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(stored).hexdigest()]
    assert stored == layer.read_bytes()
