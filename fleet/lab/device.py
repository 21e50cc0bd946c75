"""One simulated board: its namespaces, its dockerd and its sshd, brought up and torn down."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

from fleet import profiles
from fleet.errors import LabError
from fleet.lab import firmware, users
from fleet.lab import spec as lab
from fleet.lab.host import kill, pids_mentioning, run, spawn, terminate, which
from fleet.lab.spec import LabDevice, LabSpec

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_AVAHI_ETC = "/etc/avahi"
_SSH_ETC = "/etc/ssh"
# In the device's own /run, which the binds come after.
_LAB_STASH, _CARD_STASH = "/run/fleet-lab", "/run/fleet-card"
_HOST_KEY = "ssh_host_ed25519_key"
_HOST_KEY_PUB = f"{_HOST_KEY}.pub"


def create(spec: LabSpec, device: LabDevice, *, root_login: bool = False) -> None:
    """Make the device's namespaces, address, host name, private directories and /etc, users,
    and what it says it is (fleet.lab.firmware: its device tree, L4T release and RAM).

    Its login user (`fleet.lab.spec.login_user`) and, if `root_login`, root log in
    with the lab's client key."""
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
    # A private dir the lab itself lies under (a lab in /tmp, as the tests make) is bound
    # last, from a stash of the card taken first, and the lab bound back into it: else the
    # card would hide the lab's own files from the device.
    covering = []
    for target in lab.DEVICE_PRIVATE_DIRS:
        source = d / "root" / target.lstrip("/")
        source.mkdir(parents=True, exist_ok=True)
        if target in lab.DEVICE_SHARED_TMP:
            source.chmod(0o1777)
        if spec.root.is_relative_to(target):
            stashed = Path(_CARD_STASH) / target.lstrip("/")
            covering.append(f"mkdir -p {target} && mount --bind {stashed} {target}")
        else:
            binds.append(f"mkdir -p {target} && mount --bind {source} {target}")
    if device.bare:
        # Its own /etc/avahi: its configuration, no static hosts and no services,
        # whatever the host's /etc/avahi holds (avahi-daemon reads both from there).
        (d / "avahi" / "services").mkdir(parents=True, exist_ok=True)
        (d / "avahi" / "hosts").write_text("")
        (d / "avahi" / "avahi-daemon.conf").write_text(lab.avahi_config(device))
        binds.append(f"mount --bind {d / 'avahi'} {_AVAHI_ETC}")
    binds += [f"mount --bind {source} {target}" for source, target in users.write_etc(spec, device)]
    # Its own /etc/ssh holds its host keys where a board's are, for whatever looks there
    # (an agent that `fleet enroll` starts mounts the public key from it).
    spec.ssh_dir(device).mkdir(exist_ok=True)
    binds.append(f"mount --bind {spec.ssh_dir(device)} {_SSH_ETC}")
    if covering:
        binds += [f"mkdir -p {_CARD_STASH} && mount --bind {d / 'root'} {_CARD_STASH}",
                  f"mkdir -p {_LAB_STASH} && mount --bind {spec.root} {_LAB_STASH}", *covering,
                  f"mkdir -p {spec.root} && mount --bind {_LAB_STASH} {spec.root}"]
    # A fresh /run gives the device its own docker.sock, containerd and sshd dirs; what it
    # says it is (its /etc layer among it) comes first, while the lab's files are in sight.
    script = " && ".join([*firmware.write(spec, device),
                          "mount -t tmpfs -o mode=755 tmpfs /run", "mkdir -p /run/sshd", *binds])
    shell(spec, device, script)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", device.id,
         "-f", str(spec.ssh_dir(device) / _HOST_KEY)])
    (d / "sshd_config").write_text(lab.sshd_config(spec, device, root_login=root_login))
    users.write_homes(spec, device)


def _storage(spec: LabSpec, device: LabDevice) -> None:
    """The device's card: an ext4 of its profile's root filesystem size (or `card_mb`).

    It holds every directory private to the device, so a device that fills its
    card is really full, and its agent's statvfs sees its own card. The image
    file is sparse: it takes only what is written to it.
    """
    image = spec.device_dir(device) / "storage.ext4"
    card = spec.device_dir(device) / "root"
    card.mkdir(parents=True, exist_ok=True)
    with image.open("wb") as f:
        f.truncate((device.card_mb or profiles.get(device.profile).storage_mb) << 20)
    run(["mkfs.ext4", "-q", "-F", "-m", "0",
         "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", str(image)])
    run(["mount", "-o", "loop", str(image), str(card)])


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
        # The lab's registry speaks plain HTTP on the bridge (fleet.lab.registry).
        "--insecure-registry", spec.registry,
    ])
    _sshd(spec, device)
    if device.bare:
        # As root, unchrooted and without D-Bus: the device's /etc/avahi has no
        # chroot set up, and the lab runs no system bus.
        _spawn(spec, device, d / "avahi.log", [
            "avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits",
            "--no-proc-title", "-f", str(d / "avahi" / "avahi-daemon.conf"),
        ])


def _sshd(spec: LabSpec, device: LabDevice, *, orphan: bool = False) -> None:
    d = spec.device_dir(device)
    _spawn(spec, device, d / "sshd.log", [
        which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config"),
    ], orphan=orphan)


