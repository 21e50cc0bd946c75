"""Discovery over real mDNS on the lab bridge: the agents' adverts, a bare board, SSH trust.

The shared lab runs four agents (each advertising `_fleet._tcp` from its own
network namespace) and one bare board whose avahi publishes only its host
name. The host browses on the lab's bridge only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.config import inventory
from fleet.daemon import Controller
from fleet.health.liveness import Health
from fleet.health.store import Store
from fleet.lab import agents, device
from fleet.lab.spec import LabDevice
from fleet.lan import discovery
from fleet.lan.advert import SERVICE_TYPE
from fleet.lan.discovery import Browser
from fleet.lan.sightings import DeviceGone, DeviceSeen, Event, Rejected
from fleet.ssh import sudo
from fleet.ssh.connection import SshConnection
from fleet.ssh.hostkeys import KnownHosts
from tests.integration.conftest import AGENTS, BARE
from tests.integration.lablib import Lab

BRIDGE = "10.251.0.1"


def lab_device(lab: Lab, device_id: str) -> LabDevice:
    found = {d["id"]: d for d in lab.status()["devices"]}[device_id]
    return LabDevice(0, device_id, found["ip"], found["profile"])


def sshd_fingerprint(lab: Lab, device_id: str) -> str:
    pub = lab.spec.ssh_dir(LabDevice(0, device_id, "", "")) / "ssh_host_ed25519_key.pub"
    shown = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                           check=True)
    return shown.stdout.split()[1]


def fleet(lab: Lab, *args: str, inv: Path | None = None, known_hosts: Path | None = None,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"FLEET_KNOWN_HOSTS": str(known_hosts)} if known_hosts else {})}
    done = subprocess.run([sys.executable, "-m", "fleet", "--inventory",
                           str(inv or lab.spec.inventory), *args],
                          capture_output=True, text=True, env=env, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"fleet {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done


async def collect(until: Any, timeout: float) -> tuple[list[Event], float]:
    """Browse the lab bridge until `until(events)` holds; the events and the seconds it took."""
    events: list[Event] = []
    started = time.monotonic()
    async with Browser(interfaces=[BRIDGE]) as browser:
        async with asyncio.timeout(timeout):
            async for event in browser:
                events.append(event)
                if until(events):
                    break
    return events, time.monotonic() - started


async def until(browser: Browser, events: list[Event], done: Callable[[], bool],
                timeout: float) -> None:
    """Add the browser's events to `events` until `done()`."""
    async with asyncio.timeout(timeout):
        async for event in browser:
            events.append(event)
            if done():
                return


def seen_ids(events: list[Event]) -> set[str]:
    present: set[str] = set()
    for e in events:
        if isinstance(e, DeviceSeen):
            present.add(e.id)
        elif isinstance(e, DeviceGone):
            present.discard(e.id)
    return present


def test_the_four_agents_are_found_within_three_seconds(lab: Lab) -> None:
    events, seconds = asyncio.run(collect(lambda ev: set(AGENTS) <= seen_ids(ev), 3.0))
    assert seconds < 3.0
    adverts = {e.id: e for e in events if isinstance(e, DeviceSeen) and e.enrolled}
    for device_id in AGENTS:
        seen = adverts[device_id]
        assert seen.advert is not None
        assert seen.advert.ssh_fingerprint == sshd_fingerprint(lab, device_id)
        assert seen.addresses == (lab_device(lab, device_id).ip,)


def test_discover_lists_agents_in_the_inventory_and_the_bare_board_as_new(lab: Lab) -> None:
    found = json.loads(fleet(lab, "discover", "--json", "--interface", BRIDGE).stdout)
    devices = {d["id"]: d for d in found["devices"]}
    assert set(devices) == {*AGENTS, *BARE}
    profiles = {d["id"]: d["profile"] for d in lab.status()["devices"]}
    for device_id in AGENTS:
        d = devices[device_id]
        assert (d["enrolled"], d["in_inventory"], d["profile"]) == \
            (True, True, profiles[device_id])
        assert d["ssh_fingerprint"] == sshd_fingerprint(lab, device_id)
    bare = devices["raspberrypi"]
    assert (bare["enrolled"], bare["in_inventory"], bare["found_by"]) == (False, False, "name")
    assert bare["addresses"] == [lab_device(lab, "raspberrypi").ip]
    assert found["missing"] == [] and found["rejected"] == []


