"""Which profile a board is, from its real device-tree model, MemTotal and L4T release line.

The strings are as boards print them (found in public captures: device-tree
dumps, kernel oops "Hardware name:" lines, jetson_release output, bug reports);
the MemTotal figures are real /proc/meminfo lines in kB.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.lan import boards
from fleet.lan.boards import BoardFacts, identify, parse_probe
from fleet.profiles import PROFILES

# MemTotal in kB as real boards report it.
PI_1G = 948304  # a Pi 3B's
PI_2G = 1914896
PI_4G = 3884328
PI_8G = 7999976
JETSON_NANO = 4059240
ORIN_NANO_8G = 7789952  # an Orin Nano 8 GB developer kit, JetPack 6.2
XAVIER_NX = 7_930_000  # about 7.6 GiB of 8 GB
AGX_32G = 31_900_000  # "Memory 30 GiB": an AGX Xavier or AGX Orin 32 GB
AGX_64G = 64_300_000  # about 61.3 GiB

R32 = ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref"
       ", EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022")
R35 = ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref"
       ", EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023")
R36 = ("# R36 (release), REVISION: 4.7, GCID: 42132812, BOARD: generic"
       ", EABI: aarch64, DATE: Thu Sep 18 22:54:44 UTC 2025")


def facts(model: str, mem_kb: int | None = None, release: str = "") -> BoardFacts:
    return BoardFacts(model, None if mem_kb is None else mem_kb // 1024, release)


@pytest.mark.parametrize(("model", "mem_kb", "release", "profile"), [
    ("Raspberry Pi Zero 2 W Rev 1.0", 439_000, "", "pi-zero-2w"),
    ("Raspberry Pi 3 Model B Rev 1.2", PI_1G, "", "pi3b"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", PI_1G, "", "pi3b-plus"),
    ("Raspberry Pi 4 Model B Rev 1.1", PI_1G, "", "pi4b-1g"),
    ("Raspberry Pi 4 Model B Rev 1.2", PI_2G, "", "pi4b-2g"),
    ("Raspberry Pi 4 Model B Rev 1.4", PI_4G, "", "pi4b-4g"),
    ("Raspberry Pi 4 Model B Rev 1.5", PI_8G, "", "pi4b-8g"),
    ("Raspberry Pi 5 Model B Rev 1.0", PI_8G, "", "pi5-8g"),
    ("Raspberry Pi 5 Model B Rev 1.1", 16_608_000, "", "pi5-16g"),
    ("NVIDIA Jetson Nano Developer Kit", JETSON_NANO, R32, "jetson-nano-4g"),
    ("NVIDIA Jetson Nano Developer Kit", None, "", "jetson-nano-4g"),
    ("NVIDIA Jetson Xavier NX Developer Kit", XAVIER_NX, R35, "jetson-xavier-nx-8g"),
    ("Jetson-AGX", AGX_32G, R35, "jetson-agx-xavier-32g"),
    ("NVIDIA Jetson AGX Xavier Developer Kit", AGX_64G, R32, "jetson-agx-xavier-64g"),
    ("NVIDIA Orin Nano Developer Kit", ORIN_NANO_8G, R35, "jetson-orin-nano-8g"),
    ("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", ORIN_NANO_8G, R36,
     "jetson-orin-nano-8g"),
    ("NVIDIA Jetson Orin Nano Developer Kit", 3_700_000, R36, "jetson-orin-nano-4g"),
    ("NVIDIA Orin NX Developer Kit", ORIN_NANO_8G, R35, "jetson-orin-nx-8g"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", 15_980_000, R36,
     "jetson-orin-nx-16g"),
    ("Jetson AGX Orin", AGX_32G, R35, "jetson-agx-orin-32g"),
    ("NVIDIA Jetson AGX Orin Developer Kit", AGX_64G, R36, "jetson-agx-orin-64g"),
])
def test_a_real_board_is_its_profile(model: str, mem_kb: int | None, release: str,
                                     profile: str) -> None:
    found = identify(facts(model, mem_kb, release))
    assert found.profile == profile, found.reason
    assert not found.disagrees(profile)


@pytest.mark.parametrize("name", list(PROFILES))
def test_a_profiles_own_model_with_its_memory_is_that_profile(name: str) -> None:
    # The agent falls back to its profile's model where it cannot read the device tree.
    profile = PROFILES[name]
    assert identify(BoardFacts(profile.model, profile.ram_mb * 95 // 100)).profile == name


def test_a_pi_4b_without_its_memory_total_is_one_of_four_and_no_guess() -> None:
    found = identify(facts("Raspberry Pi 4 Model B Rev 1.4"))
    assert found.profile is None
    assert found.candidates == ("pi4b-1g", "pi4b-2g", "pi4b-4g", "pi4b-8g")
    assert "1 GB, 2 GB, 4 GB or 8 GB" in found.reason and "memory total is unknown" in found.reason
    assert not found.disagrees("pi4b-8g")  # it may be: no flag
    assert found.disagrees("jetson-nano-4g")  # it cannot be


@pytest.mark.parametrize(("model", "mem_kb", "release", "reason"), [
    ("Raspberry Pi Compute Module 4 Rev 1.0", PI_4G, "",
     "model 'Raspberry Pi Compute Module 4 Rev 1.0' is not a board fleet has a profile for"),
    ("Raspberry Pi 400 Rev 1.0", PI_4G, "", "not a board fleet has a profile for"),
    ("", PI_4G, "", "no device-tree model is not a board fleet has a profile for"),
    ("", ORIN_NANO_8G, R36, "no device-tree model, but L4T R36.4.7: a Jetson, which one"),
    ("Raspberry Pi 5 Model B Rev 1.0", 2_000_000, "", "a 2 GB Raspberry Pi 5: fleet has no"),
    ("NVIDIA Jetson Nano 2GB Developer Kit", 2_000_000, R32, "a 2 GB Jetson Nano 2GB: fleet"),
    ("NVIDIA Orin Nano Developer Kit", ORIN_NANO_8G, R32,
     "says Jetson Orin Nano, but the board runs L4T R32.7.1; Jetson Orin Nano runs R35, R36"),
    ("NVIDIA Jetson Nano Developer Kit", JETSON_NANO, R36, "Jetson Nano runs R32"),
    ("Raspberry Pi 4 Model B Rev 1.4", PI_4G, R32, "no L4T: it is not a Jetson"),
    ("Raspberry Pi 4 Model B Rev 1.4", 262_144, "", "MemTotal 256 MiB is none of them"),
    ("Raspberry Pi 4 Model B Rev 1.4", 16_000_000, "", "none of them (a memory limit?)"),
])
def test_what_fleet_cannot_tell_it_says_and_does_not_guess(model: str, mem_kb: int, release: str,
                                                           reason: str) -> None:
    found = identify(facts(model, mem_kb, release))
    assert found.profile is None
    assert reason in found.reason


def test_a_known_board_disagrees_with_any_other_profile() -> None:
    found = identify(facts("Raspberry Pi 4 Model B Rev 1.4", PI_4G))
    assert found.disagrees("pi4b-8g") and not found.disagrees("pi4b-4g")


def test_an_unknown_board_disagrees_with_nothing() -> None:
    assert not identify(facts("Some Other Board")).disagrees("pi4b-8g")


def test_the_probe_output_of_a_jetson_is_parsed() -> None:
    out = (b"NVIDIA Jetson AGX Orin Developer Kit\n### tegra\n" + R36.encode()
           + b"\n### mem\nMemTotal:       64335836 kB\n")
    assert parse_probe(out) == BoardFacts("NVIDIA Jetson AGX Orin Developer Kit", 62827, R36)


def test_the_probe_output_of_a_pi_has_no_release_line() -> None:
    out = b"Raspberry Pi 4 Model B Rev 1.4\n### tegra\n### mem\nMemTotal:        3884328 kB\n"
    found = parse_probe(out)
    assert found == BoardFacts("Raspberry Pi 4 Model B Rev 1.4", 3793, "")
    assert identify(found).profile == "pi4b-4g"


def test_hostile_probe_output_is_cleaned_and_bounded() -> None:
    out = (b"Raspberry Pi 4 Model B\x1b[2J\r\x00 Rev 1.4" + b"x" * 5000
           + b"\n### tegra\n\xff\xfe\n### mem\nMemTotal: 99999999999999999999 kB\n")
    found = parse_probe(out)
    assert found.model.startswith("Raspberry Pi 4 Model B [2J Rev 1.4x")
    assert len(found.model) == 128 and found.model.isprintable()
    assert found.mem_total_mb is None  # too many digits to be a memory total
    assert found.tegra_release == "\ufffd\ufffd"


def test_the_probe_command_reads_without_sudo_and_quotes_what_it_reads() -> None:
    assert "sudo" not in boards.PROBE_COMMAND
    assert '"$f"' in boards.PROBE_COMMAND


@given(st.binary(max_size=600))
def test_any_probe_output_parses_and_identifies_without_raising(out: bytes) -> None:
    found = identify(parse_probe(out))
    assert found.profile is None or found.profile in PROFILES


def test_the_proposal_is_the_board_or_a_configured_profile_its_model_allows() -> None:
    pi4 = identify(facts("Raspberry Pi 4 Model B Rev 1.4"))
    assert pi4.proposal() is None
    assert pi4.proposal("pi4b-2g") == "pi4b-2g"
    assert pi4.proposal("pi5-8g") is None
    assert identify(facts("Raspberry Pi 4 Model B Rev 1.4", PI_4G)).proposal("pi4b-8g") == "pi4b-4g"


def test_a_jetson_known_only_by_its_l4t_release_is_one_of_those_that_run_it() -> None:
    found = identify(BoardFacts(tegra_release=R36))
    assert found.profile is None
    assert set(found.candidates) == {p for p in PROFILES if "orin" in p}
    assert found.disagrees("pi4b-4g") and not found.disagrees("jetson-agx-orin-32g")
    assert "jetson-nano-4g" in identify(BoardFacts(tegra_release=R32)).candidates
