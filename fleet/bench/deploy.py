"""`fleet bench deploy`: one job on an 8-device lab by fleet, pyinfra and ansible-core, timed whole.

The job (fleet.bench.deploy_jobs): a directory, a 1 MB data file of random
bytes and a config file, a check that docker answers, and one container
with a 32 MB memory limit. Each tool runs it as a whole command, a first
run on devices reset to nothing and a second run that should change
nothing; every run's exit code is checked and its effect read back from all
devices over SSH, so no failed run is ever timed. pyinfra runs with its
defaults (one greenlet per host), ansible-core with forks equal to the
number of hosts. All three log in as the board's own user (`pi`) and become
root through its passwordless sudo, as on a real Raspberry Pi OS board: fleet
by itself (`sudo -n`), pyinfra with `_sudo`, ansible with `become: true`; root
may not log in. Each lab device has its users' own homes and an /etc/hosts
naming it (fleet.lab.users), so no host's shell start-up or DNS wait is timed.
The baseline floor, from the same run: 8 OpenSSH logins in parallel, each
running `true` as that user. If `fleet deploy` cannot do the job, fleet's figures are null and
`note` says why; pyinfra and ansible are measured all the same.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from fleet.bench import deploy_jobs as job
from fleet.fanout import fan_out_or_raise
from fleet.lab import device, images, lab
from fleet.lab.spec import LabDevice, LabSpec, login_user
from fleet.ssh.hostkeys import HostKey, KnownHosts

LAB_NAME, LAB_SUBNET = "benchdp", "10.239.0.0/24"
DEVICES = 8
TOOL_TIMEOUT_S = 900.0
T = TypeVar("T")
Times = tuple[float, float]


class BenchRunError(RuntimeError):
    """A tool's run failed or did not do the job: its time would be worthless."""


def run(seed: int = 1) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object; `seed` makes the data file's bytes."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as root:
        spec = LabSpec.create(LAB_NAME, root=Path(root) / LAB_NAME, subnet=LAB_SUBNET)
        try:
            lab.up(spec, DEVICES, agent=False)
            figures = measure(spec, spec.devices(DEVICES), Path(root) / "job", seed)
        finally:
            lab.down(spec)
    return {"benchmark": "deploy", "seed": seed, "deploy": figures,
            "met": all(figures["met"].values())}


@dataclass(frozen=True, slots=True)
class Job:
    """The job's files in `work`, and what the devices must hold after it."""

    work: Path
    data_sha: str
    conf_sha: str


def measure(spec: LabSpec, devices: list[LabDevice], work: Path, seed: int) -> dict[str, Any]:
    """Reset, run and check each tool in turn on a lab that is up; the bench's figures."""
    load_before = os.getloadavg()[0]
    built = write_job(spec, devices, work, seed)
    ssh = Ssh(spec, devices)
    ssh.each(job.WARM_SCRIPT)
    floor = _timed(lambda: ssh.each("true", sudo=False))
    times: dict[str, tuple[float | None, float | None]] = {}
    note = None
    for tool, argv, env in commands(spec, devices, work):
        ssh.reset()
        try:
            times[tool] = _first_and_second(tool, argv, env, built, ssh)
        except BenchRunError as e:
            if tool != "fleet":
                raise
            note = f"fleet's figures are null: {e}"
    ssh.reset()
    figures = job.figures(times, note)
    return {"devices": len(devices), "data_bytes": job.DATA_BYTES,
            "ssh_floor_s": round(floor, 2),
            # The machine may be shared: its load says how much the times are worth.
            "host_load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "pyinfra_version": version("pyinfra"), "ansible_core_version": version("ansible-core"),
            **figures}


def write_job(spec: LabSpec, devices: list[LabDevice], work: Path, seed: int) -> Job:
    """Every tool's files in `work`, and fleet's host key pins (by device id)."""
    work.mkdir(parents=True)
    data = random.Random(seed).randbytes(job.DATA_BYTES)
    stack = work / "stack"
    stack.mkdir()
    for directory in (work, stack):
        (directory / "data.bin").write_bytes(data)
        (directory / "benchjob.conf").write_text(job.CONF_TEXT)
    (stack / job.STACK_FILE).write_text(job.stack_yaml())
    hosts = [(d.ip, login_user(d)) for d in devices]
    data_file, conf_file = work / "data.bin", work / "benchjob.conf"
    (work / "inventory.py").write_text(
        job.pyinfra_inventory(hosts, spec.client_key, spec.known_hosts))
    (work / "deploy.py").write_text(job.pyinfra_deploy(data_file, conf_file))
    (work / "ansible.cfg").write_text(job.ansible_cfg(work))
    (work / "inventory.ini").write_text(
        job.ansible_inventory(hosts, spec.client_key, spec.known_hosts))
    (work / "playbook.yml").write_text(job.ansible_playbook(data_file, conf_file))
    pins = KnownHosts(work / "fleet-known_hosts")
    for d in devices:
        pins.pin(d.id, HostKey.parse(device.host_key(spec, d)))
    return Job(work, sha256(data).hexdigest(), sha256(job.CONF_TEXT.encode()).hexdigest())


