"""The agent's `docker run` options as bootstrap.sh's fleet_agent computes them on a board.

The options are computed in shell, so the step runs under sh with a stand-in docker that
records its `run` arguments; the board's paths (device tree, socket, config) point into a
temporary directory, since the machine running the tests has no device tree of its own.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fleet.ssh import playbooks

DOCKER = """#!/bin/sh
case "$1 $2" in
  "image inspect") echo sha256:agent-image ;;
  "container inspect")
    [ -f {ran} ] || exit 1
    case "$4" in *State*) echo "running 0" ;; *Id*) echo agent-container ;; esac ;;
  "run --detach") printf '%s\\n' "$@" >{ran} ;;
esac
"""


def agent_step(tmp_path: Path, *, device_tree: bool) -> tuple[subprocess.CompletedProcess[str],
                                                                 list[str]]:
    bin_dir, ran = tmp_path / "bin", tmp_path / "docker-run.args"
    bin_dir.mkdir()
    for name in ("mktemp", "rm", "grep", "tail", "stat", "sha256sum", "cut", "sleep", "cat"):
        (bin_dir / name).symlink_to(shutil.which(name) or f"/bin/{name}")
    (bin_dir / "docker").write_text(DOCKER.format(ran=ran))
    (bin_dir / "docker").chmod(0o755)
    board = tmp_path / "board"
    (board / "etc/fleet").mkdir(parents=True)
    (board / "etc/fleet/agent.env").write_text("FLEET_AGENT_ID=pi-01\n")
    (board / "docker.sock").touch()
    if device_tree:
        (board / "devicetree/base").mkdir(parents=True)
        (board / "devicetree/base/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.5\0")
    paths = (f"CONFIG={board}/etc/fleet/agent.env SOCKET={board}/docker.sock "
             f"DEVICE_TREE={board}/devicetree/base HOST_KEY={board}/none "
             f"PASSWORD={board}/none settle=0")
    script = playbooks.script("bootstrap") + f"\n{paths}\nfleet_agent\n"
    done = subprocess.run(["/bin/sh", "-s"], input=script, capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "TMPDIR": str(tmp_path),
                               "FLEET_IMAGE": "fleet-agent:test", "FLEET_BASE": "base",
                               "FLEET_CONFIG": "FLEET_AGENT_ID=pi-01"}, timeout=30,
                          check=False)
    return done, ran.read_text().splitlines() if ran.exists() else []


def test_a_board_with_a_device_tree_has_it_mounted_read_only_where_the_agent_looks(
        tmp_path: Path) -> None:
    done, args = agent_step(tmp_path, device_tree=True)
    assert (done.returncode, done.stdout) == (0, "step agent started agent-container\n")
    mount = f"{tmp_path}/board/devicetree/base:/fleet/device-tree:ro"
    assert args[args.index(mount) - 1] == "--volume"


def test_a_board_without_one_still_starts_the_agent_with_no_such_mount(tmp_path: Path) -> None:
    done, args = agent_step(tmp_path, device_tree=False)
    assert (done.returncode, done.stdout) == (0, "step agent started agent-container\n")
    assert args[:2] == ["run", "--detach"] and args[-1] == "fleet-agent:test"
    assert not any("/fleet/device-tree" in a for a in args)
    assert f"{tmp_path}/board/docker.sock:/var/run/docker.sock" in args
