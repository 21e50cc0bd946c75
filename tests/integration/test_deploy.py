"""`fleet deploy` on a lab fleet: real sshd, real dockerd, images pushed by layers over SSH.

Three boards of their own (lab `idep`). The test image `fleet/app:N` is the
lab's busybox layer (already on every board) plus a small layer of its own,
so a first deploy pushes only that layer. A test that starts from a deployed
revision asks for it (`at`), so any one passes when run alone; in file order,
that deploy finds the revision already running and changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleet.config import inventory
from fleet.lab import images
from fleet.lab import lab as lab_api
from fleet.lab.spec import LabDevice
from fleet.model import Arch
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab, app_images

pytestmark = pytest.mark.integration

DEVICES = ("idep-01", "idep-02", "idep-03")  # 10.244.0.11 to .13
IPS = {"idep-01": "10.244.0.11", "idep-02": "10.244.0.12", "idep-03": "10.244.0.13"}


lab = lab_fixture("idep", "10.244.0.0/24", "--devices", str(len(DEVICES)), "--profiles",
                  "pi4b-8g,pi4b-2g,pi4b-8g", "--no-agent")


@pytest.fixture(scope="module", autouse=True)
def pinned(lab: Lab) -> None:
    lab.pin(lab.root.parent / "known_hosts", *DEVICES)


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test's images (docker-archives) and stacks."""
    work = tmp_path_factory.mktemp("deploy")
    base = app_images(work, {v: f"app version {v}\n".encode() + b"x" * 200_000
                             for v in (1, 2, 3)})
    foreign = Arch.ARM64 if images.HOST_ARCH is not Arch.ARM64 else Arch.AMD64
    layer = work / "app1.tar"
    images.write_archive(work / "images" / "foreign.tar", [base, layer],
                         tag="fleet/app-foreign:1", arch=foreign, cmd=("httpd",))
    (work / "site.conf").write_text("greeting = hello\n")
    return work


def stack(work: Path, name: str, *, web_image: str = "fleet/app:1", env: str = "one",
          extra: str = "") -> Path:
    path = work / f"{name}.yaml"
    path.write_text(f"""
name: shop
configs:
  site: {{file: site.conf}}
services:
  web:
    image: {web_image}
    ports: ["8080"]
    stop_grace_period: 1s
    deploy:
      replicas: 3
      resources: {{limits: {{memory: 32M}}}}
      placement: {{max_replicas_per_node: 1}}
    configs: [{{source: site, target: /www/site.conf}}]
    x-fleet: {{ports: 3067-3200, strategy: spread}}
  worker:
    image: fleet/workload:latest
    command: ["sleep", "100000"]
    stop_grace_period: 1s
    environment: {{MODE: {env}}}
    deploy:
      resources: {{limits: {{memory: 16M}}}}
{extra}""")
    return path


# The stack's revisions, in the order the tests deploy them: stack() arguments.
REVISIONS: dict[str, dict[str, str]] = {
    "v1": {}, "v2": {"env": "two"}, "v3": {"web_image": "fleet/app:2", "env": "two"},
    "v4": {"web_image": "fleet/app:3", "env": "two"},
    "v5": {"web_image": "fleet/app:3", "env": "three"},
}


@pytest.fixture(scope="module")
def at(lab: Lab, work: Path) -> Callable[[str], None]:
    """Deploys a revision a test starts from; a revision already running stays as it is."""

    def deployed(revision: str) -> None:
        deploy(lab, work, stack(work, revision, **REVISIONS[revision]))

    return deployed


@pytest.fixture
def rolled_out(at: Callable[[str], None]) -> None:
    """v1 then v2: the worker replaced, its previous revision kept stopped for rollback."""
    at("v1")
    at("v2")


