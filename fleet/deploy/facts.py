"""What a board is and runs, from one remote command (playbooks/status.sh) and pure parsers.

The playbook prints sections headed `### NAME`; each parser takes a section's
text and returns a value, raising FactsError (which names the section and
line) on anything it cannot read. `gather` is the only function here with IO.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.deploy.images import DIGEST, chain_ids
from fleet.errors import FleetError
from fleet.model import Arch, PortBinding
from fleet.ssh import playbooks
from fleet.ssh.connection import Connection

AGENT_CONTAINER = "fleet-agent"
PREVIOUS = ".prev"  # the suffix of the revision kept for rollback, stopped
_PORT = re.compile(r"(?:[\d.]+|\[[0-9a-fA-F:]*\]|::):(\d+)(?:-(\d+))?->(\d+)(?:-\d+)?/(\w+)")
_VERSION = re.compile(r"\d+\.\d+[\w.+~-]*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a digest as sha256sum prints it


class FactsError(FleetError):
    """A board's answer that fleet cannot read; names the device, section and line."""


@dataclass(frozen=True, slots=True)
class Container:
    """A container on the board, fleet's labels read out."""

    id: str
    name: str
    state: str  # created, running, paused, restarting, exited, dead
    status: str  # docker's words, e.g. "Up 3 minutes (healthy)"
    image: str
    ports: tuple[PortBinding, ...] = ()
    stack: str = ""
    service: str = ""
    replica: int = -1
    revision: str = ""
    networks: tuple[str, ...] = ()  # those it joins (a stopped one keeps them)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def is_previous(self) -> bool:
        """A stopped copy of an earlier revision, kept for rollback."""
        return self.name.endswith(PREVIOUS)


@dataclass(frozen=True, slots=True)
class Facts:
    """One board, as its status playbook saw it."""

    device: str
    machine: str  # uname -m
    arch: Arch | None
    os: str
    docker: str | None  # the engine's version; None when missing or not answering
    docker_problem: str
    disk_free_mb: int
    disk_total_mb: int
    containers: tuple[Container, ...] = ()
    images: Mapping[str, str] = field(default_factory=dict)  # ref -> image id
    layers: frozenset[str] = frozenset()  # the chain id of every layer the engine has
    files: Mapping[str, str] = field(default_factory=dict)  # path -> sha256 (fleet's configs)
    networks: Mapping[str, str] = field(default_factory=dict)  # name -> its fleet.stack label
    # ref -> (the digest it was built from, its size in bytes): images fleet built here
    builds: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def agent(self) -> Container | None:
        return next((c for c in self.containers if c.name == AGENT_CONTAINER), None)

    @property
    def agent_version(self) -> str | None:
        agent = self.agent
        return agent.image.rpartition(":")[2] if agent and ":" in agent.image else None

    def stack(self, name: str) -> tuple[Container, ...]:
        """This stack's containers, rollback copies included."""
        return tuple(c for c in self.containers if c.stack == name)

    def ports_taken(self, besides: str = "") -> frozenset[tuple[int, str]]:
        """Host ports that containers other than stack `besides`'s publish."""
        return frozenset((p.host, p.protocol) for c in self.containers
                         if c.stack != besides or not besides for p in c.ports)


def gather(conn: Connection, timeout: float = 60) -> Facts:
    """Run the status playbook on the board and parse what it printed."""
    result = playbooks.run(conn, "status", timeout=timeout)
    if not result.ok:
        raise FactsError(f"{conn.device}: reading its facts failed: {result.why()}")
    return parse(conn.device, result.text)


def parse(device: str, text: str) -> Facts:
    """The whole answer of playbooks/status.sh -> Facts."""
    sections = split_sections(device, text)
    machine, arch = parse_arch(device, sections.get("arch", ""))
    version, problem = parse_docker(sections.get("docker", ""))
    free, total = parse_disk(device, sections.get("disk", ""))
    images, layers = parse_images(device, sections.get("images", ""))
    return Facts(
        device=device, machine=machine, arch=arch, os=parse_os(sections.get("os", "")),
        docker=version, docker_problem=problem, disk_free_mb=free, disk_total_mb=total,
        containers=parse_containers(device, sections.get("containers", "")),
        images=images, layers=layers,
        files=parse_files(device, sections.get("files", "")),
        networks=parse_networks(device, sections.get("networks", "")),
        builds=parse_builds(device, sections.get("builds", "")))


def split_sections(device: str, text: str,
                   required: tuple[str, ...] = ("arch", "disk")) -> dict[str, str]:
    """A playbook's `### NAME` sections -> {name: text}; each `required` one must be there."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("### "):
            current = sections.setdefault(line[4:].strip(), [])
        elif current is None:
            if line.strip():
                raise FactsError(f"{device}: status line {n}: text before any section: {line!r}")
        else:
            current.append(line)
    lacking = [name for name in required if name not in sections]
    if lacking:
        raise FactsError(f"{device}: the playbook's answer lacks its {' and '.join(lacking)} "
                         "section (did it run to its end?)")
    return {name: "\n".join(lines) for name, lines in sections.items()}


def parse_arch(device: str, text: str) -> tuple[str, Arch | None]:
    """`uname -m` -> (the machine name, the Arch fleet knows it as, or None)."""
    machine = text.strip()
    if not machine or len(machine.split()) != 1:
        raise FactsError(f"{device}: arch: expected one word from uname -m, got {text!r}")
    try:
        return machine, Arch.parse(machine)
    except ValueError:
        return machine, None


def parse_os(text: str) -> str:
    """/etc/os-release -> its PRETTY_NAME (or NAME), unquoted; "" when absent."""
    values = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values.get("PRETTY_NAME") or values.get("NAME", "")


def parse_docker(text: str) -> tuple[str | None, str]:
    """The docker section -> (server version, "") or (None, what is wrong)."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if _VERSION.fullmatch(first):
        return first, ""
    if first == "missing":
        return None, "docker is not installed (fleet enroll installs it)"
    return None, f"docker is not answering: {first or 'no output'}"


