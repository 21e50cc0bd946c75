"""What mDNS records mean, without a network: ids, duplicates, bare boards, goodbyes."""

from __future__ import annotations

import ipaddress

from fleet.lan.advert import SERVICE_TYPE, Advert, to_txt
from fleet.lan.sightings import BY_NAME, DeviceGone, DeviceSeen, Rejected, Sightings
from fleet.model import Arch

SSH = "_ssh._tcp.local."


def txt(device_id: str, **changes: str) -> bytes:
    advert = Advert(id=device_id, profile="pi4b-8g", model="Pi 4", arch=Arch.ARM64, mem_mb=8192,
                    storage_mb=29917, gpu="", agent="0.1.0", host=device_id)
    pairs = {**to_txt(advert), **changes}
    return b"".join(bytes([len(s)]) + s for s in (f"{k}={v}".encode() for k, v in pairs.items()))


def instance(device_id: str) -> str:
    return f"{device_id}.{SERVICE_TYPE}"


def test_an_agents_record_is_an_enrolled_device() -> None:
    s = Sightings()
    [seen] = s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.5"], 22)
    assert isinstance(seen, DeviceSeen)
    assert (seen.id, seen.host, seen.addresses, seen.enrolled) == \
        ("pi-1", "pi-1.local", ("10.0.0.5",), True)


def test_the_same_record_again_says_nothing_and_a_change_is_said() -> None:
    s = Sightings()
    s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.5"], 22)
    assert s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.5"], 22) == []
    [moved] = s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.9"], 22)
    assert isinstance(moved, DeviceSeen) and moved.addresses == ("10.0.0.9",)


def test_a_goodbye_is_device_gone() -> None:
    s = Sightings()
    s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.5"], 22)
    assert s.removed(instance("pi-1")) == [DeviceGone("pi-1")]
    assert s.removed(instance("pi-1")) == []


def test_a_bad_record_is_rejected_with_its_reason_and_changes_nothing() -> None:
    s = Sightings()
    [bad] = s.fleet_record(instance("x"), txt("Bad_Id"), ["10.0.0.5"], 22)
    assert isinstance(bad, Rejected) and "invalid device id" in bad.reason
    [big] = s.fleet_record(instance("y"), txt("pi-2", model="m" * 200) * 6, ["10.0.0.6"], 22)
    assert isinstance(big, Rejected) and "1300" in big.reason
    assert s.removed(instance("x")) == []


def test_a_second_address_claiming_an_id_is_rejected_and_the_first_kept() -> None:
    s = Sightings()
    s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.0.0.5"], 22)
    [dup] = s.fleet_record("impostor._fleet._tcp.local.", txt("pi-1"), ["10.0.0.66"], 22)
    assert isinstance(dup, Rejected)
    assert "duplicate id 'pi-1'" in dup.reason and "10.0.0.5" in dup.reason
    assert s.removed("impostor._fleet._tcp.local.") == []  # the first is still there


def test_a_board_answering_only_to_its_name_is_bare() -> None:
    s = Sightings()
    [seen] = s.bare_record("raspberrypi", ["10.0.0.7"], 22, BY_NAME)
    assert isinstance(seen, DeviceSeen)
    assert (seen.id, seen.host, seen.enrolled, seen.source) == \
        ("raspberrypi", "raspberrypi.local", False, BY_NAME)


def test_a_bare_board_seen_two_ways_is_one_device_until_both_are_gone() -> None:
    s = Sightings()
    s.bare_record("raspberrypi.local.", ["10.0.0.7"], 22, SSH)
    assert s.bare_record("raspberrypi", ["10.0.0.7"], 22, BY_NAME) == []
    assert s.removed("raspberrypi.local.", SSH) == []
    assert s.removed("raspberrypi", BY_NAME) == [DeviceGone("raspberrypi")]


def test_a_bare_record_at_an_enrolled_boards_address_is_that_board() -> None:
    s = Sightings()
    s.bare_record("raspberrypi", ["10.0.0.7"], 22, BY_NAME)
    events = s.fleet_record(instance("pi-7"), txt("pi-7"), ["10.0.0.7"], 22)
    assert DeviceGone("raspberrypi") in events
    assert [e.id for e in events if isinstance(e, DeviceSeen)] == ["pi-7"]
    # And it comes back as bare if the agent leaves.
    events = s.removed(instance("pi-7"))
    assert DeviceGone("pi-7") in events
    assert [e.id for e in events if isinstance(e, DeviceSeen)] == ["raspberrypi"]


def test_host_names_become_ids_where_they_can() -> None:
    s = Sightings()
    [seen] = s.bare_record("Kitchen_Pi.local.", ["10.0.0.8"], 22, SSH)
    assert isinstance(seen, DeviceSeen) and seen.id == "kitchen-pi"
    [bad] = s.bare_record("-weird-", ["10.0.0.9"], 22, SSH)
    assert isinstance(bad, Rejected)


def test_addresses_outside_the_browsed_networks_are_not_ours() -> None:
    s = Sightings([ipaddress.IPv4Network("10.248.0.0/24")])
    assert s.fleet_record(instance("other-lab"), txt("other-lab"), ["10.250.0.11"], 22) == []
    [seen] = s.fleet_record(instance("pi-1"), txt("pi-1"), ["10.250.0.11", "10.248.0.11"], 22)
    assert isinstance(seen, DeviceSeen) and seen.addresses == ("10.248.0.11",)


def test_a_name_that_never_answered_going_quiet_says_nothing() -> None:
    s = Sightings()
    assert s.removed("Kitchen_Pi", BY_NAME) == []
    s.bare_record("Kitchen_Pi", ["10.0.0.8"], 22, BY_NAME)
    assert s.removed("Kitchen_Pi", BY_NAME) == [DeviceGone("kitchen-pi")]
