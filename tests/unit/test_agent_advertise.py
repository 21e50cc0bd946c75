"""What the agent advertises: which addresses, which model, which fingerprint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fleet.agent.advertise import advert, host_key_fingerprint, lan_addresses
from fleet.agent.config import parse_args
from fleet.profiles import get


def test_only_lan_ipv4_addresses_are_published_once_each() -> None:
    assert lan_addresses([
        ("lo", "127.0.0.1"), ("eth0", "192.168.1.20"), ("docker0", "172.17.0.1"),
        ("br-3f2a", "172.18.0.1"), ("veth12ab", "169.254.3.1"), ("wlan0", "192.168.1.21"),
        ("eth0", "192.168.1.20"), ("eth0", "fe80::1"),
    ]) == ["192.168.1.20", "192.168.1.21"]


def test_the_model_is_the_boards_own_never_the_profiles() -> None:
    pi = get("pi4b-8g")
    said = advert("pi-1", pi, ssh_port=22, host_key=Path("/none"),
                  model="Raspberry Pi 4 Model B Rev 1.4")
    assert said.model == "Raspberry Pi 4 Model B Rev 1.4"
    assert advert("pi-1", pi, ssh_port=22, host_key=Path("/none"), model=None).model == ""


def test_the_fingerprint_is_ssh_keygens_or_empty(tmp_path: Path) -> None:
    key = tmp_path / "host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    shown = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True,
                           text=True, check=True).stdout.split()[1]
    assert host_key_fingerprint(Path(f"{key}.pub")) == shown
    assert host_key_fingerprint(tmp_path / "missing.pub") == ""
    (tmp_path / "junk.pub").write_text("not a key")
    assert host_key_fingerprint(tmp_path / "junk.pub") == ""


def test_the_advert_carries_the_profiles_board() -> None:
    a = advert("orin-1", get("jetson-orin-nano-8g"), ssh_port=2222, host_key=Path("/none"))
    assert (a.id, a.profile, a.ssh_port, a.ssh_fingerprint) == \
        ("orin-1", "jetson-orin-nano-8g", 2222, "")
    assert a.gpu and a.mem_mb == get("jetson-orin-nano-8g").total.mem_mb


def test_advertising_options_from_argv_and_env() -> None:
    base = ["--id", "pi-01", "--profile", "pi4b-8g"]
    config = parse_args(base, env={})
    assert config.advertise and config.ssh_port == 22 and config.advertise_addresses == ()
    config = parse_args(base, env={"FLEET_AGENT_ADVERTISE": "no",
                                   "FLEET_AGENT_ADVERTISE_ADDRESSES": "10.0.0.5, 10.0.1.5",
                                   "FLEET_AGENT_SSH_HOST_KEY": "/k.pub"})
    assert not config.advertise
    assert config.advertise_addresses == ("10.0.0.5", "10.0.1.5")
    assert config.ssh_host_key == Path("/k.pub")


@pytest.mark.parametrize(("argv", "message"), [
    (["--advertise", "maybe"], "expected yes or no"),
    (["--ssh-port", "0"], "expected a port"),
    (["--advertise-addresses", "10.0.0.999"], "10.0.0.999"),
])
def test_bad_advertising_options_stop_at_once(argv: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_args(["--id", "a", "--profile", "pi4b-8g", *argv], env={})
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
