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


WORKSTATION = "_workstation._tcp.local."
SFTP = "_sftp-ssh._tcp.local."


def _port_after(records: list[tuple[str, int]]) -> int:
    """The SSH port a balenaOS board ends with, its records arriving in this order."""
    s = Sightings()
    seen = [e for source, port in records
            for e in s.bare_record("balena.local.", ["10.0.0.30"], port, source)]
    assert all(isinstance(e, DeviceSeen) and e.id == "balena" for e in seen)
    assert isinstance(seen[-1], DeviceSeen)
    return seen[-1].port


def test_a_board_keeps_its_ssh_records_port_whatever_arrives_first() -> None:
    # balenaOS: workstation (port 9, read as 22 by the browser) and SSH on 22222.
    assert _port_after([(WORKSTATION, 22), (SSH, 22222)]) == 22222
    assert _port_after([(SSH, 22222), (WORKSTATION, 22)]) == 22222
    assert _port_after([(BY_NAME, 22), (WORKSTATION, 22), (SSH, 22222)]) == 22222
    assert _port_after([(SSH, 22222), (BY_NAME, 22), (WORKSTATION, 22)]) == 22222


def test_the_ssh_record_outranks_the_sftp_record() -> None:
    assert _port_after([(SFTP, 2200), (SSH, 22222)]) == 22222
    assert _port_after([(SSH, 22222), (SFTP, 2200)]) == 22222


def test_a_board_whose_ssh_record_goes_falls_back_to_what_is_left() -> None:
    s = Sightings()
    s.bare_record("balena.local.", ["10.0.0.30"], 22, WORKSTATION)
    s.bare_record("balena.local.", ["10.0.0.30"], 22222, SSH)
    [seen] = s.removed("balena.local.", SSH)
    assert isinstance(seen, DeviceSeen) and (seen.port, seen.source) == (22, WORKSTATION)


def test_an_enrolled_board_takes_the_port_of_the_ssh_record_at_its_address() -> None:
    for order in ("agent first", "ssh first"):
        s = Sightings()
        events = []
        if order == "ssh first":
            events += s.bare_record("balena.local.", ["10.0.0.30"], 22222, SSH)
        events += s.fleet_record(instance("pi-30"), txt("pi-30"), ["10.0.0.30"], 22)
        if order == "agent first":
            events += s.bare_record("balena.local.", ["10.0.0.30"], 22222, SSH)
        shown = [e for e in events if isinstance(e, DeviceSeen)]
        assert (shown[-1].id, shown[-1].port, shown[-1].enrolled) == ("pi-30", 22222, True), order
