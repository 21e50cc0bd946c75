"""Root by `sudo -n` for a non-root login; sudo's refusals read into one message."""

from __future__ import annotations

import shlex

import pytest

from fleet.cleanup import board
from fleet.cleanup.rules import Rules
from fleet.deploy import facts
from fleet.errors import SudoError
from fleet.ssh import playbooks, sudo
from fleet.ssh.connection import FakeConnection, Result

PASSWORD = ("pi on pi-01 needs passwordless sudo: add `pi ALL=(ALL) NOPASSWD: ALL` to "
            "/etc/sudoers.d/010_pi-nopasswd (or log in as root)")


def refusing(stderr: bytes, code: int = 1) -> FakeConnection:
    return FakeConnection(lambda command, _: Result(command, code, b"", stderr),
                          device="pi-01", user="pi")


def test_root_runs_a_command_as_it_is() -> None:
    assert sudo.as_root("root", "docker ps") == "docker ps"


def test_another_user_runs_it_through_sudo_without_a_prompt_and_the_command_survives_quoting(
) -> None:
    command = "env A='it'\"'\"'s' sh -s; echo \"$HOME\" `id`"
    wrapped = sudo.as_root("pi", command)
    assert shlex.split(wrapped) == ["sudo", "-n", "sh", "-c", command]


@pytest.mark.parametrize(("stderr", "why"), [
    ("sudo: a password is required", sudo.Refusal.PASSWORD),
    ("sudo: a terminal is required to read the password; either use the -S option to read "
     "from standard input or configure an askpass helper", sudo.Refusal.PASSWORD),
    ("sudo: no tty present and no askpass program specified", sudo.Refusal.PASSWORD),
    ("pi is not in the sudoers file.  This incident will be reported.",
     sudo.Refusal.NOT_ALLOWED),
    ("Sorry, user pi is not allowed to execute '/bin/sh -c true' as root on pi-01.",
     sudo.Refusal.NOT_ALLOWED),
    ("sudo: sorry, you must have a tty to run sudo", sudo.Refusal.TTY),
    ("bash: line 1: sudo: command not found", sudo.Refusal.MISSING),
    ("sh: 1: sudo: not found", sudo.Refusal.MISSING),
    ("sudo: unable to resolve host pi-01: Name or service not known\n"
     "sudo: a password is required", sudo.Refusal.PASSWORD),
    ("docker: permission denied", None),
    ("", None),
])
def test_sudos_own_words_say_why_it_refused(stderr: str, why: sudo.Refusal | None) -> None:
    assert sudo.refused(stderr) is why


def test_each_refusal_names_the_line_to_add_and_where() -> None:
    for why in sudo.Refusal:
        text = sudo.message("pi", "pi-01", why)
        assert text.startswith("pi on pi-01 needs ")
        assert "`pi ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/010_pi-nopasswd" in text
        assert text.endswith("(or log in as root)")
    assert "apt-get install sudo" in sudo.message("pi", "pi-01", sudo.Refusal.MISSING)
    assert "requiretty" in sudo.message("pi", "pi-01", sudo.Refusal.TTY)


def test_a_sudoers_file_is_named_so_sudo_reads_it() -> None:
    # sudo skips /etc/sudoers.d entries whose names hold a dot
    assert sudo.sudoers_file("jane.doe") == "/etc/sudoers.d/010_jane_doe-nopasswd"


def test_run_raises_the_message_when_sudo_wants_a_password() -> None:
    conn = refusing(b"sudo: a password is required\n")
    with pytest.raises(SudoError) as raised:
        sudo.run(conn, "docker ps")
    assert str(raised.value) == PASSWORD
    assert (raised.value.device_id, raised.value.user) == ("pi-01", "pi")


def test_a_commands_own_failure_is_returned_not_raised() -> None:
    result = sudo.run(refusing(b"Cannot connect to the Docker daemon\n"), "docker ps")
    assert result.exit_code == 1 and result.why() == "Cannot connect to the Docker daemon"


def test_root_is_never_told_about_sudo() -> None:
    conn = FakeConnection(lambda c, _: Result(c, 127, b"", b"sh: 1: sudo: not found"),
                          device="pi-01")
    assert sudo.run(conn, "sudo true").exit_code == 127


def test_every_playbook_runs_as_root_for_another_login() -> None:
    conn = FakeConnection(lambda c, _: (0, ""), device="pi-01", user="pi")
    playbooks.run(conn, "scan", {"FLEET_TMP_MINUTES": "60"})
    [(command, stdin)] = conn.calls
    assert shlex.split(command) == ["sudo", "-n", "sh", "-c", "env FLEET_TMP_MINUTES=60 sh -s"]
    assert stdin == playbooks.script("scan").encode()


def test_put_writes_as_root() -> None:
    conn = FakeConnection(lambda c, _: (0, ""), device="pi-01", user="pi")
    conn.put(b"data", "/var/lib/fleet/x")
    assert conn.calls[0][0].startswith("sudo -n sh -c ")


def test_facts_say_what_to_configure_when_sudo_wants_a_password() -> None:
    with pytest.raises(SudoError, match="pi on pi-01 needs passwordless sudo"):
        facts.gather(refusing(b"sudo: a password is required\n"))


def test_a_cleanup_whose_sudo_wants_a_password_is_that_boards_error_and_removes_nothing(
) -> None:
    conn = refusing(b"sudo: a password is required\n")
    result = board.clean(conn, "pi-01", Rules(), apply=True)
    assert not result.ok and result.error == PASSWORD
    assert result.reclaim is None and len(conn.calls) == 1  # the scan, refused: nothing after
