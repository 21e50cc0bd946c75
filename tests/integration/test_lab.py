"""The fleet lab against the real thing: namespaces, sshd, dockerd, mosquitto."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import docker
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet import inventory
from fleet.lab.images import FOREIGN_ARCH, WORKLOAD, WORKLOAD_FOREIGN
from tests.integration.lablib import Lab, leftovers


def test_status_reports_both_devices_healthy(lab: Lab) -> None:
    status = lab.status()
    assert [(d["id"], d["profile"], d["ssh"], d["docker"], d["agent"])
            for d in status["devices"]] == [
        ("itest-01", "pi4b-8g", True, True, True),
        ("itest-02", "jetson-orin-nano-8g", True, True, True),
    ]
    assert status["broker"] == "10.251.0.1:1883"


def test_inventory_written_for_the_lab_loads(lab: Lab) -> None:
    inv = inventory.load(lab.status()["inventory"])
    assert [(d.id, d.host, d.profile.name) for d in inv.devices] == [
        ("itest-01", "10.251.0.11", "pi4b-8g"),
        ("itest-02", "10.251.0.12", "jetson-orin-nano-8g"),
    ]
    # Budgets are the profile's, not this 24 GB host's.
    assert inv.devices[0].budget.mem_mb < 8192
    assert (inv.broker.host, inv.broker.port) == ("10.251.0.1", 1883)


def test_ssh_lands_on_the_device_with_its_own_engine(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.12", "hostname; docker info --format '{{.Name}}'")
    assert code == 0
    assert out.split() == ["itest-02", "itest-02"]


def test_container_memory_limit_is_enforced_on_the_devices_engine(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.11", f"docker run --rm -m 32m {WORKLOAD.tag} "
                                        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert (code, out.strip()) == (0, str(32 * 2**20))
    # Filling 100 MB under a 32 MB limit gets the container OOM-killed.
    code, _ = lab.ssh("10.251.0.11", f"docker run --name hog -m 32m {WORKLOAD.tag} "
                                      "sh -c 'x=$(head -c 100000000 /dev/zero | tr \"\\0\" a)'")
    assert code != 0
    engine = docker.DockerClient(base_url=f"unix://{lab.spec.root}/devices/itest-01/docker.sock")
    other = docker.DockerClient(base_url=f"unix://{lab.spec.root}/devices/itest-02/docker.sock")
    try:
        assert engine.containers.get("hog").attrs["State"]["OOMKilled"] is True
        assert [c.name for c in other.containers.list(all=True)] == ["fleet-agent"]
    finally:
        engine.close()
        other.close()


def test_published_port_reaches_the_container(lab: Lab) -> None:
    code, _ = lab.ssh("10.251.0.12", f"docker run -d --name web -p 3067:8080 {WORKLOAD.tag}")
    assert code == 0
    for _ in range(50):
        try:
            with urllib.request.urlopen("http://10.251.0.12:3067/", timeout=2) as page:
                assert page.read() == b"fleet workload\n"
                return
        except OSError:
            threading.Event().wait(0.1)
    pytest.fail("the published port never answered")


def test_foreign_image_claims_its_architecture(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.11", "docker image inspect --format '{{.Architecture}}' "
                                        f"{WORKLOAD_FOREIGN.tag} {WORKLOAD.tag}")
    assert code == 0
    assert out.split() == [str(FOREIGN_ARCH), str(WORKLOAD.arch)]


def test_broker_relays_mqtt_on_the_bridge(lab: Lab) -> None:
    got = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: got.set() if msg.payload == b"hello" else None
    client.connect("10.251.0.1", 1883)
    client.subscribe("fleet/test")
    client.loop_start()
    try:
        for _ in range(50):
            client.publish("fleet/test", b"hello")
            if got.wait(0.1):
                break
        assert got.is_set()
    finally:
        client.loop_stop()
        client.disconnect()


def test_second_up_is_refused(lab: Lab) -> None:
    done = lab.fleet("lab", "up", "--devices", "1", check=False)
    assert done.returncode == 1
    assert "already up" in done.stderr


def test_three_devices_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    lab = Lab("idown", "10.252.0.0/24", tmp_path / "idown")
    lab.fleet("lab", "up", "--devices", "3")
    try:
        status = lab.status()
        assert [(d["ssh"], d["docker"]) for d in status["devices"]] == [(True, True)] * 3
        code, _ = lab.ssh("10.252.0.13", f"docker run -d -m 16m {WORKLOAD.tag} sleep 600")
        assert code == 0
        present = {item.split()[0] for item in leftovers(lab)}
        assert present == {"netns", "link", "process", "cgroup", "mount", "directory"}
    finally:
        lab.fleet("lab", "down")
    assert leftovers(lab) == []
    again = lab.fleet("lab", "down")
    assert "nothing to remove" in again.stdout
