"""A gateway that manages itself: `ansible_connection: local`, across the real process boundary.

fleet runs INSIDE a lab board's network and mount namespaces (as it would on a Pi
gateway), with an INI inventory naming `localhost ansible_connection=local`. Its
commands then run on that board by /bin/sh, against the board's own dockerd
(/run/docker.sock in its mount namespace), with no SSH: the known_hosts it is given
stays empty, and over SSH an unpinned board is refused before any command runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fleet.lab import device as lab_device
from fleet.lab import images
from fleet.lab.spec import DEVICE_PRIVATE_DIRS, LabDevice
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab, app_images

pytestmark = pytest.mark.integration

GATEWAY = "igw-01"  # 10.233.0.11
IP = "10.233.0.11"
# The gateway runs fleet and manages itself, as Ansible's local connection does; the lab
# board is this machine's arch.
INVENTORY = f"""\
[gateway]
localhost ansible_connection=local fleet_profile=pi4b-8g fleet_arch={images.HOST_ARCH}
"""

lab = lab_fixture("igw", "10.233.0.0/24", "--devices", "1", "--profiles", "pi4b-8g",
                  "--no-agent")


@pytest.fixture(scope="module")
def board(lab: Lab) -> LabDevice:
    [found] = [d for d in lab.spec.devices(1, "pi4b-8g") if d.id == GATEWAY]
    return found


@pytest.fixture(scope="module")
def work(lab: Lab) -> Path:
    """The gateway's files, under the lab's root: the one part of /tmp its namespace shares."""
    work = lab.root / "gateway"
    work.mkdir()
    app_images(work, {1: b"served by the gateway itself\n"})
    (work / "hosts").write_text(INVENTORY)
    (work / "shop.yaml").write_text("""\
name: shop
services:
  web:
    image: fleet/app:1
    ports: ["8080:8080"]
    stop_grace_period: 1s
    deploy:
      resources: {limits: {memory: 32M}}
""")
    return work


# The board has a /root, /home and /tmp of its own, bound over this machine's (some
# stacked: the lab binds itself back under a /tmp it covers): where the interpreter, its venv
# or this checkout lives under one (pyenv's under /root, a clone in /tmp), the command gets
# a mount namespace of its own with that directory's binds taken off until the path shows;
# the board's own mounts stay as they were. Arguments: pairs of DIR PATH, then --, then
# the command.
REVEAL = """
while [ "$1" != -- ]; do
    while [ ! -e "$2" ] && umount -l "$1" 2>/dev/null; do :; done
    shift 2
done
shift
exec "$@"
"""
NEEDED = (Path(sys.base_prefix), Path(sys.prefix), Path(__file__).resolve().parents[2])


def on_gateway(lab: Lab, board: LabDevice, work: Path, *args: str
               ) -> subprocess.CompletedProcess[str]:
    """`fleet --inventory hosts ARGS` run inside the board's namespaces, as on the board."""
    mnt, uts = lab.spec.ns_dir / f"{board.id}.mnt", lab.spec.ns_dir / f"{board.id}.uts"
    env = {**os.environ, "FLEET_CACHE_DIR": str(work / "cache"),
           "FLEET_KNOWN_HOSTS": str(work / "known_hosts")}
    fleet = [sys.executable, "-m", "fleet", "--inventory", str(work / "hosts"), *args]
    pairs = [(d, str(p)) for p in NEEDED for d in DEVICE_PRIVATE_DIRS if p.is_relative_to(d)]
    if pairs:
        fleet = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", REVEAL,
                 "sh", *(part for pair in pairs for part in pair), "--", *fleet]
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{lab.spec.netns(board)}", f"--mount={mnt}",
         f"--uts={uts}", f"--wd={work}", "--", *fleet],
        capture_output=True, text=True, timeout=600, check=False, env=env)


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def containers(lab: Lab, board: LabDevice) -> list[str]:
    """The shop stack's containers on the board's own dockerd: `name state` each."""
    out = lab_device.shell(lab.spec, board, "docker ps -a --filter label=fleet.stack=shop "
                                            "--format '{{.Names}} {{.State}}'")
    return sorted(out.splitlines())


def test_a_local_board_is_deployed_on_its_own_engine_without_ssh(
        lab: Lab, board: LabDevice, work: Path) -> None:
    assert containers(lab, board) == []
    result = as_json(on_gateway(lab, board, work, "deploy", "shop.yaml", "--json",
                                "--images", "images", "--store", "fleet.db"))
    assert result["ok"], result
    [device] = result["devices"]
    assert device["device"] == "localhost"
    assert [p["image"] for p in device["pushed"]] == ["fleet/app:1"]
    assert containers(lab, board) == ["shop-web-1 running"]
    # Published on the board's own network: its address answers with the image's page.
    with urllib.request.urlopen(f"http://{IP}:8080/", timeout=5) as page:
        assert page.read() == b"served by the gateway itself\n"
    assert not (work / "known_hosts").exists()  # no host key was read or pinned

    again = as_json(on_gateway(lab, board, work, "deploy", "shop.yaml", "--json",
                               "--images", "images", "--store", "fleet.db"))
    [device] = again["devices"]
    assert [s["action"] for s in device["steps"]] == ["keep"]  # read back from the engine
    assert device["pushed"] == []


def test_cleanup_and_trust_read_a_local_board_without_ssh(
        lab: Lab, board: LabDevice, work: Path) -> None:
    scan = as_json(on_gateway(lab, board, work, "cleanup", "--all", "--json"))
    [device] = scan["devices"]
    assert (device["device"], device["ok"], device["error"]) == ("localhost", True, ""), scan
    # The board's own card, as its lab sized it (a pi4b-8g's 32 GB), not this machine's disk.
    assert 30 * 10**9 < device["disk"]["total_bytes"] <= 32 * 10**9
    trusted = as_json(on_gateway(lab, board, work, "trust", "--json"))
    [row] = trusted["devices"]
    assert (row["device"], row["result"]) == ("localhost", "skipped")
    assert not (work / "known_hosts").exists()
