"""The fleet lab against the real thing: namespaces, sshd, dockerd, mosquitto, avahi."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import docker
import paho.mqtt.client as mqtt
import paramiko
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from zeroconf import Zeroconf

# zeroconf's own, left out of its __all__: a resolver for a host name, and DNS messages.
from zeroconf._dns import DNSAddress, DNSQuestion, DNSRecord
from zeroconf._protocol.incoming import DNSIncoming
from zeroconf._protocol.outgoing import DNSOutgoing
from zeroconf._services.info import AddressResolverIPv4
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_A, _TYPE_ANY, _TYPE_PTR

from fleet.config import inventory
from fleet.lab import agents, device
from fleet.lab.images import FOREIGN_ARCH, WORKLOAD, WORKLOAD_FOREIGN
from fleet.lab.spec import LabDevice
from fleet.lan.boards import PROBE_COMMAND, identify, parse_probe
from tests.integration.conftest import AGENTS, BARE, PROFILES
from tests.integration.lablib import Lab, lab_up, leftovers

BRIDGE = "10.251.0.1"
BARE_IP = "10.251.0.15"


def devices(lab: Lab) -> list[LabDevice]:
    return lab.spec.devices(len(AGENTS), PROFILES, len(BARE))


def ask_mdns(responder: str, questions: Iterable[tuple[str, int]]) -> list[DNSRecord]:
    """One query sent straight to `responder`'s mDNS port: its answers, [] if it stays silent.

    Sent from a port other than 5353, it is a legacy unicast query (RFC 6762
    section 6.7), answered to this socket alone: every answer is the
    responder's own, none its neighbours'.
    """
    query = DNSOutgoing(_FLAGS_QR_QUERY)
    for name, kind in questions:
        query.add_question(DNSQuestion(name, kind, _CLASS_IN))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((BRIDGE, 0))
        s.settimeout(2)
        s.sendto(query.packets()[0], (responder, 5353))
        try:
            reply, _ = s.recvfrom(9000)
        except TimeoutError:
            return []
    return list(DNSIncoming(reply).answers())


def offered_key(ip: str) -> str:
    """The host key the device's sshd offers, as `type base64`."""
    with paramiko.Transport((ip, 22)) as transport:
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key()
    return f"{key.get_name()} {key.get_base64()}"


def test_status_reports_every_device_healthy(lab: Lab) -> None:
    status = lab.status()
    assert [(d["id"], d["ip"], d["profile"], d["ssh"], d["docker"], d["agent"], d["bare"])
            for d in status["devices"]] == [
        ("itest-01", "10.251.0.11", "pi4b-8g", True, True, True, False),
        ("itest-02", "10.251.0.12", "jetson-orin-nano-8g", True, True, True, False),
        ("itest-03", "10.251.0.13", "pi4b-2g", True, True, True, False),
        ("itest-04", "10.251.0.14", "pi5-8g", True, True, True, False),
        ("raspberrypi", BARE_IP, "pi4b-8g", True, True, None, True),
    ]
    assert status["broker"] == "10.251.0.1:1883"


def test_inventory_written_for_the_lab_loads_without_the_bare_board(lab: Lab) -> None:
    inv = inventory.load(lab.status()["inventory"])
    assert [(d.id, d.host, d.profile.name) for d in inv.devices] == [
        ("itest-01", "10.251.0.11", "pi4b-8g"),
        ("itest-02", "10.251.0.12", "jetson-orin-nano-8g"),
        ("itest-03", "10.251.0.13", "pi4b-2g"),
        ("itest-04", "10.251.0.14", "pi5-8g"),
    ]
    assert inv.groups == {"itest": AGENTS}
    # Budgets are the profile's, not this 24 GB host's.
    assert inv.devices[0].budget.mem_mb < 8192
    assert (inv.broker.host, inv.broker.port) == ("10.251.0.1", 1883)


