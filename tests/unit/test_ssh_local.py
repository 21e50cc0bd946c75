"""ansible_connection: local: the controller runs a board's commands itself, as over SSH."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fleet.errors import SshConnectError, SshError
from fleet.model import SshTarget
from fleet.ssh import playbooks
from fleet.ssh.hostkeys import KnownHosts
from fleet.ssh.local import LocalConnection, connect
from tests.kit import device


def test_a_command_gets_its_stdin_and_gives_its_output_and_exit_code() -> None:
    conn = LocalConnection("gateway")
    result = conn.run("tr a-z A-Z; echo oops >&2; exit 3", stdin=b"hello\n")
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"HELLO\n", b"oops\n")
    assert result.why() == "oops"


def test_a_stream_is_fed_in_chunks_and_counted() -> None:
    counted: list[int] = []
    data = b"x" * (600 * 1024)
    result = LocalConnection("gateway").run("wc -c", stdin=io.BytesIO(data), sent=counted.append)
    assert result.text.strip() == str(len(data))
    assert sum(counted) == len(data) and len(counted) == 3


def test_a_command_that_stops_reading_early_still_gives_its_exit_code() -> None:
    result = LocalConnection("gateway").run("exit 7", stdin=io.BytesIO(b"y" * 4_000_000))
    assert result.exit_code == 7


def test_values_stay_quoted_as_the_playbook_runner_quotes_them(tmp_path: Path) -> None:
    marker = tmp_path / "never"
    hostile = f"$(touch {marker}); `touch {marker}`"
    result = LocalConnection("gateway").run(playbooks.command({"VALUE": hostile}),
                                            stdin=b'printf %s "$VALUE"')
    assert result.text == hostile and not marker.exists()


def test_put_writes_the_file_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "agent.env"
    LocalConnection("gateway").put(b"A=1\n", str(target), mode=0o600)
    assert target.read_bytes() == b"A=1\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "agent.env.fleet-partial").exists()


def test_put_into_a_missing_directory_says_where() -> None:
    with pytest.raises(SshError, match="gateway: writing /nonexistent/dir/f"):
        LocalConnection("gateway").put(b"x", "/nonexistent/dir/f")


def test_a_timeout_kills_the_command() -> None:
    with pytest.raises(SshError, match="timed out"):
        LocalConnection("gateway").run("sleep 5", timeout=0.2)


def test_connect_picks_local_for_a_local_board_and_ssh_for_the_others(tmp_path: Path) -> None:
    known = KnownHosts(tmp_path / "known_hosts")
    gateway = device("gateway", host="unreachable.invalid", ssh=SshTarget(user="root", local=True))
    conn = connect(gateway, known)
    assert isinstance(conn, LocalConnection) and conn.device == "gateway"
    with pytest.raises(SshConnectError):  # an SSH board is dialled: nothing listens on port 1
        connect(device("pi-1", host="127.0.0.1", ssh=SshTarget(port=1)), known, timeout=1.0)
