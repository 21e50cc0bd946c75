"""SSH trust against a real sshd on loopback: pin on first contact, stop hard on a new key."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from fleet.errors import (
    HostKeyChangedError,
    HostKeyMismatchError,
    HostKeyNotPinnedError,
    HostKeyUnverifiedError,
    SshConnectError,
)
from fleet.lab.broker import free_port
from fleet.ssh.hostkeys import HostKey, KnownHosts
from fleet.ssh.trust import Action, PinnedHostKeyPolicy, check, offered_key

DEVICE = "pi-07"


class Sshd:
    """A real /usr/sbin/sshd on 127.0.0.1 with host keys of its own, restartable."""

    def __init__(self, root: Path, key_types: tuple[str, ...]) -> None:
        self.root = root
        self.key_types = key_types
        self.port = free_port()
        self.log = root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir

    def key_file(self, key_type: str = "ed25519") -> Path:
        return self.root / f"ssh_host_{key_type}_key"

    def host_key(self, key_type: str = "ed25519") -> HostKey:
        return HostKey.parse(Path(f"{self.key_file(key_type)}.pub").read_text())

    def keygen_fingerprint(self, key_type: str = "ed25519") -> str:
        out = subprocess.run(["ssh-keygen", "-lf", f"{self.key_file(key_type)}.pub"],
                             check=True, capture_output=True, text=True).stdout
        return out.split()[1]

    def start(self) -> None:
        for key_type in self.key_types:
            if not self.key_file(key_type).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f",
                                str(self.key_file(key_type))], check=True)
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            *(f"HostKey {self.key_file(t)}" for t in self.key_types),
            "PidFile none", "StrictModes no", "UsePAM no", "",
        ]))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                         timeout=1):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start:\n{self.log.read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def rekey(self) -> None:
        """What reflashing a board does to its host keys."""
        self.stop()
        for key_type in self.key_types:
            self.key_file(key_type).unlink()
            Path(f"{self.key_file(key_type)}.pub").unlink()
        self.start()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path, ("ed25519",))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pi_sshd(tmp_path: Path) -> Iterator[Sshd]:
    """An sshd with the three host keys a Raspberry Pi OS image generates."""
    server = Sshd(tmp_path, ("rsa", "ecdsa", "ed25519"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> KnownHosts:
    return KnownHosts(tmp_path / "config" / "known_hosts")


def test_offered_key_is_the_host_key_sshd_serves(sshd: Sshd) -> None:
    offered = offered_key("127.0.0.1", sshd.port)
    assert offered == sshd.host_key()
    assert offered.fingerprint == sshd.keygen_fingerprint()


def test_a_board_with_several_host_keys_offers_ed25519_unless_told(pi_sshd: Sshd) -> None:
    assert offered_key("127.0.0.1", pi_sshd.port) == pi_sshd.host_key("ed25519")
    rsa = offered_key("127.0.0.1", pi_sshd.port, prefer="ssh-rsa")
    assert rsa == pi_sshd.host_key("rsa")
    assert rsa.fingerprint == pi_sshd.keygen_fingerprint("rsa")
    ecdsa = offered_key("127.0.0.1", pi_sshd.port, prefer="ecdsa-sha2-nistp256")
    assert ecdsa == pi_sshd.host_key("ecdsa")


def test_first_contact_pins_the_advertised_key_then_it_matches(sshd: Sshd,
                                                               store: KnownHosts) -> None:
    advertised = sshd.keygen_fingerprint()
    first = check(DEVICE, "127.0.0.1", sshd.port, store, advertised=advertised)
    assert (first.action, first.result, first.basis) == (Action.PIN, "pinned", "advertised")
    assert first.fingerprint == advertised
    assert store.pinned(DEVICE) == sshd.host_key()
    again = check(DEVICE, "127.0.0.1", sshd.port, store)
    assert (again.result, again.basis, again.previous) == ("matches", "pinned", None)
    assert again.as_dict() == {
        "device": DEVICE, "host": "127.0.0.1", "port": sshd.port, "result": "matches",
        "basis": "pinned", "key_type": "ssh-ed25519", "fingerprint": advertised,
        "previous": None,
    }


def test_first_contact_pins_nothing_it_cannot_check(sshd: Sshd, store: KnownHosts) -> None:
    offered = sshd.keygen_fingerprint()
    with pytest.raises(HostKeyMismatchError) as impostor:
        check(DEVICE, "127.0.0.1", sshd.port, store, advertised="SHA256:" + "A" * 43)
    assert offered in str(impostor.value) and "SHA256:" + "A" * 43 in str(impostor.value)
    with pytest.raises(HostKeyUnverifiedError) as unverified:
        check(DEVICE, "127.0.0.1", sshd.port, store)
    assert f"fleet trust {DEVICE} --accept {offered}" in str(unverified.value)
    assert not store.path.exists()
    accepted = check(DEVICE, "127.0.0.1", sshd.port, store, accept=offered)
    assert (accepted.result, accepted.basis) == ("pinned", "accepted")


def test_a_rekeyed_board_is_a_hard_stop_until_its_new_key_is_accepted(
        sshd: Sshd, store: KnownHosts) -> None:
    old = sshd.keygen_fingerprint()
    check(DEVICE, "127.0.0.1", sshd.port, store, advertised=old)
    sshd.rekey()
    new = sshd.keygen_fingerprint()
    assert new != old

    # Its agent advertises the new key too: mDNS alone never replaces a pin.
    with pytest.raises(HostKeyChangedError) as changed:
        check(DEVICE, "127.0.0.1", sshd.port, store, advertised=new)
    assert (changed.value.pinned, changed.value.offered) == (old, new)
    assert old in str(changed.value) and new in str(changed.value)
    assert f"fleet trust {DEVICE} --accept {new}" in str(changed.value)

    for wrong in (old, "SHA256:" + "B" * 43):
        with pytest.raises(HostKeyChangedError, match="is not the offered key"):
            check(DEVICE, "127.0.0.1", sshd.port, store, accept=wrong)
        assert store.pinned(DEVICE) is not None
        assert store.pinned(DEVICE) != sshd.host_key()

    replaced = check(DEVICE, "127.0.0.1", sshd.port, store, accept=new)
    assert (replaced.result, replaced.basis) == ("replaced", "accepted")
    assert replaced.previous is not None and replaced.previous.fingerprint == old
    assert check(DEVICE, "127.0.0.1", sshd.port, store).result == "matches"


def connect(sshd: Sshd, policy: PinnedHostKeyPolicy, *, factory: bool = True) -> None:
    """An SSH session the way deploy opens one: no host keys loaded, only the policy."""
    with paramiko.SSHClient() as client:
        client.set_missing_host_key_policy(policy)
        try:
            client.connect("127.0.0.1", sshd.port, username="nobody", password="not-it",
                           look_for_keys=False, allow_agent=False, timeout=5,
                           transport_factory=policy.transport_factory if factory else None)
        finally:
            transport = client.get_transport()
            assert transport is None or not transport.is_authenticated()


def test_a_session_to_a_rekeyed_board_stops_before_authentication(
        sshd: Sshd, store: KnownHosts) -> None:
    store.pin(DEVICE, sshd.host_key())
    policy = PinnedHostKeyPolicy(store, DEVICE)
    with pytest.raises(paramiko.AuthenticationException):
        connect(sshd, policy)  # the pinned key passes; the password is wrong
    assert "Failed password for nobody" in sshd.log.read_text()

    pinned = sshd.keygen_fingerprint()
    sshd.rekey()
    sshd.log.write_text("")
    with pytest.raises(HostKeyChangedError) as changed:
        connect(sshd, policy)
    assert (changed.value.pinned, changed.value.offered) == (pinned, sshd.keygen_fingerprint())
    time.sleep(0.2)  # let sshd log whatever it saw
    assert "password" not in sshd.log.read_text()
    with pytest.raises(HostKeyNotPinnedError):
        connect(sshd, PinnedHostKeyPolicy(store, "pi-08"))


def test_the_transport_factory_asks_for_the_pinned_key_type(pi_sshd: Sshd,
                                                            store: KnownHosts) -> None:
    store.pin(DEVICE, pi_sshd.host_key("rsa"))  # e.g. accepted from an old board's console
    policy = PinnedHostKeyPolicy(store, DEVICE)
    with pytest.raises(HostKeyChangedError):
        connect(pi_sshd, policy, factory=False)  # paramiko asks for ed25519 first
    with pytest.raises(paramiko.AuthenticationException):
        connect(pi_sshd, policy)


def openssh(sshd: Sshd, store: KnownHosts) -> str:
    """Plain `ssh` with fleet's pins; returns what it says on stderr."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", f"HostKeyAlias={DEVICE}",
         "-o", f"UserKnownHostsFile={store.path}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentityFile=none",
         "-p", str(sshd.port), "nobody@127.0.0.1", "true"],
        capture_output=True, text=True, check=False, timeout=30).stderr