def test_a_device_vanishes_when_its_agent_stops_and_returns_when_it_starts(lab: Lab) -> None:
    d = lab_device(lab, AGENTS[-1])

    async def watch() -> list[Event]:
        events: list[Event] = []
        loop = asyncio.get_running_loop()

        async with Browser(interfaces=[BRIDGE]) as browser:
            await until(browser, events, lambda: d.id in seen_ids(events), 5.0)
            await loop.run_in_executor(None, agents.stop, lab.spec, d)  # a clean SIGTERM
            await until(browser, events, lambda: events[-1] == DeviceGone(d.id), 15.0)
            assert seen_ids(events) >= set(AGENTS) - {d.id}
            await loop.run_in_executor(None, agents.resume, lab.spec, d)
            await until(browser, events, lambda: d.id in seen_ids(events), 30.0)
        return events

    try:
        events = asyncio.run(watch())
    finally:
        if not agents.running(lab.spec, d):
            agents.resume(lab.spec, d)
    assert DeviceGone(d.id) in events and d.id in seen_ids(events)


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "known_hosts"


def test_trust_pins_from_mdns_then_matches(lab: Lab, known_hosts: Path) -> None:
    first = json.loads(fleet(lab, "trust", "--json", "--interface", BRIDGE,
                             known_hosts=known_hosts).stdout)
    results = {r["device"]: r for r in first["devices"]}
    assert {i: (r["result"], r["basis"]) for i, r in results.items()} == \
        {i: ("pinned", "advertised") for i in AGENTS}
    pins = known_hosts.read_text()
    for device_id in AGENTS:
        assert results[device_id]["fingerprint"] == sshd_fingerprint(lab, device_id)
        assert f"{device_id} ssh-ed25519 " in pins
    again = json.loads(fleet(lab, "trust", "--json", known_hosts=known_hosts).stdout)
    assert {r["result"] for r in again["devices"]} == {"matches"}
    # A session on those pins logs in as each board's own user, and becomes root by sudo.
    inv = inventory.load(lab.spec.inventory)
    for device_id, user in (("itest-01", "pi"), ("itest-02", "nvidia")):
        with SshConnection(inv.device(device_id), KnownHosts(known_hosts)) as conn:
            assert conn.run("id -un").text.split() == [user]
            assert sudo.run(conn, "id -un").text.split() == ["root"]


@pytest.fixture
def rekeyed(lab: Lab) -> Iterator[tuple[LabDevice, str]]:
    """A device whose sshd got a new host key; the old one is put back afterwards."""
    d = lab_device(lab, AGENTS[2])
    key = lab.spec.ssh_dir(d) / "ssh_host_ed25519_key"
    saved = key.with_suffix(".saved")
    shutil.copy(key, saved)
    shutil.copy(f"{key}.pub", f"{saved}.pub")
    old = sshd_fingerprint(lab, d.id)
    device.rekey_ssh(lab.spec, d)
    try:
        yield d, old
    finally:
        shutil.copy(saved, key)
        shutil.copy(f"{saved}.pub", f"{key}.pub")
        device.restart_sshd(lab.spec, d)


def test_a_changed_host_key_is_refused_until_accepted_deliberately(
        lab: Lab, known_hosts: Path, rekeyed: tuple[LabDevice, str]) -> None:
    d, old = rekeyed
    known_hosts.write_text(f"{d.id} {_old_key_line(lab, d)}\n")  # pinned before the change
    new = sshd_fingerprint(lab, d.id)
    assert new != old
    refused = fleet(lab, "trust", d.id, known_hosts=known_hosts, check=False)
    assert refused.returncode == 1
    assert old in refused.stderr and new in refused.stderr
    assert f"fleet trust {d.id} --accept {new}" in refused.stderr
    wrong = fleet(lab, "trust", d.id, "--accept", old, known_hosts=known_hosts, check=False)
    assert wrong.returncode == 1
    accepted = json.loads(fleet(lab, "trust", d.id, "--accept", new, "--json",
                                known_hosts=known_hosts).stdout)
    [row] = accepted["devices"]
    assert (row["result"], row["fingerprint"], row["previous"]) == ("replaced", new, old)