def test_ssh_lands_on_the_device_with_its_own_engine(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.12", "hostname; docker info --format '{{.Name}}'")
    assert code == 0
    assert out.split() == ["itest-02", "itest-02"]


@pytest.mark.parametrize(("ip", "user"), [("10.251.0.11", "pi"), ("10.251.0.12", "nvidia"),
                                          (BARE_IP, "pi")])
def test_a_board_logs_in_as_its_user_not_in_docker_with_passwordless_sudo(
        lab: Lab, ip: str, user: str) -> None:
    code, out = lab.ssh(ip, 'id -un; echo "$HOME"; ls ~/.ssh; docker ps -q >/dev/null 2>&1 '
                        "|| echo no-docker", root=False)
    assert (code, out.split()) == (0, [user, f"/home/{user}", "authorized_keys", "no-docker"])
    code, out = lab.ssh(ip, "id -u; docker info --format '{{.Name}}' | grep -c .")
    assert (code, out.split()) == (0, ["0", "1"])


def test_a_board_refuses_root_logins(lab: Lab) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        lab.ssh("10.251.0.11", "true", user="root")
    assert "PermitRootLogin no" in (lab.spec.device_dir(devices(lab)[0]) / "sshd_config"
                                    ).read_text().splitlines()


def test_a_board_names_itself_in_its_own_hosts_and_has_its_own_users(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.13", "getent hosts itest-03; getent passwd pi | cut -d: -f6",
                        root=False)
    assert (code, out.split()) == (0, ["127.0.1.1", "itest-03", "/home/pi"])
    assert lab.ssh("10.251.0.13", "ls -A /root")[1].split() == [".ssh"]  # its own, not the host's
    host_users = [line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines()]
    assert "pi" not in host_users  # the host's own users untouched


@pytest.mark.parametrize(("ip", "profile"), [
    ("10.251.0.11", "pi4b-8g"), ("10.251.0.12", "jetson-orin-nano-8g"),
    ("10.251.0.13", "pi4b-2g"), ("10.251.0.14", "pi5-8g"), (BARE_IP, "pi4b-8g")])
def test_a_board_says_what_it_is_as_a_real_one_does_and_fleet_reads_its_profile(
        lab: Lab, ip: str, profile: str) -> None:
    # fleet enroll's probe, as the board's user: its device tree, L4T release and MemTotal.
    code, out = lab.ssh(ip, PROBE_COMMAND, root=False)
    assert code == 0, out
    found = identify(parse_probe(out.encode()))
    assert found.profile == profile, found.reason


def test_the_device_tree_is_read_only_and_the_jetsons_etc_is_its_own(lab: Lab) -> None:
    code, out = lab.ssh("10.251.0.12", "od -An -c /sys/firmware/devicetree/base/model; "
                        "touch /sys/firmware/devicetree/base/x 2>/dev/null || echo read-only; "
                        "cut -c 1-5 /etc/nv_tegra_release; echo board >/etc/fleet-lab-etc; "
                        "cat /etc/fleet-lab-etc; rm /etc/fleet-lab-etc")
    assert code == 0, out
    assert out.split() == [*"NVIDIAOrinNanoDeveloperKit", "\\0", "read-only", "#", "R35",
                           "board"]
    # The board's /etc is a layer of its own: the host has neither file.
    assert not Path("/etc/nv_tegra_release").exists()
    assert not Path("/etc/fleet-lab-etc").exists()
    code, out = lab.ssh("10.251.0.11", "test -e /etc/nv_tegra_release || echo not-a-jetson")
    assert (code, out.split()) == (0, ["not-a-jetson"])


def test_containers_see_sys_without_firmware_and_the_agent_gets_its_device_tree(
        lab: Lab) -> None:
    # dockerd masks /sys/firmware in every container, as on a board; the rest of /sys is there.
    code, out = lab.ssh("10.251.0.13", f"docker run --rm {WORKLOAD.tag} sh -c "
                        "'ls -A /sys/firmware | wc -l; ls /sys/class/net | wc -l'")
    assert code == 0, out
    firmware_entries, interfaces = map(int, out.split())
    assert (firmware_entries, interfaces > 0) == (0, True)
    code, out = lab.ssh("10.251.0.13", "docker exec fleet-agent cat /fleet/device-tree/model")
    assert (code, out) == (0, "Raspberry Pi 4 Model B Rev 1.2\0")


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


def test_a_bare_board_answers_ssh_and_runs_no_agent(lab: Lab) -> None:
    code, out = lab.ssh(BARE_IP, "hostname; docker ps --all --quiet | wc -l")
    assert (code, out.split()) == (0, ["raspberrypi", "0"])
    assert agents.container(lab.spec, devices(lab)[-1]) is None


def test_a_bare_boards_host_name_resolves_over_mdns_on_the_bridge(lab: Lab) -> None:
    zc = Zeroconf(interfaces=[BRIDGE])
    try:
        resolver = AddressResolverIPv4("raspberrypi.local.")
        assert resolver.request(zc, 3000)
        # `in`, not ==: this host may hear other labs' bridges, and their raspberrypi.
        assert BARE_IP in resolver.parsed_scoped_addresses()
    finally:
        zc.close()


def test_a_bare_board_publishes_its_host_name_and_nothing_else(lab: Lab) -> None:
    services = ("_services._dns-sd._udp.local.", "_ssh._tcp.local.", "_sftp-ssh._tcp.local.",
                "_workstation._tcp.local.", "_device-info._tcp.local.", "_fleet._tcp.local.")
    answers = ask_mdns(BARE_IP, [("raspberrypi.local.", _TYPE_ANY),
                                 *((service, _TYPE_PTR) for service in services)])
    assert [(a.name, a.type) for a in answers] == [("raspberrypi.local.", _TYPE_A)]
    assert isinstance(answers[0], DNSAddress)
    assert socket.inet_ntoa(answers[0].address) == BARE_IP


def test_rekey_ssh_gives_the_device_a_new_host_key(lab: Lab, tmp_path: Path) -> None:
    target = devices(lab)[3]
    key = lab.spec.ssh_dir(target) / "ssh_host_ed25519_key"
    before = offered_key(target.ip)
    assert before == device.host_key(lab.spec, target)
    for file in (key, key.with_suffix(".pub"), lab.spec.known_hosts):
        shutil.copy(file, tmp_path / file.name)
    try:
        new = device.rekey_ssh(lab.spec, target)
        assert offered_key(target.ip) == new != before
        assert lab.ssh(target.ip, "true")[0] == 0  # the lab's known_hosts followed
        client = paramiko.SSHClient()
        client.load_host_keys(str(tmp_path / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(target.ip, username="pi", key_filename=str(lab.spec.client_key),
                           allow_agent=False, look_for_keys=False, timeout=10)
        client.close()
        agent = agents.container(lab.spec, target)
        assert agent is not None
        code, shown = agent.exec_run(["cat", agents.SSH_HOST_KEY])
        assert code == 0 and shown.decode().startswith(new)  # through its bind mount
    finally:  # the old key back, in place, so the agent's advert is true again
        for file in (key, key.with_suffix(".pub")):
            file.write_bytes((tmp_path / file.name).read_bytes())
        device.restart_sshd(lab.spec, target)
    assert offered_key(target.ip) == before
    assert lab.spec.known_hosts.read_text() == (tmp_path / "known_hosts").read_text()


def test_an_agent_stopped_leaves_cleanly_and_resumes(lab: Lab) -> None:
    target = devices(lab)[2]
    agents.stop(lab.spec, target)
    try:
        stopped = agents.container(lab.spec, target)
        assert stopped is not None
        assert (stopped.status, stopped.attrs["State"]["ExitCode"]) == ("exited", 0)
        done = lab.fleet("lab", "status", "--json", check=False)
        assert done.returncode == 1  # the lab is not healthy without it
        assert [d["agent"] for d in json.loads(done.stdout)["devices"]] == [
            True, True, False, True, None]
    finally:
        agents.resume(lab.spec, target)
    assert agents.running(lab.spec, target)


def test_three_devices_one_bare_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    with lab_up("idown", "10.252.0.0/24", tmp_path / "idown", "--devices", "2", "--bare",
                "1") as lab:
        status = lab.status()
        assert [(d["ssh"], d["docker"]) for d in status["devices"]] == [(True, True)] * 3
        assert status["devices"][2]["bare"]
        code, _ = lab.ssh("10.252.0.13", f"docker run -d -m 16m {WORKLOAD.tag} sleep 600")
        assert code == 0
        present = {item.split()[0] for item in leftovers(lab)}
        assert present == {"netns", "link", "process", "cgroup", "mount", "directory"}
    assert leftovers(lab) == []  # lab_up checks this too; here it is what the test is about
    again = lab.fleet("lab", "down")
    assert "nothing to remove" in again.stdout
