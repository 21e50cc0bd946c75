"""The host side of the lab: running system commands and checking what is installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fleet.errors import LabError, MissingPackagesError

# Every command the lab runs, with the Debian package that provides it.
REQUIRED = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
    "mkfs.ext4": "e2fsprogs",
    "dockerd": "docker.io",
    "containerd": "containerd",
    "iptables": "iptables",
    "sshd": "openssh-server",
    "sudo": "sudo",  # the devices' users become root with it, as on a real board
    "ssh-keygen": "openssh-client",
    "mosquitto": "mosquitto",
    "docker-registry": "docker-registry",  # the lab's registry (fleet.lab.registry)
    "busybox": "busybox-static",
    "debootstrap": "debootstrap",
    "tar": "tar",
}
# What bare boards need besides: the mDNS responder of stock Raspberry Pi OS.
BARE_REQUIRED = {"avahi-daemon": "avahi-daemon"}
_SBIN = ("/usr/sbin", "/sbin")


def which(command: str) -> str | None:
    """Find a command on PATH or in sbin, which a non-login root shell may lack."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN)
    return shutil.which(command, path=path)


def preflight(find: Callable[[str], str | None] = which,
              euid: Callable[[], int] = os.geteuid, *,
              commands: Mapping[str, str] = REQUIRED) -> None:
    """Fail with one line if not root or one of `commands` (name: package) is missing."""
    if euid() != 0:
        raise LabError("the fleet lab needs root (network namespaces, bridges, dockerd): "
                       "run it with sudo")
    missing = [c for c in commands if find(c) is None]
    if missing:
        raise MissingPackagesError(missing, (commands[c] for c in missing))


def run(args: Sequence[str], *, check: bool = True, timeout: float = 120) -> str:
    """Run a command to completion; a failure raises LabError with its stderr."""
    exe = which(args[0]) or args[0]
    try:
        done = subprocess.run([exe, *args[1:]], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LabError(f"{' '.join(args)}: {e}") from e
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"{' '.join(args)}: {detail[-1] if detail else f'exit {done.returncode}'}")
    return done.stdout


def spawn(args: list[str], log: Path) -> int:
    """Start a daemon in its own session with output to `log`; return its pid."""
    # posix_spawn rather than Popen: the daemon is meant to outlive the Popen
    # object, which would otherwise warn that it is still running.
    exe = which(args[0]) or args[0]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(exe, [exe, *args[1:]], dict(os.environ), file_actions=actions,
                          setsid=True)


def kill(pids: list[int], sig: signal.Signals) -> None:
    """Signal each pid; ones already gone are skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(pids: list[int], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after `grace` seconds."""
    kill(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (living := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill(living, signal.SIGKILL)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not count)."""
    with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead to us; its parent reaps it
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains `text` (this process excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                        errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
