"""The core value types: device ids, architectures, resources, devices."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet import profiles
from fleet.errors import InvalidDeviceIdError
from fleet.model import DEVICE_ID, Arch, Device, Resources, validate_device_id
from tests import kit


@pytest.mark.parametrize("value", [
    "a", "0", "pi-01", "shed-cam-1", "9lives", "a-", "a--b",
    "a" * 63, "p" + "-" * 62,
])
def test_valid_device_ids_are_returned_unchanged(value: str) -> None:
    assert validate_device_id(value) == value


@pytest.mark.parametrize("value", [
    "", "a" * 64, "Pi-01", "PI", "-pi", "pi_01", "pi.local", "pi 01", "pi/01",
    "pi-01\n", " pi", "pï-1", "\uff411", "pi\u200b1", "١٢",
])
def test_invalid_device_ids_are_rejected_with_the_rule(value: str) -> None:
    with pytest.raises(InvalidDeviceIdError, match=r"1-63 of a-z, 0-9 and '-'"):
        validate_device_id(value)


def test_invalid_device_id_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_device_id("Nope")


@given(st.from_regex(DEVICE_ID, fullmatch=True))
def test_any_id_matching_the_rule_is_accepted(value: str) -> None:
    assert validate_device_id(value) == value


@given(st.text())
def test_validate_device_id_raises_nothing_but_its_own_error(value: str) -> None:
    with contextlib.suppress(InvalidDeviceIdError):
        assert validate_device_id(value) == value


@pytest.mark.parametrize(("text", "arch"), [
    ("arm64", Arch.ARM64), ("aarch64", Arch.ARM64), ("arm64/v8", Arch.ARM64),
    ("armv7", Arch.ARMV7), ("armv7l", Arch.ARMV7), ("arm", Arch.ARMV7),
    ("arm/v7", Arch.ARMV7), ("amd64", Arch.AMD64), ("x86_64", Arch.AMD64),
    (" AArch64 ", Arch.ARM64),
])
def test_arch_parse_accepts_image_and_uname_names(text: str, arch: Arch) -> None:
    assert Arch.parse(text) is arch


def test_arch_parse_unknown_value_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'mips'; known: .*aarch64"):
        Arch.parse("mips")


def test_resources_add_and_subtract_per_dimension() -> None:
    a, b = Resources(100, 2000, 500), Resources(30, 500, 250)
    assert a + b == Resources(130, 2500, 750)
    assert a - b == Resources(70, 1500, 250)
    assert a - b + b == a
    assert Resources() + a == a


@pytest.mark.parametrize(("need", "room", "fits"), [
    (Resources(), Resources(), True),
    (Resources(100, 100, 100), Resources(100, 100, 100), True),
    (Resources(50, 10, 0), Resources(100, 100, 100), True),
    (Resources(101, 0, 0), Resources(100, 100, 100), False),
    (Resources(0, 101, 0), Resources(100, 100, 100), False),
    (Resources(0, 0, 101), Resources(100, 100, 100), False),
])
def test_fits_in_needs_every_dimension_to_fit(need: Resources, room: Resources,
                                              fits: bool) -> None:
    assert need.fits_in(room) is fits


def test_device_rejects_an_invalid_id() -> None:
    with pytest.raises(InvalidDeviceIdError, match="'Shed_Pi'"):
        Device(id="Shed_Pi", host="shed.local", profile=profiles.get("pi4b-8g"),
               arch=Arch.ARM64)


def test_device_budget_is_its_profiles() -> None:
    profile = profiles.get("pi5-8g")
    assert kit.device(profile=profile).budget == profile.budget
