"""Helpers for tests that run a real lab: the CLI as a subprocess, ssh, leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from fleet.lab import images
from fleet.lab.host import pids_mentioning
from fleet.lab.spec import LabDevice, LabSpec, login_user
from fleet.ssh import sudo
from fleet.ssh.hostkeys import HostKey, KnownHosts


@dataclass
class Lab:
    """A lab brought up through the CLI, as a user would."""

    name: str
    subnet: str
    root: Path

    @property
    def spec(self) -> LabSpec:
        return LabSpec.create(self.name, root=self.root, subnet=self.subnet)

    def fleet(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FLEET_LAB_DIR": str(self.root.parent)}
        if args[:2] == ("lab", "up"):
            args = (*args, "--subnet", self.subnet)
        if args[0] == "lab":
            args = (*args, "--lab", self.name)
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args],
            capture_output=True, text=True, env=env, timeout=900, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"fleet {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def deploy(self, stack: Path, work: Path, *args: str, known_hosts: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
        """`fleet deploy STACK --json` on this lab as a user runs it, with the images, the
        pinned keys and the store under `work` (the keys where `known_hosts` says)."""
        return subprocess.run(
            [sys.executable, "-m", "fleet", "--inventory", str(self.spec.inventory), "deploy",
             str(stack), "--json", "--images", str(work / "images"),
             "--known-hosts", str(known_hosts or work / "known_hosts"),
             "--store", str(work / "fleet.db"), *args],
            capture_output=True, text=True, timeout=600, check=False)

    def deployed(self, stack: Path, work: Path, *args: str, ok: bool = True) -> dict[str, Any]:
        """`deploy`'s JSON, its exit code asserted: 0, or, with `ok=False`, not 0."""
        done = self.deploy(stack, work, *args)
        assert (done.returncode == 0) is ok, f"{done.stdout}\n{done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.fleet("lab", "status", "--json").stdout)
        return result

    def pin(self, known_hosts: Path, *device_ids: str) -> KnownHosts:
        """Pin each device's sshd host key in `known_hosts`, as read from its console."""
        known = KnownHosts(known_hosts)
        for device_id in device_ids:
            pub = self.spec.ssh_dir(LabDevice(0, device_id, "", "")) / "ssh_host_ed25519_key.pub"
            known.pin(device_id, HostKey.parse(pub.read_text()))
        return known

    def device(self, ip: str) -> LabDevice:
        """The lab's device at `ip`, as `fleet lab up` recorded it."""
        state = json.loads(self.spec.state_file.read_text())
        return next(LabDevice(**d) for d in state["devices"] if d["ip"] == ip)

    def ssh(self, ip: str, command: str, *, root: bool = True,
            user: str | None = None) -> tuple[int, str]:
        """Run `command` on a device over real SSH, checking its pinned host key: logged in
        as its user (or `user`) and, if `root`, as root through `sudo -n`, as fleet does."""
        login = user or login_user(self.device(ip))
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.spec.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(ip, username=login, key_filename=str(self.spec.client_key),
                       allow_agent=False, look_for_keys=False, timeout=10)
        command = sudo.as_root(login, command) if root else command
        try:
            _, stdout, stderr = client.exec_command(command, timeout=120)
            output = stdout.read().decode() + stderr.read().decode()
            return stdout.channel.recv_exit_status(), output
        finally:
            client.close()


@contextmanager
def lab_up(name: str, subnet: str, root: Path, *up_args: str) -> Iterator[Lab]:
    """A lab brought up with `fleet lab up UP_ARGS`, taken down after, leaving nothing."""
    lab = Lab(name, subnet, root)
    lab.fleet("lab", "down")  # what a run killed before its teardown left
    try:
        lab.fleet("lab", "up", *up_args)
        yield lab
    finally:  # also when `up` says a device is unhealthy: it has left the lab up
        lab.fleet("lab", "down")
    assert leftovers(lab) == []


def leftovers(lab: Lab) -> list[str]:
    """Everything of `lab` still on the host: should be empty after `fleet lab down`."""
    spec = lab.spec
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {n}" for n in netns.split() if n.startswith(f"fleet-{lab.name}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if line.split(":")[1].strip().startswith(f"fl{lab.name}-")]
    found += [f"process {pid}" for pid in pids_mentioning(str(spec.root) + "/")]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").rglob(f"fleet-{lab.name}-*")]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines()
              if line.split()[4].startswith(str(spec.root))]
    if spec.root.exists():
        found.append(f"directory {spec.root}")
    return found


def app_images(work: Path, pages: Mapping[int, bytes]) -> Path:
    """docker-archives of `fleet/app:N` in work/images: the lab's busybox layer (on every
    board already) and a layer of its own holding pages[N] as /www/index.html, served by
    httpd on port 8080. Returns the busybox layer's tar, for more images on it."""
    (work / "images").mkdir(exist_ok=True)
    base = work / "base.tar"
    images.busybox_layer(base)
    for version, page in pages.items():
        layer = work / f"app{version}.tar"
        with tarfile.open(layer, "w") as tar:
            path = work / f"index{version}.html"
            path.write_bytes(page)
            tar.add(path, arcname="www/index.html")
        images.write_archive(work / "images" / f"app{version}.tar", [base, layer],
                             tag=f"fleet/app:{version}", arch=images.HOST_ARCH,
                             cmd=("httpd", "-f", "-p", "8080", "-h", "/www"))
    return base