def parse_disk(device: str, text: str) -> tuple[int, int]:
    """`df -Pk` line of the engine's filesystem -> (free MB, total MB)."""
    total_kb, _, free_kb = parse_df(device, text)
    return free_kb // 1024, total_kb // 1024


def parse_df(device: str, text: str) -> tuple[int, int, int]:
    """A `df -Pk` line -> (total, used, available) KiB."""
    fields = text.split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        raise FactsError(f"{device}: disk: expected a `df -Pk` line, got {text!r}") from None


def parse_ports(text: str) -> tuple[PortBinding, ...]:
    """docker ps's Ports column -> what it publishes (once, though bound on IPv4 and IPv6)."""
    ports: set[PortBinding] = set()
    for m in _PORT.finditer(text):
        low, container = int(m[1]), int(m[3])
        high = int(m[2]) if m[2] else low
        ports.update(PortBinding(p, container + p - low, m[4]) for p in range(low, high + 1))
    return tuple(sorted(ports))


def parse_containers(device: str, text: str) -> tuple[Container, ...]:
    """docker ps lines; the 11th field, the networks, is absent from an older playbook's."""
    containers = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (10, 11):
            raise FactsError(f"{device}: containers line {n}: expected 11 tab-separated "
                             f"fields, got {len(fields)}: {line!r}")
        cid, name, state, status, image, ports, stack, service, replica, revision = fields[:10]
        networks = tuple(sorted(filter(None, fields[10].split(",")))) if len(fields) > 10 else ()
        containers.append(Container(
            id=cid, name=name.lstrip("/"), state=state, status=status, image=image,
            ports=parse_ports(ports), stack=stack, service=service,
            replica=int(replica) if replica.isdigit() else -1, revision=revision,
            networks=networks))
    return tuple(containers)


def parse_networks(device: str, text: str) -> Mapping[str, str]:
    """`NAME<TAB>fleet.stack label` per network -> {name: label} ("" when not a stack's)."""
    networks = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, tab, stack = line.partition("\t")
        if not tab or not name.strip() or "\t" in stack:
            raise FactsError(f"{device}: networks line {n}: expected `name<TAB>stack`: "
                             f"{line!r}")
        networks[name.strip()] = stack.strip()
    return MappingProxyType(networks)


def parse_images(device: str, text: str) -> tuple[Mapping[str, str], frozenset[str]]:
    """`ID<TAB>[tags]<TAB>[diff_ids]` per image -> ({ref: id}, the chain ids of every layer).

    A layer is known to the engine by its chain id (it and every layer under it),
    which is what `docker load` looks for before it reads a layer's file."""
    refs: dict[str, str] = {}
    layers: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        image_id, _, rest = line.strip().partition("\t")
        tags, _, diff_ids = rest.partition("\t")
        if not DIGEST.fullmatch(image_id):
            raise FactsError(f"{device}: images line {n}: not an image id: {line[:80]!r}")
        refs.update((tag, image_id) for tag in _digest_list(device, n, tags, any_text=True))
        layers.update(chain_ids(_digest_list(device, n, diff_ids)))
    return MappingProxyType(refs), frozenset(layers)


def _digest_list(device: str, n: int, text: str, *, any_text: bool = False) -> list[str]:
    """A JSON list of strings (docker prints `null` for an empty one); digests unless any_text."""
    try:
        items = json.loads(text)
    except ValueError:
        items = ""
    items = [] if items is None else items
    if not isinstance(items, list) or not all(
            isinstance(i, str) and (any_text or DIGEST.fullmatch(i)) for i in items):
        what = "names" if any_text else "sha256 digests"
        raise FactsError(f"{device}: images line {n}: expected a JSON list of {what}: "
                         f"{text[:80]!r}")
    return items


def parse_builds(device: str, text: str) -> Mapping[str, tuple[str, int]]:
    """`[tags]<TAB>digest<TAB>size` per image fleet built -> {ref: (digest, bytes)}."""
    found: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        tags, _, rest = line.strip().partition("\t")
        digest, _, size = rest.partition("\t")
        if not _SHA256_HEX.fullmatch(digest) or not size.isdigit():
            raise FactsError(f"{device}: builds line {n}: expected tags, a build digest and "
                             f"a size: {line[:80]!r}")
        found.update((tag, (digest, int(size)))
                     for tag in _digest_list(device, n, tags, any_text=True))
    return MappingProxyType(found)


def parse_files(device: str, text: str) -> Mapping[str, str]:
    """`sha256sum` lines -> {path: digest}."""
    files = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, path = line.partition("  ")
        if not _SHA256_HEX.fullmatch(digest) or not path:
            raise FactsError(f"{device}: files line {n}: expected `sha256  path`: {line!r}")
        files[path] = digest
    return MappingProxyType(files)
