"""A board's cleanup: measure it (playbooks/scan.sh), and reclaim the chosen items
(playbooks/cleanup.sh). The parsers are pure; `measure` and `reclaim` are the IO.

What to reclaim is decided in fleet/cleanup/rules.py, between the two.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.cleanup.rules import (
    MB,
    SAFE,
    Category,
    Container,
    Disk,
    File,
    Image,
    Item,
    Reclaim,
    Rules,
    Scan,
    down_to,
    reclaimable,
)
from fleet.deploy.facts import FactsError, parse_df, split_sections
from fleet.deploy.images import chain_ids
from fleet.errors import FleetError
from fleet.model import Device
from fleet.ssh import playbooks
from fleet.ssh.connection import Connection
from fleet.ssh.hostkeys import KnownHosts
from fleet.ssh.local import connect

OUTCOMES = ("reclaimed", "skipped", "failed")
SCAN_TIMEOUT_S = 120
RECLAIM_TIMEOUT_S = 900  # removing a hundred images on an SD card takes minutes


class ScanError(FactsError):
    """A scan answer fleet cannot read; names the device, section and line."""


def env(rules: Rules) -> dict[str, str]:
    return {"FLEET_TMP_MINUTES": str(max(0, round(rules.tmp_age_days * 1440)))}


def measure(conn: Connection, device: str, rules: Rules, *,
            timeout: float = SCAN_TIMEOUT_S) -> Scan:
    """Scan the board, as root (fleet.ssh.sudo); raises ScanError, or SudoError if sudo refuses."""
    result = playbooks.run(conn, "scan", env(rules), timeout=timeout)
    if not result.ok:
        raise ScanError(f"{device}: the scan failed: {result.why()}")
    return parse(device, result.text)


@dataclass(frozen=True, slots=True)
class Outcome:
    verb: str  # reclaimed | skipped | failed
    category: str
    target: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class Reclaimed:
    device: str
    outcomes: tuple[Outcome, ...]
    disk: Disk | None  # after, as df saw it; None if the playbook died first
    error: str = ""  # the playbook itself failed

    def count(self, verb: str) -> int:
        return sum(o.verb == verb for o in self.outcomes)


def calls(items: Iterable[Item]) -> str:
    """The apply playbook's calls for `items`, then its disk reading."""
    lines = [f"fleet_{item.category.replace('-', '_')} {shlex.quote(item.target)}"
             for item in items]
    return "\n".join([*lines, "fleet_disk", ""])


def reclaim(conn: Connection, device: str, items: Iterable[Item], rules: Rules, *,
            timeout: float = RECLAIM_TIMEOUT_S) -> Reclaimed:
    result = playbooks.run(conn, "cleanup", env(rules), then=calls(items), timeout=timeout)
    outcomes, disk = parse_reclaimed(device, result.text)
    return Reclaimed(device, outcomes, disk, "" if result.ok else result.why())


def parse_reclaimed(device: str, text: str) -> tuple[tuple[Outcome, ...], Disk | None]:
    """The cleanup playbook's lines -> outcomes, and the disk after; other lines are noise."""
    outcomes = []
    disk = None
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if line == "### disk" and n + 1 < len(lines):
            disk = _disk(device, lines[n + 1])
            continue
        verb, category, rest = [*line.split(" ", 2), "", ""][:3]
        target, _, why = rest.partition(" ")
        if verb in OUTCOMES and category in Category.__members__.values() and target:
            outcomes.append(Outcome(verb, category, target, why))
    return tuple(outcomes), disk


def parse(device: str, text: str) -> Scan:
    """The scan playbook's answer -> a Scan. Raises ScanError on what it cannot read."""
    try:
        sections = split_sections(device, text, required=("now", "disk"))
        return _parse(device, sections)
    except ScanError:
        raise
    except FactsError as e:
        raise ScanError(str(e)) from None