def deploy(lab: Lab, work: Path, path: Path, *args: str, check: bool = True
           ) -> tuple[int, dict[str, Any]]:
    done = lab.deploy(path, work, *args, known_hosts=lab.root.parent / "known_hosts")
    if check and done.returncode != 0:
        raise AssertionError(f"deploy exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.returncode, json.loads(done.stdout)


def lab_command(lab: Lab) -> list[str]:
    import sys
    return [sys.executable, "-m", "fleet", "--inventory", str(lab.spec.inventory)]


def containers(lab: Lab, device: str) -> dict[str, tuple[str, str]]:
    """name -> (container id, state) of the shop stack's containers on the device."""
    code, out = lab.ssh(IPS[device], "docker ps -a --filter label=fleet.stack=shop "
                                     "--format '{{.Names}} {{.ID}} {{.State}}'")
    assert code == 0, out
    return {name: (cid, state) for name, cid, state in (line.split() for line in
                                                           out.splitlines())}


def everywhere(lab: Lab) -> dict[str, tuple[str, str]]:
    return {name: found for d in DEVICES for name, found in containers(lab, d).items()}


def test_dry_run_shows_every_step_and_changes_nothing(lab: Lab, work: Path) -> None:
    code, plan = deploy(lab, work, stack(work, "v1"), "--dry-run")
    assert code == 0 and plan["dry_run"] is True
    actions = [s["action"] for d in plan["devices"] for s in d["steps"]]
    assert actions.count("create") == 4 and "push" in actions and "file" in actions
    assert everywhere(lab) == {}


def test_first_deploy_pushes_the_missing_layer_and_runs_the_stack(lab: Lab, work: Path) -> None:
    _, result = deploy(lab, work, stack(work, "v1"))
    assert result["ok"] and result["deployment"] == 1
    running = everywhere(lab)
    assert sorted(running) == ["shop-web-1", "shop-web-2", "shop-web-3", "shop-worker-1"]
    assert all(state == "running" for _, state in running.values())
    pushed = [p for d in result["devices"] for p in d["pushed"]]
    assert len(pushed) == 3  # fleet/app:1 to each board, its base layer already there
    for p in pushed:
        assert p["sent_bytes"] <= 1.05 * p["missing_bytes"] and p["missing_bytes"] < 1_000_000
    # The web replicas answer on the ports fleet allocated, with the config file mounted.
    for d in result["devices"]:
        web = [s for s in d["steps"] if s["target"].startswith("shop-web")]
        assert len(web) == 1
    _, out = lab.ssh(IPS["idep-01"], "docker inspect -f '{{json .HostConfig}}' "
                                        "$(docker ps -q --filter label=fleet.service=web)")
    host_config = json.loads(out)
    assert host_config["Memory"] == 32 << 20
    assert host_config["LogConfig"] == {"Type": "json-file",
                                        "Config": {"max-file": "3", "max-size": "10m"}}
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    port = int(host_config["PortBindings"]["8080/tcp"][0]["HostPort"])
    with urllib.request.urlopen(f"http://{IPS['idep-01']}:{port}/site.conf", timeout=5) as r:
        assert r.read() == b"greeting = hello\n"


def test_the_deploy_is_in_the_store(lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    from fleet.health.store import Store

    at("v1")
    with Store(work / "fleet.db") as db:
        deployments = db.deployments()
    assert deployments[0]["stack"] == "shop" and deployments[0]["status"] == "ok"
    devices = deployments[0]["devices"]
    assert isinstance(devices, dict) and set(devices) == set(DEVICES)


def test_a_second_deploy_of_the_same_stack_restarts_nothing(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v1")
    before = everywhere(lab)
    _, result = deploy(lab, work, stack(work, "v1"))
    assert result["ok"]
    assert all(s["action"] == "keep" for d in result["devices"] for s in d["steps"])
    assert all(d["pushed"] == [] and d["outcomes"] == {} for d in result["devices"])
    assert everywhere(lab) == before


def test_a_changed_service_alone_is_replaced_and_its_previous_revision_kept(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v1")
    before = everywhere(lab)
    _, result = deploy(lab, work, stack(work, "v2", **REVISIONS["v2"]))
    assert result["ok"]
    after = everywhere(lab)
    replaced = {n for n in before if after.get(n) != before[n]}
    assert replaced == {"shop-worker-1"}
    assert after["shop-worker-1.prev"][1] == "exited"  # kept, stopped, for rollback
    assert all(after[n] == before[n] for n in before if n.startswith("shop-web"))


def test_a_new_image_version_sends_only_its_new_layer(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v2")
    _, result = deploy(lab, work, stack(work, "v3", **REVISIONS["v3"]))
    assert result["ok"]
    pushed = [p for d in result["devices"] for p in d["pushed"]]
    assert len(pushed) == 3 and all(p["missing_bytes"] < 1_000_000 for p in pushed)
    outcomes = [o for d in result["devices"] for o in d["outcomes"].values()]
    assert outcomes.count("replaced") == 3


def test_a_wrong_arch_image_is_refused_before_anything_is_sent(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v3")
    code, result = deploy(lab, work, stack(work, "foreign", web_image="fleet/app-foreign:1"),
                          check=False)
    assert code == 1 and not result["ok"]
    reasons = [r for u in result["unplaced"] for r in u["reasons"]]
    assert any("arm64" in r or "amd64" in r for r in reasons), reasons
    assert all(d.get("pushed", []) == [] for d in result["devices"])
    assert everywhere(lab)["shop-web-1"][1] == "running"  # what ran, runs on


def test_a_device_with_too_little_disk_is_refused_the_rest_deploy(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v3")
    # idep-02's card (a Pi 4B 2G's 32 GB) filled to within its 10 % wear margin.
    _, out = lab.ssh(IPS["idep-02"], "df -Pk /var/lib/docker | tail -n 1")
    free_kb = int(out.split()[3])
    fill = free_kb * 1024 - (2 << 30)
    assert lab.ssh(IPS["idep-02"], f"fallocate -l {fill} /var/lib/docker/filler")[0] == 0
    try:
        before = containers(lab, "idep-02")
        code, result = deploy(lab, work, stack(work, "v4", **REVISIONS["v4"]),
                              check=False)
        assert code == 1
        by_device = {d["device"]: d for d in result["devices"]}
        assert not by_device["idep-02"]["ok"]
        assert "refused, nothing sent" in by_device["idep-02"]["error"]
        assert "MB kept free" in by_device["idep-02"]["error"]
        assert by_device["idep-01"]["ok"] and by_device["idep-03"]["ok"]
        assert containers(lab, "idep-02") == before
    finally:
        lab.ssh(IPS["idep-02"], "rm -f /var/lib/docker/filler")


def test_a_device_whose_sshd_is_down_is_reported_and_the_rest_succeed(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v3")  # where the stack already runs, so the worker has a place before idep-03 goes
    from fleet.lab import device

    spec = lab.spec
    board = LabDevice(3, "idep-03", IPS["idep-03"], "pi4b-8g")
    from fleet.lab.host import terminate
    terminate(device._sshd_pids(spec, board))
    try:
        code, result = deploy(lab, work, stack(work, "v5", **REVISIONS["v5"]), check=False)
        assert code == 1
        by_device = {d["device"]: d for d in result["devices"]}
        assert not by_device["idep-03"]["ok"] and "10.244.0.13:22" in by_device["idep-03"]["error"]
        assert by_device["idep-01"]["ok"] and by_device["idep-02"]["ok"]
        assert "shop-worker-1" in {**containers(lab, "idep-01"), **containers(lab, "idep-02")}
    finally:
        device.restart_sshd(spec, board)


def test_cleanup_after_deploys_keeps_every_revision_and_rollback_copy(
        lab: Lab, work: Path, rolled_out: None) -> None:
    before = everywhere(lab)
    copies = sorted(n for n in before if n.endswith(".prev"))
    assert copies and all(before[n][1] == "exited" for n in copies)
    done = subprocess.run(
        [*lab_command(lab), "cleanup", "--all", "--apply", "--json",
         "--known-hosts", str(lab.root.parent / "known_hosts")],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    kept = {k["label"]: k["why"] for d in report["devices"] for k in d["kept"]}
    assert all(kept[n] == "kept for rollback" for n in copies)
    assert everywhere(lab) == before


SUDO_WANTS_A_PASSWORD = ("pi on idep-02 needs passwordless sudo: add `pi ALL=(ALL) NOPASSWD: "
                         "ALL` to /etc/sudoers.d/010_pi-nopasswd (or log in as root)")


def test_the_boards_are_deployed_to_as_pi_with_sudo_not_as_root(lab: Lab) -> None:
    assert {d.ssh.user for d in inventory.load(lab.spec.inventory).devices} == {"pi"}
    code, out = lab.ssh(IPS["idep-01"], "id -un; docker ps -q", root=False)
    assert code != 0 and out.split()[0] == "pi" and "permission denied" in out


def test_a_board_whose_sudo_wants_a_password_says_what_to_add_and_is_left_as_it_was(
        lab: Lab, work: Path, at: Callable[[str], None]) -> None:
    at("v2")
    before = containers(lab, "idep-02")
    lab_api.sudo_password(lab.spec, "idep-02", True)
    try:
        code, result = deploy(lab, work, stack(work, "v5", **REVISIONS["v5"]), check=False)
        assert code == 1
        by_device = {d["device"]: d for d in result["devices"]}
        assert by_device["idep-02"]["error"] == SUDO_WANTS_A_PASSWORD
        assert by_device["idep-01"]["ok"] and by_device["idep-03"]["ok"]
        done = subprocess.run(
            [*lab_command(lab), "cleanup", "idep-02", "--apply", "--json",
             "--known-hosts", str(lab.root.parent / "known_hosts")],
            capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        [cleaned] = json.loads(done.stdout)["devices"]
        assert (cleaned["ok"], cleaned["error"]) == (False, SUDO_WANTS_A_PASSWORD)
    finally:
        lab_api.sudo_password(lab.spec, "idep-02", False)
    assert containers(lab, "idep-02") == before
