"""A Connection to the controller's own machine, for a board with `ansible_connection: local`.

A Pi gateway that runs fleet can manage itself as Ansible does: the same
commands and playbooks, run by `/bin/sh -c` here instead of by the login shell
over SSH. The command is the one fleet would send over SSH (built by
fleet.ssh.playbooks, every value quoted there); nothing else is added to it.
`connect` is the one place that picks a board's Connection.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import signal
import subprocess
import threading
from typing import IO, BinaryIO

from fleet.errors import SshError
from fleet.model import Device
from fleet.ssh.connection import CHUNK, Connection, Result, Sent, SshConnection, put_as_root
from fleet.ssh.hostkeys import KnownHosts

SHELL = "/bin/sh"


def connect(device: Device, known_hosts: KnownHosts, *, timeout: float = 10.0) -> Connection:
    """The board's Connection: this machine's for a local board, else SSH."""
    if device.ssh.local:
        return LocalConnection(device.id)
    return SshConnection(device, known_hosts, timeout=timeout)


class LocalConnection:
    """Commands run on this machine, each `sh -c COMMAND` with its stdin, as over SSH."""

    def __init__(self, device: str, shell: str = SHELL, user: str | None = None) -> None:
        self.device = device
        self.shell = shell
        # Who runs the commands: this process's user, who becomes root through sudo as an
        # SSH login does (fleet.ssh.sudo), unless it is root already.
        self.user = user or pwd.getpwuid(os.geteuid()).pw_name

    def run(self, command: str, *, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, sent: Sent | None = None) -> Result:
        try:
            # Its own process group, so a timeout stops the command's children too.
            process = subprocess.Popen([self.shell, "-c", command], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       start_new_session=True)
        except OSError as e:
            raise SshError(f"{self.device}: cannot run {self.shell} on this machine: {e}"
                           ) from None
        assert process.stdin and process.stdout and process.stderr
        out, err = bytearray(), bytearray()
        # Read both pipes while stdin is written, so a chatty command never blocks.
        readers = [threading.Thread(target=_drain, args=(pipe, into), daemon=True)
                   for pipe, into in ((process.stdout, out), (process.stderr, err))]
        for reader in readers:
            reader.start()
        _feed(process.stdin, io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin, sent)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise SshError(f"{self.device}: command timed out after {timeout:.0f}s") from None
        finally:
            for reader in readers:
                reader.join()
            process.stdout.close()
            process.stderr.close()
        return Result(command, code, bytes(out), bytes(err))

    def put(self, data: bytes | BinaryIO, remote: str, *, mode: int = 0o644,
            sent: Sent | None = None) -> None:
        put_as_root(self, data, remote, mode=mode, sent=sent)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _feed(pipe: IO[bytes], source: BinaryIO | None, sent: Sent | None) -> None:
    """Send `source` as stdin, unless the command exits before reading it all."""
    try:
        while source is not None and (chunk := source.read(CHUNK)):
            pipe.write(chunk)
            if sent:
                sent(len(chunk))
    except BrokenPipeError:
        pass  # it stopped reading: its exit code and stderr say why
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


def _drain(pipe: IO[bytes], into: bytearray) -> None:
    while chunk := pipe.read(CHUNK):
        into += chunk
