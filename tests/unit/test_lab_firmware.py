"""What a lab device says it is: each profile's board, as fleet reads a real one."""

from __future__ import annotations

import pytest

from fleet import profiles
from fleet.errors import ConfigError
from fleet.lab import firmware
from fleet.lab.spec import LabDevice, LabSpec, with_models
from fleet.lan.boards import BoardFacts, identify, parse_probe

HOST_MEMINFO = """\
MemTotal:       24683700 kB
MemFree:        18715132 kB
MemAvailable:   23526412 kB
Buffers:          180344 kB
Cached:          4731976 kB
SwapTotal:             0 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def device(profile: str, model: str | None = None) -> LabDevice:
    return LabDevice(1, "lab-01", "10.250.0.11", profile, model=model)


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_every_profiles_lab_board_is_identified_as_that_profile(profile: str) -> None:
    board = device(profile)
    total = profiles.get(profile).total.mem_mb
    mem = firmware.meminfo(HOST_MEMINFO, total)
    facts = BoardFacts(firmware.model(board), int(mem.split()[1]) // 1024,
                       (firmware.tegra_release(board) or "").strip())
    found = identify(facts)
    assert found.profile == profile, found.reason


def test_the_model_is_nul_terminated_as_the_kernel_holds_it() -> None:
    raw = firmware.device_tree_model(firmware.model(device("pi4b-8g")))
    assert raw == b"Raspberry Pi 4 Model B Rev 1.5\0"


def test_only_a_jetson_has_an_l4t_release_and_the_nano_runs_r32() -> None:
    assert firmware.tegra_release(device("pi5-8g")) is None
    assert (firmware.tegra_release(device("jetson-nano-4g")) or "").startswith("# R32 ")
    assert (firmware.tegra_release(device("jetson-agx-orin-64g")) or "").startswith("# R35 ")


def test_a_given_model_replaces_the_profiles_and_makes_the_board_disagree() -> None:
    board = device("pi4b-8g", "Raspberry Pi 5 Model B Rev 1.0")
    assert firmware.model(board) == "Raspberry Pi 5 Model B Rev 1.0"
    assert identify(BoardFacts(firmware.model(board), 8192)).disagrees("pi4b-8g")


def test_meminfo_says_the_boards_ram_and_nothing_above_it() -> None:
    mem = firmware.meminfo(HOST_MEMINFO, 2048)
    assert mem.splitlines() == [
        "MemTotal:        2097152 kB",
        "MemFree:         2097152 kB",
        "MemAvailable:    2097152 kB",
        "Buffers:          180344 kB",
        "Cached:          2097152 kB",
        "SwapTotal:             0 kB",
        "HugePages_Total:       0",
        "Hugepagesize:       2048 kB",
    ]
    probed = parse_probe(b"Raspberry Pi 4 Model B Rev 1.2\n### tegra\n### mem\n"
                         + mem.splitlines()[0].encode() + b"\n")
    assert identify(probed).profile == "pi4b-2g"


def test_models_go_to_the_devices_named_and_are_checked() -> None:
    spec = LabSpec.create("lab")
    made = spec.devices(2, bare=1, models={"lab-02": "Jetson-AGX", "raspberrypi": "x y"})
    assert [d.model for d in made] == [None, "Jetson-AGX", "x y"]
    with pytest.raises(ConfigError, match="no device 'lab-09'"):
        with_models(made, {"lab-09": "Jetson-AGX"})
    with pytest.raises(ConfigError, match="printable"):
        with_models(made, {"lab-01": "Raspberry\x1b[2J"})
    with pytest.raises(ConfigError, match="printable"):
        with_models(made, {"lab-01": ""})


def test_the_cli_reads_model_options_as_device_equals_model() -> None:
    from fleet.cli.lab import _models

    assert _models(["lab-01=NVIDIA Orin NX Developer Kit", "lab-02=a=b"]) == {
        "lab-01": "NVIDIA Orin NX Developer Kit", "lab-02": "a=b"}
    with pytest.raises(ConfigError, match="DEVICE=MODEL"):
        _models(["Jetson-AGX"])