def wait_ready(spec: LabSpec, device: LabDevice, timeout: float = 60) -> None:
    """Block until the device's sshd answers and its engine serves its API.

    A bare device must also have its host name on mDNS: avahi-daemon says so
    once its probes found no other holder of the name.
    """
    deadline = time.monotonic() + timeout
    while not (ssh_banner(device.ip) and docker_ping(spec.docker_socket(device))
               and (not device.bare or mdns_published(spec, device))):
        if time.monotonic() > deadline:
            d = spec.device_dir(device)
            logs = [d / "dockerd.log", d / "sshd.log", *([d / "avahi.log"] if device.bare else [])]
            raise LabError(f"{device.id}: not ready after {timeout:.0f}s; "
                           f"see {', '.join(map(str, logs))}")
        time.sleep(0.2)


def mdns_published(spec: LabSpec, device: LabDevice) -> bool:
    """True once a bare device's avahi-daemon has established its own host name."""
    try:
        log = (spec.device_dir(device) / "avahi.log").read_text(errors="replace")
    except OSError:
        return False
    return f"Server startup complete. Host name is {device.id}.local." in log


def host_key(spec: LabSpec, device: LabDevice) -> str:
    """The device's sshd host key as `type base64`, the way known_hosts lists it."""
    key_type, blob, *_ = (spec.ssh_dir(device) / _HOST_KEY_PUB).read_text().split()
    return f"{key_type} {blob}"


def rekey_ssh(spec: LabSpec, device: LabDevice, timeout: float = 30) -> str:
    """Give the device a new sshd host key, as a reinstalled board has; return it (`host_key`).

    The key files are rewritten in place rather than replaced, so that the
    agent's read-only bind mount of the public key (a mount of the file, not
    of its name) shows the new one; the agent reads it when it next starts.
    """
    d = spec.ssh_dir(device)
    with tempfile.TemporaryDirectory(dir=spec.device_dir(device)) as tmp:
        new = Path(tmp) / "key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", device.id, "-f", str(new)])
        (d / _HOST_KEY).write_bytes(new.read_bytes())
        (d / _HOST_KEY_PUB).write_bytes(new.with_suffix(".pub").read_bytes())
    restart_sshd(spec, device, timeout)
    return host_key(spec, device)


def restart_sshd(spec: LabSpec, device: LabDevice, timeout: float = 30) -> None:
    """Restart the device's sshd alone, on the host key its files hold now; wait until it answers.

    The lab's own known_hosts follows that key, so that `lab status` still
    logs in: noticing a changed key is fleet's job, not the lab's.
    """
    terminate(_sshd_pids(spec, device))
    # Not a child of this process (a test's, say), which would keep it as a zombie
    # once `lab down`, from another process, ends it.
    _sshd(spec, device, orphan=True)
    deadline = time.monotonic() + timeout
    while not ssh_banner(device.ip):
        if time.monotonic() > deadline:
            log = spec.device_dir(device) / "sshd.log"
            raise LabError(f"{device.id}: sshd not answering {timeout:.0f}s after a restart; "
                           f"see {log}")
        time.sleep(0.1)
    if spec.known_hosts.exists():
        line = f"{device.ip} {host_key(spec, device)}\n"
        spec.known_hosts.write_text("".join(
            line if old.startswith(f"{device.ip} ") else old
            for old in spec.known_hosts.read_text().splitlines(keepends=True)))


def _sshd_pids(spec: LabSpec, device: LabDevice) -> list[int]:
    """The device's listening sshd: the one whose command line names its config.

    Its sessions' processes retitle themselves (`sshd: root@notty`), so they
    are not among them and live on, as they do when a board's sshd restarts.
    """
    config = f" -f {spec.device_dir(device) / 'sshd_config'}"
    return [pid for pid in pids_mentioning(config) if pid in _netns_pids(spec.netns(device))]


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
    if Path("/run/netns", netns).exists():
        # The engine before its containers: it would restart a killed one (restart
        # policy) and, stopping, wait seconds on it, its containerd already gone.
        kill([p for p in _netns_pids(netns) if _command(p) == "dockerd"], signal.SIGKILL)
    kill(_cgroup_pids(spec.cgroup(device)), signal.SIGKILL)  # containers next: no stop timeouts
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


def shell(spec: LabSpec, device: LabDevice, script: str, timeout: float = 300) -> str:
    """Run sh `script` on the device as root, as its sshd would; its output."""
    return run(_enter(spec, device, ["sh", "-c", script]), timeout=timeout)


def _enter(spec: LabSpec, device: LabDevice, command: list[str]) -> list[str]:
    """`command` run inside the device's network, mount and UTS namespaces."""
    mnt, uts = _ns_files(spec, device)
    # Not `ip netns exec`: it remounts /sys and dockerd then finds no devices cgroup.
    return ["nsenter", f"--net=/run/netns/{spec.netns(device)}", f"--mount={mnt}",
            f"--uts={uts}", "--", *command]


def _spawn(spec: LabSpec, device: LabDevice, log: Path, command: list[str], *,
           orphan: bool = False) -> None:
    """Start a daemon in the device, output to `log`; it outlives this process.

    An orphan is started through `setsid --fork`, whose own process exits at
    once and is reaped here: the daemon's parent is then init, not this process.
    """
    if orphan:
        os.waitpid(spawn(["setsid", "--fork", *_enter(spec, device, command)], log), 0)
    else:
        spawn(_enter(spec, device, command), log)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


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
