"""A lab device's users, as a real board's: who logs in, with what sudo, in which /etc files.

The files' text is made (pure) from the host's own system accounts (the ones its
packages, sshd's privilege separation user among them, need); `write_etc` writes
them in the device's directory, and fleet.lab.device binds them over /etc in the
device's own mount namespace, so the host's /etc is never edited.

Its login user (`fleet.lab.spec.login_user`) has uid 1000, is in the `sudo` group
and has passwordless sudo in /etc/sudoers.d, as Raspberry Pi OS sets up `pi`; it is
not in the `docker` group, so everything fleet does with docker goes through sudo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fleet.lab.spec import LabDevice, LabSpec, login_user
from fleet.ssh import sudo

LOGIN_ID = 1000  # the first user's uid and gid, on both
# The groups Raspberry Pi OS gives its first user, those the host defines.
LOGIN_GROUPS = ("adm", "dialout", "cdrom", "sudo", "audio", "video", "plugdev", "games",
                "users", "input", "render", "netdev", "gpio", "i2c", "spi")
_SYSTEM_IDS = range(0, 1000)
_NOBODY = 65534
SUDOERS = """\
# The lab board's sudoers, as Debian ships it.
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults\tuse_pty
root\tALL=(ALL:ALL) ALL
%sudo\tALL=(ALL:ALL) ALL
@includedir /etc/sudoers.d
"""


@dataclass(frozen=True, slots=True)
class EtcFile:
    """One of the device's own files in /etc: its path there, its text and mode."""

    path: str
    text: str
    mode: int = 0o644

    @property
    def name(self) -> str:
        """Its file name in the device's directory of /etc files."""
        return self.path.removeprefix("/etc/").replace("/", "_")


def home(user: str) -> str:
    return f"/home/{user}"


def _system(lines: str) -> list[list[str]]:
    """The host's system entries (ids below 1000, and nobody) of a passwd or group file."""
    entries = [line.split(":") for line in lines.splitlines() if line.count(":") >= 3]
    return [e for e in entries if e[2].isdigit()
            and (int(e[2]) in _SYSTEM_IDS or int(e[2]) == _NOBODY)]


def etc_files(device: LabDevice, host_passwd: str, host_group: str) -> tuple[EtcFile, ...]:
    """The device's passwd, group, shadow, gshadow, sudoers, hosts and hostname.

    Its login user's sudo needs no password; `nopasswd_rule` is that one file,
    which `fleet.lab.device.sudo_password` removes to make sudo ask for one.
    """
    user = login_user(device)
    passwd = [e for e in _system(host_passwd) if e[0] != user]
    passwd.append([user, "x", str(LOGIN_ID), str(LOGIN_ID), f"{user},,,", home(user),
                   "/bin/bash"])
    groups = [[*e[:3], user if e[0] in LOGIN_GROUPS else ""] for e in _system(host_group)
              if e[0] != user]
    groups.append([user, "x", str(LOGIN_ID), ""])
    # `*`: no password login, but not locked (`!`), which sshd would refuse even a key for.
    shadow = [f"{e[0]}:*:19700:0:99999:7:::" for e in passwd]
    gshadow = [f"{e[0]}:*::{e[3]}" for e in groups]
    return (
        EtcFile("/etc/passwd", _lines(":".join(e) for e in passwd)),
        EtcFile("/etc/group", _lines(":".join(e) for e in groups)),
        EtcFile("/etc/shadow", _lines(shadow), 0o640),
        EtcFile("/etc/gshadow", _lines(gshadow), 0o640),
        EtcFile("/etc/sudoers", SUDOERS, 0o440),
        EtcFile("/etc/hosts", hosts(device)),
        EtcFile("/etc/hostname", f"{device.id}\n"),
    )


def nopasswd_rule(device: LabDevice) -> EtcFile:
    """The login user's passwordless sudo, where Raspberry Pi OS puts it."""
    user = login_user(device)
    return EtcFile(sudo.sudoers_file(user), f"{sudo.rule(user)}\n", 0o440)


def hosts(device: LabDevice) -> str:
    """/etc/hosts as Raspberry Pi OS writes it: the board's own name on 127.0.1.1."""
    return ("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n"
            f"127.0.1.1\t{device.id}\n")


def _lines(lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


# -- IO: the files in the device's directory and on its card ------------------------------

def write_etc(spec: LabSpec, device: LabDevice) -> list[tuple[Path, str]]:
    """Write the device's own /etc files; what to bind where, in its mount namespace."""
    etc = spec.device_dir(device) / "etc"
    sudoers_d = etc / "sudoers.d"
    sudoers_d.mkdir(parents=True, exist_ok=True)
    found = etc_files(device, Path("/etc/passwd").read_text(),
                            Path("/etc/group").read_text())
    for f in found:
        _write(etc / f.name, f.text, f.mode)
    sudo_password(spec, device, False)
    return [(etc / f.name, f.path) for f in found] + [(sudoers_d, "/etc/sudoers.d")]


def sudo_password(spec: LabSpec, device: LabDevice, wanted: bool) -> None:
    """Make the device's sudo want its login user's password, or not (the lab's default).

    It is the one file Raspberry Pi OS adds for `pi`, in the device's own
    /etc/sudoers.d: removed, sudo asks for a password as it does for any user of
    the `sudo` group."""
    rule = nopasswd_rule(device)
    path = spec.device_dir(device) / "etc" / "sudoers.d" / Path(rule.path).name
    if wanted:
        path.unlink(missing_ok=True)
    else:
        _write(path, rule.text, rule.mode)


def write_homes(spec: LabSpec, device: LabDevice) -> None:
    """The login user's home and root's, on the device's card, each with the lab's key."""
    key = spec.client_key.with_suffix(".pub").read_text()
    card = spec.device_dir(device) / "root"
    user = login_user(device)
    for directory, owner in ((home(user), LOGIN_ID), ("/root", 0)):
        ssh = card / directory.lstrip("/") / ".ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(ssh / "authorized_keys", key, 0o600)
        for path in (ssh.parent, ssh, ssh / "authorized_keys"):
            os.chown(path, owner, owner)
        ssh.parent.chmod(0o700)


def _write(path: Path, text: str, mode: int) -> None:
    """Write a file owned by root with `mode`, never readable by others on the way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