def _parse(device: str, s: Mapping[str, str]) -> Scan:
    try:
        now = float(s["now"].strip())
    except ValueError:
        raise ScanError(f"{device}: now: expected seconds since the epoch, "
                        f"got {s['now'][:40]!r}") from None
    logs = _logs(device, s.get("logs", ""))
    journal_kb = s.get("journal", "").strip()
    return Scan(
        device=device, now=now, disk=_disk(device, s["disk"]),
        containers=_containers(device, s.get("containers", ""), logs),
        images=_images(device, s.get("images", "")),
        layer_sizes=dict(_pairs(device, "layers", s.get("layers", ""), key_first=True)),
        volumes={name: size for size, name in _pairs(device, "volumes", s.get("volumes", ""))},
        tmp=_files(device, "tmp", s.get("tmp", "")),
        open_files=frozenset(line for line in s.get("open", "").splitlines() if line),
        journal=_int(device, "journal", journal_kb) * 1024 if journal_kb else None,
        apt=sum(_int(device, "apt", line) for line in s.get("apt", "").split()),
        cores=_files(device, "cores", s.get("cores", "")),
        staging=_files(device, "staging", s.get("staging", "")),
        tools=frozenset(s.get("tools", "").split()),
    )


def _disk(device: str, line: str) -> Disk:
    try:
        total_kb, used_kb, _ = parse_df(device, line)
    except FactsError as e:
        raise ScanError(str(e)) from None
    return Disk(total=total_kb * 1024, used=used_kb * 1024)


def _int(device: str, section: str, text: str) -> int:
    if not text.strip().isdigit():
        raise ScanError(f"{device}: {section}: expected a number of bytes, got {text[:40]!r}")
    return int(text)


def _pairs(device: str, section: str, text: str, *,
           key_first: bool = False) -> list[tuple[Any, Any]]:
    """`A<TAB>B` lines; the number is B when `key_first`, else A."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        a, tab, b = line.partition("\t")
        number = b if key_first else a
        if not tab or not number.isdigit() or not (a if key_first else b):
            raise ScanError(f"{device}: {section} line {n}: expected two tab-separated fields "
                            f"with a byte count: {line[:80]!r}")
        out.append((a, int(b)) if key_first else (int(a), b))
    return out


def _files(device: str, section: str, text: str) -> tuple[File, ...]:
    files = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        fields = line.split("\t", 2)
        try:
            files.append(File(path=fields[2], size=int(fields[0]), mtime=float(fields[1])))
        except (IndexError, ValueError):
            raise ScanError(f"{device}: {section} line {n}: expected `bytes<TAB>mtime<TAB>path`: "
                            f"{line[:80]!r}") from None
    return tuple(files)


def _logs(device: str, text: str) -> dict[str, tuple[int, int]]:
    """Log files by their container's directory -> (current bytes, rotated bytes)."""
    logs: dict[str, tuple[int, int]] = {}
    for size, path in _pairs(device, "logs", text):
        directory, _, name = path.rpartition("/")
        current, rotated = logs.get(directory, (0, 0))
        logs[directory] = ((current + size, rotated) if name.endswith(".log")
                           else (current, rotated + size))
    return logs


def _containers(device: str, text: str,
                logs: Mapping[str, tuple[int, int]]) -> tuple[Container, ...]:
    containers = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        fields = line.split("\t")
        try:
            cid, name, running, image, size_rw, log_path, stack, mounts = fields
            volumes = tuple(m["Name"] for m in json.loads(mounts)
                            if m.get("Type") == "volume" and m.get("Name"))
            current, rotated = logs.get(log_path.rpartition("/")[0], (0, 0))
            containers.append(Container(
                id=cid, name=name.lstrip("/"), running=running == "true", image=image,
                stack="" if stack == "<no value>" else stack,
                size_rw=int(size_rw) if size_rw.isdigit() else 0,
                log=current, rotated_logs=rotated, volumes=volumes))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ScanError(f"{device}: containers line {n}: expected 8 tab-separated fields "
                            f"ending in the mounts' JSON: {line[:80]!r}") from None
    return tuple(containers)


