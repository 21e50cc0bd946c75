"""How fleet reaches a board: run a command, put a file. SSH on paramiko, and a fake for tests.

Every board's work is a few commands on one connection, each a shell script on
stdin: one exec channel, one round trip, instead of a channel (or an SFTP
session) per step. Host keys are checked against fleet's pins only
(`fleet.ssh.trust.PinnedHostKeyPolicy`); nothing is ever added on first sight.
"""

from __future__ import annotations

import io
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import paramiko

from fleet.errors import SshAuthError, SshConnectError, SshError
from fleet.model import Device
from fleet.ssh import sudo
from fleet.ssh.hostkeys import KnownHosts
from fleet.ssh.trust import PinnedHostKeyPolicy

CHUNK = 256 * 1024
KEEPALIVE_S = 15
Sent = Callable[[int], None]  # told how many more bytes of stdin went out


@dataclass(frozen=True, slots=True)
class Result:
    """What a remote command did: its exit code and its output."""

    command: str
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    def why(self) -> str:
        """The last line of stderr (or stdout), for a one-line failure message."""
        for stream in (self.stderr, self.stdout):
            lines = stream.decode("utf-8", errors="replace").strip().splitlines()
            if lines:
                return lines[-1]
        return f"exit code {self.exit_code}"


class Connection(Protocol):
    """A session with one board, logged in as `user` (fleet.ssh.sudo makes that root)."""

    device: str
    user: str

    def run(self, command: str, *, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, sent: Sent | None = None) -> Result:
        """Run `command` under the board's shell, feeding it `stdin`; never raises on exit codes."""
        ...

    def put(self, data: bytes | BinaryIO, remote: str, *, mode: int = 0o644,
            sent: Sent | None = None) -> None:
        """Write `data` to the file `remote` as root, atomically (a temporary name, then a
        rename); raises SudoError if the login cannot become root, SshError on a failure."""
        ...

    def close(self) -> None:
        ...


def put_command(remote: str, mode: int) -> str:
    """The shell that `put` runs: write a temporary file beside `remote`, then rename it."""
    path = shlex.quote(remote)
    partial = shlex.quote(f"{remote}.fleet-partial")
    return (f"umask 077 && cat > {partial} && chmod {mode:o} {partial} "
            f"&& mv -f {partial} {path}")


def put_as_root(conn: Connection, data: bytes | BinaryIO, remote: str, *, mode: int,
                sent: Sent | None) -> None:
    """`Connection.put` over the connection's own `run`, for SSH and local boards alike."""
    result = sudo.run(conn, put_command(remote, mode), stdin=data, sent=sent)
    if not result.ok:
        raise SshError(f"{conn.device}: writing {remote}: {result.why()}")


class SshConnection:
    """A paramiko session with one board; use as a context manager or call `close`."""

    def __init__(self, device: Device, known_hosts: KnownHosts, *, timeout: float = 10.0,
                 keepalive: int = KEEPALIVE_S) -> None:
        self.device = device.id
        self.user = device.ssh.user
        self.timeout = timeout
        self._client = paramiko.SSHClient()
        policy = PinnedHostKeyPolicy(known_hosts, device.id)
        self._client.set_missing_host_key_policy(policy)
        key = device.ssh.key
        try:
            self._client.connect(
                device.host, port=device.ssh.port, username=device.ssh.user,
                key_filename=str(key) if key else None, allow_agent=key is None,
                look_for_keys=key is None, timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, transport_factory=policy.transport_factory)
        except SshError:  # the host key policy's refusal, raised through connect
            self._client.close()
            raise
        except paramiko.AuthenticationException as e:
            self._client.close()
            raise SshAuthError(device.id, device.ssh.user, str(e) or type(e).__name__) from None
        except (OSError, EOFError, paramiko.SSHException) as e:
            self._client.close()
            reason = "timed out" if isinstance(e, socket.timeout) else (str(e) or repr(e))
            raise SshConnectError(device.host, device.ssh.port, reason) from None
        transport = self._client.get_transport()
        assert transport is not None
        transport.set_keepalive(keepalive)
        self._transport = transport

    def run(self, command: str, *, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, sent: Sent | None = None) -> Result:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            channel = self._transport.open_session(timeout=self.timeout)
            channel.settimeout(self.timeout if timeout is None else timeout)
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            source = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin
            if source is not None:
                _feed(channel, source, out, err, sent)
            channel.shutdown_write()
            while not channel.exit_status_ready() or channel.recv_ready() \
                    or channel.recv_stderr_ready():
                if deadline is not None and time.monotonic() > deadline:
                    channel.close()
                    raise SshError(f"{self.device}: command timed out after {timeout:.0f}s")
                if not _drain(channel, out, err):
                    time.sleep(0.002)
            _drain(channel, out, err)
            code = channel.recv_exit_status()
            channel.close()
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise SshError(f"{self.device}: the SSH session failed: {e or type(e).__name__}"
                           ) from None
        return Result(command, code, bytes(out), bytes(err))

    def put(self, data: bytes | BinaryIO, remote: str, *, mode: int = 0o644,
            sent: Sent | None = None) -> None:
        put_as_root(self, data, remote, mode=mode, sent=sent)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _feed(channel: paramiko.Channel, source: BinaryIO, out: bytearray, err: bytearray,
          sent: Sent | None) -> None:
    """Send `source` as the command's stdin, unless the command exits before reading it all."""
    while chunk := source.read(CHUNK):
        try:
            channel.sendall(chunk)
        except OSError:
            if channel.exit_status_ready() or channel.closed:
                return  # it stopped reading: its exit code and stderr say why
            raise
        if sent:
            sent(len(chunk))
        _drain(channel, out, err)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> bool:
    """Read whatever output is waiting, so a chatty command never blocks on a full window."""
    got = False
    while channel.recv_ready():
        out += channel.recv(CHUNK)
        got = True
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(CHUNK)
        got = True
    return got


Handler = Callable[[str, bytes], Result | tuple[int, str]]


@dataclass
class FakeConnection:
    """A Connection whose board is a function: (command, stdin) -> Result or (exit, stdout).

    It records every command with its stdin, and what `put` wrote, for tests to assert on.
    """

    handler: Handler
    device: str = "fake"
    user: str = sudo.ROOT
    calls: list[tuple[str, bytes]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def run(self, command: str, *, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, sent: Sent | None = None) -> Result:
        data = stdin if isinstance(stdin, bytes) else (stdin.read() if stdin else b"")
        if sent and data:
            sent(len(data))
        self.calls.append((command, data))
        answer = self.handler(command, data)
        if isinstance(answer, Result):
            return answer
        code, text = answer
        return Result(command, code, text.encode())

    def put(self, data: bytes | BinaryIO, remote: str, *, mode: int = 0o644,
            sent: Sent | None = None) -> None:
        raw = data if isinstance(data, bytes) else data.read()
        self.files[remote] = raw
        sudo.run(self, put_command(remote, mode), stdin=raw, sent=sent)

    def close(self) -> None:
        pass
