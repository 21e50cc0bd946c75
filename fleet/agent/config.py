"""The agent's options, from the command line or FLEET_AGENT_* variables (it runs in a container).

Every value is checked here, so a bad one stops the agent at once with exit
code 2 and a message naming the option, not minutes later in a thread.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import FleetError
from fleet.model import Profile, validate_device_id
from fleet.profiles import PROFILES
from fleet.profiles import get as get_profile

ENV_PREFIX = "FLEET_AGENT_"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    device_id: str
    host: str
    port: int
    profile: Profile
    interval_s: float = 5.0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    docker_socket: str = "/var/run/docker.sock"
    memory_cgroup: Path | None = None
    disk_path: str = "/"
    alive_file: Path = Path("/tmp/fleet-agent.alive")
    queue: int = 16
    advertise: bool = True
    ssh_port: int = 22
    ssh_host_key: Path = Path("/etc/ssh/ssh_host_ed25519_key.pub")
    advertise_addresses: tuple[str, ...] = ()


def _device_id(text: str) -> str:
    try:
        return validate_device_id(text)
    except FleetError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _broker(text: str) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPv6]:PORT."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        host, port = text, "1883"
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _profile(text: str) -> Profile:
    try:
        return get_profile(text, field="--profile")
    except FleetError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value
    return convert


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() == "yes"


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def _addresses(text: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.IPv4Address(a.strip())) for a in text.split(",") if a.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _secret(text: str) -> str:
    try:
        return Path(text).read_text().rstrip("\r\n")
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {e.strerror}") from None


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fleet agent",
        description="The on-device agent: heartbeats, pings and container commands over MQTT. "
                    f"Every option can also be set as {ENV_PREFIX}<NAME>, e.g. "
                    f"{ENV_PREFIX}PASSWORD_FILE.")

    def option(name: str, help: str, *, type: Callable[[str], object] = str,
               default: str | None = None, required: bool = False, metavar: str | None = None
               ) -> None:
        var = ENV_PREFIX + name.removeprefix("--").replace("-", "_").upper()
        value = env.get(var, default)
        p.add_argument(name, type=type, default=value, required=required and value is None,
                       metavar=metavar, help=f"{help} [{var}]")

    option("--id", "this board's device id", type=_device_id, required=True)
    option("--profile", f"hardware profile, for the budgets: {', '.join(PROFILES)}",
           type=_profile, required=True, metavar="NAME")
    option("--broker", "MQTT broker (default %(default)s)", type=_broker,
           default="127.0.0.1:1883", metavar="HOST:PORT")
    option("--username", "MQTT user name")
    option("--password-file", "file holding the MQTT password", type=_secret, metavar="PATH")
    option("--interval", "seconds between heartbeats (default %(default)s)",
           type=_positive(float), default="5", metavar="SECONDS")
    option("--docker-socket", "dockerd's API socket (default %(default)s)",
           default="/var/run/docker.sock", metavar="PATH")
    option("--memory-cgroup", "read memory from this cgroup v1 or v2 directory, "
           "not /proc/meminfo", metavar="DIR")
    option("--disk-path", "filesystem to report (default %(default)s)", default="/",
           metavar="PATH")
    option("--alive-file", "touched after every heartbeat sent, for a health check "
           "(default %(default)s)", default="/tmp/fleet-agent.alive", metavar="PATH")
    option("--queue", "commands that may wait (default %(default)s)", type=_positive(int),
           default="16", metavar="N")
    option("--advertise", "advertise this board over mDNS as _fleet._tcp, so the controller "
           "finds it: yes or no (default %(default)s)", type=_yes_no, default="yes",
           metavar="YES|NO")
    option("--advertise-addresses", "IPv4 addresses to advertise, comma-separated (default: "
           "those of every interface but loopback and container bridges)", type=_addresses,
           metavar="A,B")
    option("--ssh-port", "the port the board's sshd listens on (default %(default)s)",
           type=_port, default="22", metavar="PORT")
    option("--ssh-host-key", "sshd's public host key, whose fingerprint is advertised "
           "(default %(default)s)", default="/etc/ssh/ssh_host_ed25519_key.pub", metavar="PATH")
    return p


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str] | None = None
               ) -> AgentConfig:
    """Options from argv, falling back to the environment; exits 2 with a message if bad."""
    ns = parser(os.environ if env is None else env).parse_args(argv)
    host, port = ns.broker
    return AgentConfig(
        device_id=ns.id, host=host, port=port, profile=ns.profile, interval_s=ns.interval,
        username=ns.username, password=ns.password_file, docker_socket=ns.docker_socket,
        memory_cgroup=Path(ns.memory_cgroup) if ns.memory_cgroup else None,
        disk_path=ns.disk_path, alive_file=Path(ns.alive_file), queue=ns.queue,
        advertise=ns.advertise, ssh_port=ns.ssh_port, ssh_host_key=Path(ns.ssh_host_key),
        advertise_addresses=ns.advertise_addresses or (),
    )