def _images(device: str, text: str) -> tuple[Image, ...]:
    images = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        try:
            image_id, tags, layers = line.split("\t")
            tag_list, diff_ids = json.loads(tags) or [], json.loads(layers) or []
            if not (isinstance(tag_list, list) and isinstance(diff_ids, list)
                    and all(isinstance(t, str) for t in [*tag_list, *diff_ids])):
                raise TypeError
        except (ValueError, TypeError):
            raise ScanError(f"{device}: images line {n}: expected `id<TAB>[tags]<TAB>[layers]`: "
                            f"{line[:80]!r}") from None
        images.append(Image(image_id, tuple(tag_list), chain_ids(diff_ids)))
    return tuple(images)


@dataclass(frozen=True, slots=True)
class DeviceCleanup:
    """One board's cleanup: what it held, what was chosen and, when applied, how it went
    (a fleet.fanout.Outcome)."""

    device: str
    reclaim: Reclaim | None = None  # None: it could not be scanned
    applied: Reclaimed | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and (self.applied is None or (
            not self.applied.error and not self.applied.count("failed")))

    @property
    def freed(self) -> int | None:
        """Bytes freed as df saw it, before against after."""
        if self.reclaim is None or self.applied is None or self.applied.disk is None:
            return None
        return self.reclaim.disk.used - self.applied.disk.used


def clean(conn: Connection, device: str, rules: Rules, *, apply: bool = False,
          choose: Callable[[Reclaim], Reclaim] = lambda r: r) -> DeviceCleanup:
    """Measure the board, decide, `choose` among the items, and reclaim them if `apply`."""
    try:
        chosen = choose(reclaimable(measure(conn, device, rules), rules))
    except FleetError as e:
        return DeviceCleanup(device, error=str(e))
    if not apply or not chosen.items:
        return DeviceCleanup(device, chosen)
    try:
        return DeviceCleanup(device, chosen, reclaim(conn, device, chosen.items, rules))
    except FleetError as e:
        return DeviceCleanup(device, chosen, error=str(e))


def clean_device(device: Device, connect: Callable[[Device], Connection], rules: Rules, *,
                 apply: bool = False, chosen: Reclaim | None = None,
                 choose: Callable[[Reclaim], Reclaim] = lambda r: r) -> DeviceCleanup:
    """`clean` over a connection from `connect`; with `chosen`, reclaim exactly those items
    (what a person was shown and confirmed), without scanning again. Never raises FleetError."""
    try:
        conn = connect(device)
    except FleetError as e:
        return DeviceCleanup(device.id, error=str(e))
    try:
        if chosen is None:
            return clean(conn, device.id, rules, apply=apply, choose=choose)
        return DeviceCleanup(device.id, chosen, reclaim(conn, device.id, chosen.items, rules))
    except FleetError as e:
        return DeviceCleanup(device.id, chosen, error=str(e))
    finally:
        conn.close()


def clean_over_ssh(device: Device, known: KnownHosts, rules: Rules, *,
                   apply: bool = False, chosen: Reclaim | None = None,
                   choose: Callable[[Reclaim], Reclaim] = lambda r: r,
                   timeout: float = 10.0) -> DeviceCleanup:
    """`clean_device` over a pinned SSH session."""
    return clean_device(device, lambda d: connect(d, known, timeout=timeout), rules,
                        apply=apply, chosen=chosen, choose=choose)


def make_room(planned: Iterable[str]) -> Callable[[Connection, str, int], tuple[int, str]]:
    """A deploy's room-maker (fleet.deploy.apply.MakeRoom): on a device too full for its
    images, the policy's safe categories, the fewest items that free what is short, never
    an image the stack runs (`planned`)."""
    rules = Rules(categories=SAFE, planned=frozenset(planned))

    def run(conn: Connection, device: str, short_mb: int) -> tuple[int, str]:
        result = clean(conn, device, rules, apply=True,
                       choose=lambda r: down_to(r, r.disk.used - short_mb * MB))
        if result.error:
            return 0, f"making room failed: {result.error}"
        freed = max(0, result.freed or 0) // MB
        return freed, f"reclaimed {freed} MB first" if freed else "nothing safe to reclaim"

    return run