def test_plain_openssh_checks_the_same_pins(sshd: Sshd, store: KnownHosts) -> None:
    check(DEVICE, "127.0.0.1", sshd.port, store, advertised=sshd.keygen_fingerprint())
    assert "Permission denied" in openssh(sshd, store)  # host key accepted, then no login
    sshd.rekey()
    said = openssh(sshd, store)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in said
    assert "Host key verification failed" in said


def test_no_ssh_server_is_a_connect_error_naming_host_and_port() -> None:
    port = free_port()
    with pytest.raises(SshConnectError, match=f"^127.0.0.1:{port}: cannot connect: "):
        offered_key("127.0.0.1", port)
    with socket.socket() as silent:  # the kernel completes the handshake; nothing is said
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(SshConnectError, match=f"^127.0.0.1:{port}: no SSH key exchange "
                                                  "within 0.3s"):
            offered_key("127.0.0.1", port, timeout=0.3)


def test_a_server_that_is_not_ssh_is_a_connect_error() -> None:
    with socket.socket() as web:
        web.bind(("127.0.0.1", 0))
        web.listen()

        def answer() -> None:
            conn, _ = web.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

        server = threading.Thread(target=answer)
        server.start()
        with pytest.raises(SshConnectError, match="is it an SSH server"):
            offered_key("127.0.0.1", web.getsockname()[1], timeout=5)
        server.join(5)
