"""One simulated board: its namespaces, its dockerd and its sshd, brought up and torn down."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from fleet import profiles
from fleet.errors import LabError
from fleet.lab import spec as lab
from fleet.lab.host import kill, run, spawn, terminate, which
from fleet.lab.spec import LabDevice, LabSpec

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def create(spec: LabSpec, device: LabDevice) -> None:
    """Make the device's namespaces, address, host name and private directories."""
    netns, veth = spec.netns(device), spec.veth(device)
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "link", "set", veth, "master", spec.bridge, "up"])
    prefix = spec.subnet.prefixlen
    for args in (["addr", "add", f"{device.ip}/{prefix}", "dev", "eth0"],
                 ["link", "set", "eth0", "up"], ["link", "set", "lo", "up"],
                 ["route", "add", "default", "via", spec.bridge_ip]):
        run(["ip", "-n", netns, *args])

    d = spec.device_dir(device)
    d.mkdir(parents=True, exist_ok=True)
    mnt, uts = _ns_files(spec, device)
    mnt.touch()
    uts.touch()
    _storage(spec, device)  # before the mount namespace copies the host's mounts
    # Persistent mount and UTS namespaces, bound to files like `ip netns` does.
    run(["unshare", f"--mount={mnt}", f"--uts={uts}", "--propagation", "private",
         "hostname", device.id])
    binds = []
    for target in lab.DEVICE_PRIVATE_DIRS:
        source = d / "root" / target.lstrip("/")
        source.mkdir(parents=True, exist_ok=True)
        binds.append(f"mkdir -p {target} && mount --bind {source} {target}")
    # A fresh /run gives the device its own docker.sock, containerd and sshd dirs.
    script = " && ".join(["mount -t tmpfs -o mode=755 tmpfs /run", "mkdir -p /run/sshd", *binds])
    run(_enter(spec, device, ["sh", "-c", script]))
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", device.id,
         "-f", str(d / "ssh_host_ed25519_key")])
    (d / "sshd_config").write_text(lab.sshd_config(spec, device))


def _storage(spec: LabSpec, device: LabDevice) -> None:
    """The device's card: an ext4 of its profile's root filesystem size, under its engine's data.

    The image file is sparse, so it takes only what is written to it; a device
    that fills it is really full, and its agent's statvfs sees its own card.
    """
    image = spec.device_dir(device) / "storage.ext4"
    data = spec.device_dir(device) / "root" / lab.DEVICE_PRIVATE_DIRS[0].lstrip("/")
    data.mkdir(parents=True, exist_ok=True)
    with image.open("wb") as f:
        f.truncate(profiles.get(device.profile).storage_mb << 20)
    run(["mkfs.ext4", "-q", "-F", "-m", "0",
         "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", str(image)])
    run(["mount", "-o", "loop", str(image), str(data)])


def memory_cgroup(spec: LabSpec, device: LabDevice) -> Path:
    """The device's memory cgroup, as `start` linked it from the device's directory."""
    return (spec.device_dir(device) / "memory-cgroup").resolve()


def _new_memory_cgroup(spec: LabSpec, device: LabDevice) -> Path:
    """Where the device's dockerd will put every container: made now, to set its limit.

    A relative --cgroup-parent is taken relative to dockerd's own cgroup, which
    is the one this process runs in, since dockerd is its child.
    """
    own = dict(line.split(":", 2)[1:] for line in
               Path("/proc/self/cgroup").read_text().splitlines())
    if "memory" in own:  # v1
        return _CGROUP_ROOT / "memory" / own["memory"].lstrip("/") / spec.cgroup(device)
    return _CGROUP_ROOT / own[""].lstrip("/") / spec.cgroup(device)


