"""A service on one board reaches a peer on another at that board's address, never its name."""

from __future__ import annotations

import socket

import pytest

from fleet.deploy.apply import board_address, with_addresses
from fleet.errors import FleetError
from fleet.model import Placement


@pytest.mark.parametrize(("host", "address"), [
    ("10.250.0.12", "10.250.0.12"), ("fe80::1", "fe80::1"),
])
def test_an_address_is_taken_as_written(host: str, address: str) -> None:
    assert board_address(host) == address


def test_a_name_is_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(host: str, *_: object, **__: object) -> list[tuple[object, ...]]:
        assert host == "pi-2.local"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.2", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert board_address("pi-2.local") == "10.0.0.2"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_a_loopback_host_is_refused_since_another_board_cannot_reach_it(host: str) -> None:
    with pytest.raises(FleetError, match="another board cannot reach: give the board its LAN"):
        board_address(host)  # localhost from /etc/hosts: no network


def test_each_peer_gets_its_boards_address_and_a_failure_names_the_host() -> None:
    names = {"pi-2.local": "10.0.0.2", "pi-3.local": "10.0.0.3"}

    def resolve(host: str) -> str:
        if host not in names:
            raise FleetError(f"cannot resolve {host}")
        return names[host]

    web = Placement("web", 0, "pi-1", hosts=(("db", "pi-2.local"), ("mqtt", "pi-3.local")))
    assert with_addresses(web, resolve).hosts == (("db", "10.0.0.2"), ("mqtt", "10.0.0.3"))
    alone = Placement("web", 0, "pi-1")
    assert with_addresses(alone, resolve) is alone
    lost = Placement("web", 0, "pi-1", hosts=(("db", "pi-9.local"),))
    with pytest.raises(FleetError, match=r"pi-9\.local"):
        with_addresses(lost, resolve)
