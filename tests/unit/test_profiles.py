"""The hardware presets: every board the issue asks for, with sane budgets."""

from __future__ import annotations

import pytest

from fleet import profiles
from fleet.errors import UnknownProfileError
from fleet.model import Arch, Profile

REQUIRED = [
    "pi-zero-2w", "pi3b-plus", "pi4b-2g", "pi4b-4g", "pi4b-8g", "pi5-4g", "pi5-8g",
    "pi5-16g", "jetson-nano-4g", "jetson-orin-nano-8g", "jetson-agx-orin-32g",
    "jetson-agx-orin-64g",
    # issue 18
    "pi3b", "pi4b-1g", "jetson-orin-nx-8g", "jetson-orin-nx-16g", "jetson-orin-nano-4g",
    "jetson-xavier-nx-8g", "jetson-agx-xavier-32g",
]
ALL = list(profiles.PROFILES.values())


@pytest.mark.parametrize("name", REQUIRED)
def test_required_preset_exists_under_its_own_name(name: str) -> None:
    assert profiles.get(name).name == name


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_budget_is_positive_and_below_the_board(profile: Profile) -> None:
    budget, total = profile.budget, profile.total
    assert budget.mem_mb > 0 and budget.disk_mb > 0 and budget.cpu_millis > 0
    assert budget.mem_mb < total.mem_mb and budget.disk_mb < total.disk_mb
    assert budget.fits_in(total)


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_only_jetsons_have_a_gpu(profile: Profile) -> None:
    assert (profile.gpu is not None) == profile.name.startswith("jetson-")


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_every_preset_is_a_64_bit_arm_board(profile: Profile) -> None:
    assert profile.arch is Arch.ARM64


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_every_preset_names_the_source_of_its_figures(profile: Profile) -> None:
    source = profiles.SOURCES[profile.name]
    assert "raspberrypi.com" in source if profile.name.startswith("pi") else "NVIDIA" in source


# (name, CPU cores, CUDA cores, tensor cores, compute capability), from the data sheets.
JETSONS = [
    ("jetson-xavier-nx-8g", 6, 384, 48, "7.2"),
    ("jetson-agx-xavier-32g", 8, 512, 64, "7.2"),
    ("jetson-orin-nano-4g", 6, 512, 16, "8.7"),
    ("jetson-orin-nano-8g", 6, 1024, 32, "8.7"),
    ("jetson-orin-nx-8g", 6, 1024, 32, "8.7"),
    ("jetson-orin-nx-16g", 8, 1024, 32, "8.7"),
    ("jetson-agx-orin-32g", 8, 1792, 56, "8.7"),
    ("jetson-agx-orin-64g", 12, 2048, 64, "8.7"),
]


@pytest.mark.parametrize(("name", "cpus", "cuda", "tensor", "cc"), JETSONS)
def test_jetson_figures_are_the_data_sheets(name: str, cpus: int, cuda: int, tensor: int,
                                            cc: str) -> None:
    profile = profiles.get(name)
    assert profile.gpu is not None
    assert (profile.cpus, profile.gpu.cuda_cores, profile.gpu.tensor_cores,
            profile.gpu.compute_capability) == (cpus, cuda, tensor, cc)


def test_xavier_reserves_jetpack_5_and_orin_jetpack_6() -> None:
    xavier = profiles.get("jetson-agx-xavier-32g").reserve.os_disk_mb
    orin = profiles.get("jetson-agx-orin-32g").reserve.os_disk_mb
    nano = profiles.get("jetson-nano-4g").reserve.os_disk_mb
    assert nano < xavier < orin


def test_pi4b_8g_root_filesystem_is_what_df_shows_on_a_32_gb_card() -> None:
    # `df -h /` on the Pi 4B of DESIGN section 1 shows 29G.
    pi = profiles.get("pi4b-8g")
    assert pi.storage_gb == 32
    assert pi.storage_mb / 1024 == pytest.approx(29.3, abs=0.2)


def test_with_storage_grows_the_disk_budget_only() -> None:
    pi = profiles.get("pi4b-4g")
    bigger = pi.with_storage(128)
    assert bigger.budget.disk_mb > pi.budget.disk_mb
    assert bigger.budget.mem_mb == pi.budget.mem_mb
    assert bigger.name == pi.name and pi.storage_gb == 32  # the preset itself is unchanged


def test_get_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError) as caught:
        profiles.get("pi6-8g")
    assert caught.value.name == "pi6-8g"
    message = str(caught.value)
    assert "'pi6-8g'" in message
    assert all(name in message for name in REQUIRED)
