"""A stack's layout: start waves from depends_on, and its networks as compose names them."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.deploy.layout import layout, start_waves
from fleet.errors import ConfigError
from fleet.model import Service


def service(name: str, **extra: Any) -> Service:
    return Service(name, image="fleet/app:1", extra={"image": "fleet/app:1", **extra})


WAVES = [
    ("no dependencies: one wave, by name", {"b": {}, "a": {}}, [["a", "b"]]),
    ("a chain", {"web": {"api": 1}, "api": {"db": 1}, "db": {}}, [["db"], ["api"], ["web"]]),
    ("a diamond", {"d": {"b": 1, "c": 1}, "b": {"a": 1}, "c": {"a": 1}, "a": {}},
     [["a"], ["b", "c"], ["d"]]),
    ("a service after the last of its dependencies", {"x": {"a": 1, "c": 1}, "c": {"b": 1},
                                                      "b": {"a": 1}, "a": {}},
     [["a"], ["b"], ["c"], ["x"]]),
    ("a dependency elsewhere holds nothing back", {"api": {"db": 1}}, [["api"]]),
    ("nothing", {}, []),
]


@pytest.mark.parametrize("depends, waves", [w[1:] for w in WAVES], ids=[w[0] for w in WAVES])
def test_start_waves(depends: dict[str, dict[str, int]], waves: list[list[str]]) -> None:
    assert [list(w) for w in start_waves(depends)] == waves


@pytest.mark.parametrize("depends, cycle", [
    ({"a": {"b": 1}, "b": {"a": 1}}, "a -> b -> a"),
    ({"a": {"a": 1}}, "a -> a"),
    ({"db": {}, "x": {"y": 1}, "y": {"z": 1}, "z": {"x": 1}, "w": {"x": 1}}, "x -> y -> z -> x"),
])
def test_a_cycle_is_refused_by_name(depends: dict[str, dict[str, int]], cycle: str) -> None:
    with pytest.raises(ConfigError, match=f"depends_on: a cycle: {cycle};"):
        start_waves(depends)


def test_depends_on_in_both_forms_with_its_conditions() -> None:
    got = layout("shop", [service("db"), service("cache"),
                          service("api", depends_on={"db": {"condition": "service_healthy"},
                                                     "cache": {}}),
                          service("web", depends_on=("api",))])
    assert got.depends == {"db": {}, "cache": {},
                           "api": {"db": "service_healthy", "cache": "service_started"},
                           "web": {"api": "service_started"}}


@pytest.mark.parametrize("services, message", [
    ([service("api", depends_on=["db"])], "service 'api': depends_on: 'db' is not a service"),
    ([service("db"), service("api", depends_on={"db": {"condition": "service_ready"}})],
     "depends_on.db.condition: 'service_ready' is not one of service_started"),
    ([service("a", depends_on=["b"]), service("b", depends_on=["a"])], "a cycle: a -> b -> a"),
    ([service("api", networks=["back"])], "service 'api': networks: 'back' is not one of"),
])
def test_a_stack_that_cannot_start_is_refused_before_any_board(services: list[Service],
                                                               message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        layout("shop", services)


def test_networks_are_named_as_compose_names_them() -> None:
    got = layout("shop", [service("api")], {
        "back": None, "named": {"name": "plant-net"}, "lan": {"external": True},
        "old": {"external": {"name": "iot"}}})
    assert {k: (n.name, n.external) for k, n in got.networks.items()} == {
        "back": ("shop_back", False), "named": ("plant-net", False), "lan": ("lan", True),
        "old": ("iot", True), "default": ("shop_default", False)}


def test_a_service_joins_its_networks_else_the_default_and_none_under_network_mode() -> None:
    got = layout("shop", [service("api", networks={"back": {"aliases": ["x"]}, "front": None}),
                          service("web"), service("probe", network_mode="host")],
                 {"front": {}, "back": {}})
    assert got.joins == {"api": ("back", "front"), "web": ("default",), "probe": ()}
    assert [n.name for n in got.networks_of(["web", "probe"])] == ["shop_default"]
    assert [n.name for n in got.networks_of(["api"])] == ["shop_front", "shop_back"]


def test_a_network_is_created_with_its_driver_options_ipam_and_the_stacks_labels() -> None:
    got = layout("shop", [service("api")], {"back": {
        "driver": "bridge", "driver_opts": {"com.docker.network.bridge.name": "br-shop"},
        "internal": True, "labels": ["site=shed"],
        "ipam": {"driver": "default", "config": [
            {"subnet": "172.28.0.0/16", "ip_range": "172.28.5.0/24", "gateway": "172.28.5.254",
             "aux_addresses": {"host1": "172.28.1.5"}}]}}})
    assert got.networks["back"].options == (
        "--driver", "bridge", "--opt", "com.docker.network.bridge.name=br-shop", "--internal",
        "--ipam-driver", "default", "--subnet", "172.28.0.0/16", "--ip-range", "172.28.5.0/24",
        "--gateway", "172.28.5.254", "--aux-address", "host1=172.28.1.5",
        "--label", "site=shed", "--label", "fleet.stack=shop",
        "--label", "com.docker.compose.project=shop",
        "--label", "com.docker.compose.network=back")
    assert got.networks["default"].options[:2] == ("--driver", "bridge")
