"""Parsers for what Linux reports about CPU, load, memory and disk: pure, fed the raw text."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Cumulative jiffies from the `cpu` line of /proc/stat."""

    busy: int
    total: int


@dataclass(frozen=True, slots=True)
class Memory:
    used_mb: int
    total_mb: int


@dataclass(frozen=True, slots=True)
class Disk:
    used_mb: int
    total_mb: int
    free_mb: int  # what an unprivileged writer can still use


def parse_proc_stat(text: str) -> CpuTimes:
    """The aggregate `cpu` line -> busy and total jiffies (iowait counts as idle)."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            # user nice system idle iowait irq softirq steal; guest is already in user.
            values = [int(v) for v in fields[1:9]]
            if len(values) < 4:
                break
            total = sum(values)
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return CpuTimes(busy=total - idle, total=total)
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cpu_pct(before: CpuTimes, after: CpuTimes) -> float:
    """Share of all CPUs busy between two readings, 0-100."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (after.busy - before.busy) / elapsed))


def parse_loadavg(text: str) -> float:
    """/proc/loadavg -> the one-minute load average."""
    return float(text.split()[0])


def _kib_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            fields[name] = int(value[0])
    return fields


def parse_meminfo(text: str) -> Memory:
    """/proc/meminfo -> used (MemTotal - MemAvailable) and total, in MiB."""
    kib = _kib_fields(text)
    if "MemTotal" not in kib:
        raise ValueError("no MemTotal in /proc/meminfo")
    # Kernels before 3.14 have no MemAvailable: approximate it the way `free` did.
    available = kib.get("MemAvailable",
                        kib.get("MemFree", 0) + kib.get("Buffers", 0) + kib.get("Cached", 0))
    return Memory(used_mb=max(0, kib["MemTotal"] - available) // 1024,
                  total_mb=kib["MemTotal"] // 1024)


def _stat_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            fields[name] = int(value)
    return fields


def parse_cgroup_v1(usage: str, stat: str, limit: str) -> tuple[int, int]:
    """memory.usage_in_bytes, memory.stat, memory.limit_in_bytes -> (used, limit) bytes.

    Page cache that could be dropped (total_inactive_file) is not counted as
    used, as `docker stats` does; otherwise a board that read a big file looks full.
    """
    inactive = _stat_fields(stat).get("total_inactive_file", 0)
    return max(0, int(usage) - inactive), int(limit)


def parse_cgroup_v2(current: str, maximum: str) -> tuple[int, int | None]:
    """memory.current, memory.max -> (used, limit) bytes; limit None for `max`."""
    limit = maximum.strip()
    return int(current), None if limit == "max" else int(limit)


def cgroup_memory(used: int, limit: int | None, host_total_mb: int) -> Memory:
    """A cgroup's usage against its limit; no limit (or one above the host's RAM) is the host's.

    cgroup v1 writes "no limit" as a huge number (9223372036854771712).
    """
    total_mb = host_total_mb if limit is None else min(limit // MiB, host_total_mb)
    return Memory(used_mb=used // MiB, total_mb=total_mb)


def parse_df(text: str) -> Disk:
    """`df -Pk PATH` (or `df -k`, or plain `df`: the same columns in KiB) -> the one filesystem.

    Columns: Filesystem, 1024-blocks (1K-blocks), Used, Available, Capacity, Mounted on.
    A filesystem name too long for its column wraps onto a line of its own without -P,
    so the figures are read from the last line's tail.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or "blocks" not in lines[0]:
        raise ValueError("not the output of df -Pk (no header with 1024-blocks)")
    if not lines[0].split()[1].startswith(("1024-", "1K-")):
        raise ValueError(f"df blocks are not KiB: {lines[0].split()[1]!r} (run df -Pk)")
    figures = lines[-1].split()
    try:
        total, used, available = (int(v) for v in figures[-5:-2])
    except ValueError:
        raise ValueError(f"not a df line: {lines[-1]!r}") from None
    return Disk(used_mb=used // 1024, total_mb=total // 1024, free_mb=available // 1024)


def disk_usage(blocks: int, free: int, available: int, fragment: int) -> Disk:
    """statvfs fields -> used and total as `df` shows them, and what is left to non-root."""
    return Disk(used_mb=(blocks - free) * fragment // MiB, total_mb=blocks * fragment // MiB,
                free_mb=available * fragment // MiB)