def start(spec: LabSpec, device: LabDevice) -> None:
    """Start the device's dockerd and sshd, in its namespaces; cap its memory at its profile's."""
    d = spec.device_dir(device)
    memory = _new_memory_cgroup(spec, device)
    memory.mkdir(exist_ok=True)
    (d / "memory-cgroup").symlink_to(memory)
    ram = str(profiles.get(device.profile).total.mem_mb << 20)
    limit = memory / "memory.limit_in_bytes"
    (limit if limit.exists() else memory / "memory.max").write_text(ram)
    _spawn(spec, device, d / "dockerd.log", [
        "dockerd", "--host", "unix:///run/docker.sock",
        "--host", f"unix://{spec.docker_socket(device)}",
        "--cgroup-parent", spec.cgroup(device),
    ])
    _spawn(spec, device, d / "sshd.log", [
        which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config"),
    ])


def wait_ready(spec: LabSpec, device: LabDevice, timeout: float = 60) -> None:
    """Block until the device's sshd answers and its engine serves its API."""
    deadline = time.monotonic() + timeout
    while not (ssh_banner(device.ip) and docker_ping(spec.docker_socket(device))):
        if time.monotonic() > deadline:
            log = spec.device_dir(device) / "dockerd.log"
            raise LabError(
                f"{device.id}: sshd or dockerd not ready after {timeout:.0f}s; see {log}")
        time.sleep(0.2)


def ssh_banner(ip: str, port: int = 22, timeout: float = 2) -> bool:
    """True if an SSH server greets on ip:port."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def docker_ping(sock: Path, timeout: float = 2) -> bool:
    """True if a Docker engine answers _ping on the Unix socket `sock`."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in s.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False


def destroy(spec: LabSpec, device: LabDevice) -> None:
    """Stop everything the device runs and remove its namespaces. Safe to repeat."""
    netns = spec.netns(device)
    kill(_cgroup_pids(spec.cgroup(device)), signal.SIGKILL)  # containers first: no stop timeouts
    if Path("/run/netns", netns).exists():
        terminate(_netns_pids(netns))
        run(["ip", "netns", "del", netns], check=False)
    kill(_cgroup_pids(spec.cgroup(device)), signal.SIGKILL)
    _remove_cgroups(spec.cgroup(device))
    for ns_file in _ns_files(spec, device):
        if ns_file.exists():
            run(["umount", str(ns_file)], check=False)
    run(["ip", "link", "del", spec.veth(device)], check=False)


def _ns_files(spec: LabSpec, device: LabDevice) -> tuple[Path, Path]:
    return spec.ns_dir / f"{device.id}.mnt", spec.ns_dir / f"{device.id}.uts"


def _enter(spec: LabSpec, device: LabDevice, command: list[str]) -> list[str]:
    """`command` run inside the device's network, mount and UTS namespaces."""
    mnt, uts = _ns_files(spec, device)
    # Not `ip netns exec`: it remounts /sys and dockerd then finds no devices cgroup.
    return ["nsenter", f"--net=/run/netns/{spec.netns(device)}", f"--mount={mnt}",
            f"--uts={uts}", "--", *command]


def _spawn(spec: LabSpec, device: LabDevice, log: Path, command: list[str]) -> None:
    """Start a daemon in the device, output to `log`; it outlives this process."""
    spawn(_enter(spec, device, command), log)


def _netns_pids(netns: str) -> list[int]:
    return [int(p) for p in run(["ip", "netns", "pids", netns], check=False).split()]


def _cgroup_dirs(name: str) -> list[Path]:
    """Every cgroup directory called `name`, in every v1 controller and v2, deepest first."""
    found = []
    for top, dirs, _ in os.walk(_CGROUP_ROOT):
        if name in dirs:
            found += [Path(t) for t, _, _ in os.walk(Path(top) / name)]
            dirs.remove(name)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _cgroup_pids(name: str) -> list[int]:
    pids: set[int] = set()
    for d in _cgroup_dirs(name):
        try:
            pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return sorted(pids)


def _remove_cgroups(name: str) -> None:
    for d in _cgroup_dirs(name):
        with contextlib.suppress(OSError):
            d.rmdir()