def _old_key_line(lab: Lab, d: LabDevice) -> str:
    saved = lab.spec.ssh_dir(d) / "ssh_host_ed25519_key.saved.pub"
    kind, blob = saved.read_text().split()[:2]
    return f"{kind} {blob}"


def test_discover_add_writes_new_boards_and_pins_the_agents_keys(
        lab: Lab, tmp_path: Path, known_hosts: Path) -> None:
    path = tmp_path / "inventory.yaml"
    text = lab.spec.inventory.read_text()
    # An inventory that does not know the last agent yet, and gives bare boards a profile.
    last = AGENTS[-1]
    start = text.index(f"  {last}:")
    end = text.index("groups:")
    text = text[:start] + text[end:]
    text = text.replace(f"  - {last}\n", "")
    text = text.replace("defaults:\n", "defaults:\n  profile: pi4b-4g\n")
    path.write_text("# my fleet\n" + text)
    done = fleet(lab, "discover", "--add", "--json", "--interface", BRIDGE,
                 inv=path, known_hosts=known_hosts)
    report = json.loads(done.stdout)
    assert sorted(report["added"]) == sorted([last, *BARE])
    assert [(p["id"], p["result"]) for p in report["pinned"]] == [(last, "pinned")]
    written = path.read_text()
    assert written.startswith("# my fleet\n")
    assert "found by fleet discover" in written
    listed = json.loads(fleet(lab, "inventory", "--json", inv=path).stdout)
    by_id = {d["id"]: d for d in listed["devices"]}
    assert by_id[last]["host"] == lab_device(lab, last).ip
    assert by_id["raspberrypi"]["profile"] == "pi4b-4g"
    assert discovery.names_to_resolve([]) == ["raspberrypi"]


def test_the_controller_adds_what_it_finds_unmanaged_and_records_it(lab: Lab,
                                                                   tmp_path: Path) -> None:
    inv = inventory.load(lab.spec.inventory)
    with Store(tmp_path / "fleet.db") as store, \
            Controller(inv, store, workers=0, interfaces=[BRIDGE]) as controller:
        view = controller.view
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                "raspberrypi" in view.devices
                and all(view.devices[a].on_lan and view.devices[a].heartbeat for a in AGENTS)):
            controller.step(0.2)
        bare = view.devices["raspberrypi"]
        assert (bare.managed, bare.on_lan, bare.lan and bare.lan.enrolled) == (False, True, False)
        now = time.time()
        for device_id in AGENTS:
            r = view.devices[device_id]
            assert r.managed and r.on_lan and r.health(now) is Health.ACTIVE
        assert view.summary(now).total == len(AGENTS)  # a bare board is not yet the fleet's
        events = {(e.device, e.kind) for e in store.events(limit=1000)}
    assert ("raspberrypi", "lan_seen") in events
    assert {(a, "lan_seen") for a in AGENTS} <= events


ROGUE = """
import socket, sys
from zeroconf import ServiceInfo, Zeroconf
from fleet.lan.advert import SERVICE_TYPE
ip = sys.argv[1]
zc = Zeroconf(interfaces=[ip])
def txt(device_id):
    return {"v": "1", "id": device_id, "profile": "pi4b-8g", "arch": "arm64", "mem": "8192",
            "disk": "29917"}
for name, device_id in (("rogue-bad", "Not_An_Id"), ("rogue-dup", sys.argv[2])):
    zc.register_service(ServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=22,
                                    properties=txt(device_id), server=f"{name}.local.",
                                    parsed_addresses=[ip]))
print("ready", flush=True)
sys.stdin.read()
zc.close()
"""