def commands(spec: LabSpec, devices: list[LabDevice],
             work: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """(tool, argv, environment) for each tool's whole command, fleet first."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ANSIBLE_", "PYINFRA_")) and k != "FLEET_INVENTORY"}
    fleet_env = {**base, "FLEET_KNOWN_HOSTS": str(work / "fleet-known_hosts"),
                 # fleet's store and config start empty, as on a fresh controller.
                 "XDG_STATE_HOME": str(work / "fleet-state"),
                 "XDG_CONFIG_HOME": str(work / "fleet-config"),
                 # No registry: fleet reads the image from the archive the lab loaded.
                 "FLEET_IMAGES": str(images.ensure(images.WORKLOAD))}
    return [
        ("fleet", [_tool("fleet"), "--inventory", str(spec.inventory), "deploy",
                   str(work / "stack" / job.STACK_FILE), "--json"], fleet_env),
        # -y: run without the interactive confirmation (there is no one to answer it).
        ("pyinfra", [_tool("pyinfra"), "-y", "inventory.py", "deploy.py"], base),
        ("ansible", [_tool("ansible-playbook"), "-i", "inventory.ini", "-f", str(len(devices)),
                     "playbook.yml"], {**base, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}),
    ]


def _first_and_second(tool: str, argv: list[str], env: dict[str, str], built: Job,
                      ssh: Ssh) -> Times:
    first = _timed_command(tool, "first", argv, env, built.work)
    after_first = ssh.states()
    _require(tool, "first", {d: job.first_run_problems(s, built.data_sha, built.conf_sha)
                             for d, s in after_first.items()})
    second = _timed_command(tool, "second", argv, env, built.work)
    _require(tool, "second", {
        d: job.second_run_problems(after_first[d], s, built.data_sha, built.conf_sha)
        for d, s in ssh.states().items()})
    return first, second


def _timed_command(tool: str, which: str, argv: list[str], env: dict[str, str],
                   cwd: Path) -> float:
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchRunError(f"{tool}'s {which} run: {e}") from e
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise BenchRunError(f"{tool}'s {which} run exited {proc.returncode}: {said}")
    return elapsed


def _require(tool: str, which: str, problems: dict[str, list[str]]) -> None:
    found = [f"{d}: {p}" for d, ps in problems.items() for p in ps]
    if found:
        raise BenchRunError(f"after {tool}'s {which} run: " + "; ".join(found[:4])
                            + (f" (and {len(found) - 4} more)" if len(found) > 4 else ""))


class Ssh:
    """OpenSSH to the lab's devices as their users, all at once, checked against the lab's
    host keys; scripts run as root through sudo, unless told not to."""

    def __init__(self, spec: LabSpec, devices: list[LabDevice]) -> None:
        self.devices = devices
        self.options = ["-F", "/dev/null", "-i", str(spec.client_key), "-o", "IdentitiesOnly=yes",
                        "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={spec.known_hosts}",
                        "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10"]

    def run(self, d: LabDevice, script: str, *, sudo: bool = True) -> str:
        shell = ["sudo", "-n", "sh", "-s"] if sudo else ["sh", "-s"]
        proc = subprocess.run(["ssh", *self.options, f"{login_user(d)}@{d.ip}", *shell],
                              input=script, capture_output=True, text=True, timeout=120,
                              check=False)
        if proc.returncode != 0:
            raise BenchRunError(f"{d.id}: `{script.splitlines()[-1]}` exited "
                                f"{proc.returncode}: {proc.stderr.strip()[-300:]}")
        return proc.stdout

    def each(self, script: str, *, sudo: bool = True) -> dict[str, str]:
        return dict(zip((d.id for d in self.devices),
                        fan_out_or_raise(self.devices, lambda d: self.run(d, script, sudo=sudo),
                                         parallel=len(self.devices)), strict=True))

    def states(self) -> dict[str, job.DeviceState]:
        return {d: job.parse_state(text) for d, text in self.each(job.STATE_SCRIPT).items()}

    def reset(self) -> None:
        """Remove what any tool's job left, and check it is gone: the next run is a first."""
        self.each(job.RESET_SCRIPT)
        left = [d for d, s in self.states().items() if s.files or s.dirs or s.containers]
        if left:
            raise BenchRunError(f"the reset left the job's files or container on {left}")


def _tool(name: str) -> str:
    """The console script beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name



def _timed(work: Callable[[], object]) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


__all__ = ["run"]
