"""`fleet deploy` of a stack using each group of compose keys, read back with `docker inspect`.

A board of its own (lab `ikeys`). Each service exercises one group:
`sized` memory, CPU and process limits; `dev` devices, capabilities and the
container's own settings; `envy` the environment (an env file read on the
controller, interpolation), a secret, volumes and a network with an alias;
`host`, `none` and `sidecar` the network modes. What docker made of each is
read back on the board.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration

DEVICE, IP = "ikeys-01", "10.238.0.11"
SLEEP = '["sleep", "100000"]'
STACK = f"""
name: keys
volumes:
  data:
  scratch: {{driver: local, driver_opts: {{type: tmpfs, device: tmpfs, o: "size=4m,uid=1000"}}}}
networks:
  back:
secrets:
  token: {{file: token.txt}}
x-base: &base
  image: fleet/workload:latest
  command: {SLEEP}
  stop_grace_period: 1s
services:
  sized:
    <<: *base
    mem_limit: 48m
    mem_reservation: 24m
    memswap_limit: 96m
    cpus: 0.5
    pids_limit: 64
    shm_size: 8m
    ulimits: {{nofile: {{soft: 1024, hard: 2048}}}}
  dev:
    <<: *base
    devices: ["/dev/null:/dev/fleet-null:rwm"]
    device_cgroup_rules: ["c 1:3 rmw"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    security_opt: ["no-new-privileges:true"]
    read_only: true
    tmpfs: /scratch
    user: "1000:1000"
    group_add: ["100"]
    working_dir: /tmp
    init: true
    hostname: gadget
    sysctls: {{net.ipv4.ip_unprivileged_port_start: 80}}
    stop_signal: SIGINT
    labels: {{site: shed}}
    logging: {{driver: json-file, options: {{max-size: 1m}}}}
    restart: on-failure:3
  envy:
    <<: *base
    env_file: app.env
    environment: {{MODE: "${{MODE:-blue}}", SHARED: from-compose}}
    secrets: [token]
    volumes: ["data:/data", "scratch:/scratch", "./rel:/rel"]
    networks: {{back: {{aliases: [api]}}}}
    dns_search: [lan]
    extra_hosts: ["nas:10.0.0.9"]
    healthcheck: {{test: ["CMD", "true"], interval: 1s}}
  client:
    <<: *base
    networks: [back]
  host:
    <<: *base
    network_mode: host
  none:
    <<: *base
    network_mode: none
  sidecar:
    <<: *base
    network_mode: "service:envy"
"""

lab = lab_fixture("ikeys", "10.238.0.0/24", "--devices", "1", "--profiles", "pi4b-8g",
                  "--no-agent")


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("keys")
    lab.pin(work / "known_hosts", DEVICE)
    (work / "images").mkdir()
    (work / "keys.yaml").write_text(STACK)
    (work / "app.env").write_text("# the app's\nAPI_KEY='s3cret value'\nSHARED=from-file\n")
    (work / "token.txt").write_text("t0ken")
    return work


def deploy(lab: Lab, work: Path) -> dict[str, Any]:
    return lab.deployed(work / "keys.yaml", work)


@pytest.fixture(scope="module")
def deployed(lab: Lab, work: Path) -> dict[str, Any]:
    return deploy(lab, work)


def inspect(lab: Lab, service: str) -> dict[str, Any]:
    code, out = lab.ssh(IP, f"docker inspect keys-{service}-1")
    assert code == 0, out
    found: dict[str, Any] = json.loads(out)[0]
    return found


def on_board(lab: Lab, command: str) -> str:
    code, out = lab.ssh(IP, command)
    assert code == 0, out
    return out


def test_every_service_runs(lab: Lab, deployed: dict[str, Any]) -> None:
    assert deployed["ok"], deployed
    for service in ("sized", "dev", "envy", "client", "host", "none", "sidecar"):
        assert inspect(lab, service)["State"]["Running"], service


def test_memory_cpu_and_process_limits(lab: Lab, deployed: dict[str, Any]) -> None:
    host = inspect(lab, "sized")["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"], host["MemorySwap"]) == (
        48 << 20, 24 << 20, 96 << 20)
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 64
    assert host["ShmSize"] == 8 << 20
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]


def test_devices_capabilities_and_the_containers_settings(
        lab: Lab, deployed: dict[str, Any]) -> None:
    found = inspect(lab, "dev")
    host, config = found["HostConfig"], found["Config"]
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/fleet-null",
                                "CgroupPermissions": "rwm"}]
    assert host["DeviceCgroupRules"] == ["c 1:3 rmw"]
    assert host["CapAdd"] == ["CAP_NET_ADMIN"] and host["CapDrop"] == ["CAP_MKNOD"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True and "/scratch" in host["Tmpfs"]
    assert host["GroupAdd"] == ["100"] and host["Init"] is True
    assert host["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "80"}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert (config["User"], config["WorkingDir"], config["Hostname"]) == (
        "1000:1000", "/tmp", "gadget")
    assert config["StopSignal"] == "SIGINT" and config["Labels"]["site"] == "shed"
    assert on_board(lab, "docker exec keys-dev-1 ls /dev/fleet-null").strip() == \
        "/dev/fleet-null"


def test_the_environment_secret_volumes_and_network(lab: Lab, deployed: dict[str, Any]) -> None:
    found = inspect(lab, "envy")
    env = set(found["Config"]["Env"])
    # env_file's, then `environment` over it; interpolated on the controller
    assert {"API_KEY=s3cret value", "SHARED=from-compose", "MODE=blue"} <= env
    args = " ".join(found["Args"]) + found["Path"]
    assert "s3cret" not in args
    # the env file on the board is root's alone
    mode = on_board(lab, "stat -c %a /var/lib/fleet/stacks/keys/configs/.fleet-env/envy.env")
    assert mode.strip() == "600"
    assert on_board(lab, "docker exec keys-envy-1 cat /run/secrets/token") == "t0ken"
    mounts = {m["Destination"]: m for m in found["Mounts"]}
    assert mounts["/data"]["Name"] == "keys_data"
    assert mounts["/scratch"]["Name"] == "keys_scratch"
    assert mounts["/rel"]["Source"] == "/var/lib/fleet/stacks/keys/rel"
    options = json.loads(on_board(lab, "docker volume inspect -f '{{json .Options}}' "
                                       "keys_scratch"))
    assert options == {"type": "tmpfs", "device": "tmpfs", "o": "size=4m,uid=1000"}
    network = found["NetworkSettings"]["Networks"]["keys_back"]
    assert {"envy", "api"} <= set(network["Aliases"])
    assert found["HostConfig"]["DnsSearch"] == ["lan"]
    assert found["HostConfig"]["ExtraHosts"] == ["nas:10.0.0.9"]
    # docker run has --health-cmd alone: the exec form runs through the image's shell
    assert found["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert found["State"]["Health"]["Status"] in ("starting", "healthy")


def test_services_on_the_network_resolve_each_other_by_name_and_alias(
        lab: Lab, deployed: dict[str, Any]) -> None:
    for name in ("envy", "api"):
        on_board(lab, f"docker exec keys-client-1 ping -c1 -W2 {name}")


def test_network_modes(lab: Lab, deployed: dict[str, Any]) -> None:
    assert inspect(lab, "host")["HostConfig"]["NetworkMode"] == "host"
    assert inspect(lab, "none")["HostConfig"]["NetworkMode"] == "none"
    envy_id = inspect(lab, "envy")["Id"]
    assert inspect(lab, "sidecar")["HostConfig"]["NetworkMode"] in (
        "container:keys-envy-1", f"container:{envy_id}")


def test_a_second_deploy_changes_nothing_and_a_changed_env_file_replaces_its_service(
        lab: Lab, work: Path, deployed: dict[str, Any]) -> None:
    again = deploy(lab, work)
    assert [s["action"] for d in again["devices"] for s in d["steps"]
            if s["action"] != "keep"] == []
    (work / "app.env").write_text("API_KEY=rotated\nSHARED=from-file\n")
    changed = deploy(lab, work)
    steps = [(s["action"], s["target"]) for d in changed["devices"] for s in d["steps"]
             if s["action"] != "keep"]
    assert ("replace", "keys-envy-1") in steps
    assert {target for action, target in steps if action == "replace"} <= {
        "keys-envy-1", "keys-sidecar-1"}
    assert "API_KEY=rotated" in inspect(lab, "envy")["Config"]["Env"]