def test_bad_and_duplicate_records_are_skipped_and_browsing_goes_on(lab: Lab) -> None:
    bare = lab_device(lab, BARE[0])
    original = lab_device(lab, AGENTS[0])
    command = ["nsenter", f"--net=/run/netns/{lab.spec.netns(bare)}", sys.executable, "-c",
               ROGUE, bare.ip, original.id]
    rogues: list[subprocess.Popen[str]] = []

    def start_rogue() -> None:  # another board claiming a taken id, and one with a bad id
        rogues.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True))
        assert rogues[0].stdout is not None and rogues[0].stdout.readline().strip() == "ready"

    async def watch() -> list[Event]:
        events: list[Event] = []

        async with Browser(interfaces=[BRIDGE]) as browser:
            await until(browser, events, lambda: set(AGENTS) <= seen_ids(events), 5.0)
            await asyncio.get_running_loop().run_in_executor(None, start_rogue)
            await until(browser, events,
                        lambda: sum(isinstance(e, Rejected) for e in events) >= 2, 10.0)
        return events

    try:
        events = asyncio.run(watch())
    finally:
        for rogue in rogues:
            rogue.communicate("", timeout=10)
    reasons = {e.name: e.reason for e in events if isinstance(e, Rejected)}
    assert "invalid device id" in reasons[f"rogue-bad.{SERVICE_TYPE}"]
    assert "duplicate id" in reasons[f"rogue-dup.{SERVICE_TYPE}"]
    real = [e for e in events if isinstance(e, DeviceSeen) and e.id == original.id]
    assert real and all(e.addresses == (original.ip,) for e in real)


BALENA = """
import sys, time
from zeroconf import ServiceInfo, Zeroconf
ip = sys.argv[1]
zc = Zeroconf(interfaces=[ip])
def publish(host, kind, port):
    zc.register_service(ServiceInfo(f"{kind}.local.", f"{host}.{kind}.local.", port=port,
                                    server=f"{host}.local.", parsed_addresses=[ip]))
# balenaOS: a workstation record and SSH on 22222, in one order for one board and the
# other for the other, a browse's worth apart.
publish("balena-a", "_workstation._tcp", 9)
publish("balena-b", "_ssh._tcp", 22222)
time.sleep(1.5)
publish("balena-a", "_ssh._tcp", 22222)
publish("balena-b", "_workstation._tcp", 9)
print("ready", flush=True)
sys.stdin.read()
zc.close()
"""


def test_a_balena_board_keeps_its_ssh_records_port_in_either_order_and_is_added_with_it(
        lab: Lab, tmp_path: Path, known_hosts: Path) -> None:
    bare = lab_device(lab, BARE[0])
    responder = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{lab.spec.netns(bare)}", sys.executable, "-c", BALENA,
         bare.ip], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"

        def settled(events: list[Event]) -> bool:
            last = last_seen(events)
            return all(last.get(b) is not None and last[b].port == 22222
                       for b in ("balena-a", "balena-b"))

        events, _ = asyncio.run(collect(settled, 15.0))
        path = tmp_path / "inventory.yaml"
        path.write_text(lab.spec.inventory.read_text().replace(
            "defaults:\n", "defaults:\n  profile: pi4b-4g\n"))
        report = json.loads(fleet(lab, "discover", "--add", "--json", "--interface", BRIDGE,
                                  inv=path, known_hosts=known_hosts).stdout)
    finally:
        responder.communicate("", timeout=10)
    last = last_seen(events)
    for board in ("balena-a", "balena-b"):
        assert (last[board].port, last[board].source) == (22222, "_ssh._tcp.local."), board
    assert {"balena-a", "balena-b"} <= set(report["added"])
    added = inventory.load(path)
    for board in ("balena-a", "balena-b"):
        assert (added.device(board).host, added.device(board).ssh.port) == (bare.ip, 22222)
    # The agents' boards were in the inventory already, on sshd's usual port.
    assert {added.device(a).ssh.port for a in AGENTS} == {22}


def last_seen(events: list[Event]) -> dict[str, DeviceSeen]:
    return {e.id: e for e in events if isinstance(e, DeviceSeen)}
