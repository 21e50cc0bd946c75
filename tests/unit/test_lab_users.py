"""A lab device's own /etc: its login user with passwordless sudo, the host's system accounts."""

from __future__ import annotations

from fleet.lab import users
from fleet.lab.spec import LabDevice

HOST_PASSWD = """\
root:x:0:0:root:/root:/bin/bash
sshd:x:102:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/bash
"""
HOST_GROUP = """\
root:x:0:
sudo:x:27:alice
video:x:44:
docker:x:108:alice
alice:x:1000:
nogroup:x:65534:
"""
PI = LabDevice(1, "lab-01", "10.250.0.11", "pi4b-8g")
JETSON = LabDevice(2, "lab-02", "10.250.0.12", "jetson-orin-nano-8g")


def files(device: LabDevice) -> dict[str, users.EtcFile]:
    return {f.path: f for f in users.etc_files(device, HOST_PASSWD, HOST_GROUP)}


def test_a_pi_logs_in_as_pi_and_a_jetson_as_nvidia_uid_1000_with_bash() -> None:
    assert files(PI)["/etc/passwd"].text.splitlines()[-1] == (
        "pi:x:1000:1000:pi,,,:/home/pi:/bin/bash")
    assert "nvidia:x:1000:1000:nvidia,,,:/home/nvidia:/bin/bash" in files(JETSON)[
        "/etc/passwd"].text


def test_the_hosts_system_accounts_stay_and_its_people_do_not() -> None:
    names = [line.split(":")[0] for line in files(PI)["/etc/passwd"].text.splitlines()]
    assert names == ["root", "sshd", "nobody", "pi"]  # sshd's privilege separation user kept


def test_the_user_is_in_sudo_and_not_in_docker_so_docker_needs_sudo() -> None:
    groups = {line.split(":")[0]: line.split(":")[3]
              for line in files(PI)["/etc/group"].text.splitlines()}
    assert groups["sudo"] == "pi" and groups["video"] == "pi"
    assert groups["docker"] == ""  # nor the host's own user
    assert groups["pi"] == "" and "alice" not in groups


def test_no_account_is_locked_for_sshd_and_secrets_are_not_world_readable() -> None:
    found = files(PI)
    assert all(line.split(":")[1] == "*" for line in found["/etc/shadow"].text.splitlines())
    assert found["/etc/shadow"].mode == 0o640 and found["/etc/sudoers"].mode == 0o440


def test_sudo_without_a_password_is_the_one_file_raspberry_pi_os_adds() -> None:
    rule = users.nopasswd_rule(PI)
    assert (rule.path, rule.text, rule.mode) == (
        "/etc/sudoers.d/010_pi-nopasswd", "pi ALL=(ALL) NOPASSWD: ALL\n", 0o440)
    assert "@includedir /etc/sudoers.d" in files(PI)["/etc/sudoers"].text


def test_the_board_names_itself_in_hosts_as_raspberry_pi_os_does() -> None:
    found = files(PI)
    assert "127.0.1.1\tlab-01" in found["/etc/hosts"].text.splitlines()
    assert found["/etc/hostname"].text == "lab-01\n"
