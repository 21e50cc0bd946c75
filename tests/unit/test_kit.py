"""The test kit's factories make values fleet itself would accept, with what a test overrides."""

from __future__ import annotations

from pathlib import Path

from fleet.model import Arch, Broker
from fleet.scheduler import plan
from fleet.wire import decode_heartbeat, encode
from tests import kit


def test_a_heartbeat_passes_the_wires_validation_with_its_overrides() -> None:
    hb = kit.heartbeat(seq=9, cpu_pct=99.0)
    assert decode_heartbeat(encode(hb)) == hb
    assert (hb.seq, hb.cpu_pct) == (9, 99.0)


def test_a_device_takes_its_arch_from_its_profile_and_its_host_from_its_id() -> None:
    pi, orin = kit.device("pi-7", "pi3b-plus"), kit.device("orin", "jetson-orin-nano-8g")
    assert (pi.host, pi.profile.name, orin.arch) == ("pi-7.local", "pi3b-plus", Arch.ARM64)
    assert kit.device(site="shed").site == "shed"


def test_a_service_asks_for_what_it_is_given_and_fits_a_pi() -> None:
    web = kit.service(mem_mb=128, disk_mb=10, cpu_millis=500, replicas=2)
    assert (web.request.mem_mb, web.request.disk_mb, web.request.cpu_millis) == (128, 10, 500)
    assert len(plan([kit.device("pi-1"), kit.device("pi-2")], [web]).placements) == 2


def test_a_stack_and_an_inventory_have_one_default_each() -> None:
    assert [s.name for s in kit.stack().services] == ["web"]
    assert kit.stack(kit.service("db"), name="shop").name == "shop"
    inv = kit.inventory(groups={"north": ["pi-2"]}, broker=Broker("10.0.0.1"))
    assert [d.id for d in inv.select(["north"])] == ["pi-2"]
    assert (inv.path, inv.broker.host) == (Path("inventory.yaml"), "10.0.0.1")
