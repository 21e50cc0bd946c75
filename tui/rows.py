"""PURE: the fleet table's columns: how each cell reads, sorts and filters. No textual here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from fleet.render.plan import fill_bar
from tui.client import DeviceRow

BAR = 6
STATE_STYLE = {"active": "green", "degraded": "yellow", "offline": "red",
               "quarantined": "magenta"}
MODE_STYLE = {"FULL": "bold green", "DEGRADED_LIGHT": "bold yellow",
              "DEGRADED_MODERATE": "bold dark_orange", "DEGRADED_SEVERE": "bold red",
              "EMERGENCY": "bold white on red"}
HOT_C = 80.0  # a Pi starts to throttle at 80 C

SortKey = Callable[[DeviceRow, float], tuple[int, float | str]]


def _num(value: float | None) -> tuple[int, float | str]:
    """Numbers ascending, unknowns after them whichever way the column sorts."""
    return (1, 0.0) if value is None else (0, value)


def _pct(used: int | None, budget: int | None) -> float | None:
    if used is None or not budget:
        return None
    return 100.0 * used / budget


def age(row: DeviceRow, now: float) -> float | None:
    return None if row.heard_at is None else max(0.0, now - row.heard_at)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    cell: Callable[[DeviceRow, float], Text]
    sort: SortKey


def bar(pct: float | None) -> Text:
    """`████░░  72%`, green to red as it fills; `-` when unknown."""
    if pct is None:
        return Text("-", style="dim")
    return fill_bar(pct, BAR)


def _temp(row: DeviceRow, now: float) -> Text:
    if row.temp_c is None:
        return Text("-", style="dim")
    text = Text(f"{row.temp_c:.0f}°C", style="red" if row.temp_c >= HOT_C else "")
    if row.throttled:
        text.append(" ⚡", style="bold yellow")  # under-voltage or throttling, now or since boot
    return text


def _containers(row: DeviceRow, now: float) -> Text:
    if row.containers_running is None:
        return Text("-", style="dim")
    return Text(f"{row.containers_running}/{row.containers_total}")


def _seen(row: DeviceRow, now: float) -> Text:
    seconds = age(row, now)
    if seconds is None:
        return Text("never", style="dim")
    if seconds < 120:
        return Text(f"{seconds:.0f}s")
    return Text(f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.0f}h",
                style="yellow")


def _state(row: DeviceRow, now: float) -> Text:
    text = Text(row.state, style=STATE_STYLE.get(row.state, ""))
    if not row.managed:
        text.append("?", style="dim")  # heard on the bus, not in the inventory
    return text


def _z(row: DeviceRow, now: float) -> Text:
    if row.impedance is None:
        return Text("-", style="dim")
    return Text(str(row.impedance), style="yellow" if row.impedance > 800 else "")


COLUMNS: tuple[Column, ...] = (
    Column("id", "DEVICE", 14, lambda r, _: Text(r.id, style="bold"), lambda r, _: (0, r.id)),
    Column("site", "SITE", 7, lambda r, _: Text(r.site), lambda r, _: (0, r.site)),
    Column("profile", "PROFILE", 16,
           lambda r, _: Text(r.profile, style="red" if r.profile_mismatch else ""),
           lambda r, _: (0, r.profile)),
    Column("state", "STATE", 11, _state, lambda r, _: (0, r.state)),
    Column("cpu", "CPU", 11, lambda r, _: bar(r.cpu_pct), lambda r, _: _num(r.cpu_pct)),
    Column("mem", "MEM", 11, lambda r, _: bar(_pct(r.mem_used_mb, r.mem_budget_mb)),
           lambda r, _: _num(_pct(r.mem_used_mb, r.mem_budget_mb))),
    Column("disk", "DISK", 11, lambda r, _: bar(_pct(r.disk_used_mb, r.disk_budget_mb)),
           lambda r, _: _num(_pct(r.disk_used_mb, r.disk_budget_mb))),
    Column("temp", "TEMP", 7, _temp, lambda r, _: _num(r.temp_c)),
    Column("z", "Z", 5, _z, lambda r, _: _num(r.impedance)),
    Column("containers", "CTRS", 7, _containers, lambda r, _: _num(r.containers_running)),
    Column("seen", "SEEN", 6, _seen, lambda r, now: _num(age(r, now))),
)
BY_KEY = {c.key: c for c in COLUMNS}


def matches(row: DeviceRow, query: str) -> bool:
    """Every word of `query` in the device's id, site, profile or state (any case)."""
    haystack = f"{row.id} {row.site} {row.profile} {row.state}".lower()
    return all(word in haystack for word in query.lower().split())


def arrange(rows: Sequence[DeviceRow], now: float, *, sort: str = "id",
            reverse: bool = False, query: str = "") -> list[DeviceRow]:
    """The rows the filter keeps, sorted by column `sort`, ties by id."""
    column = BY_KEY[sort]
    kept = [r for r in rows if matches(r, query)] if query else list(rows)
    kept.sort(key=lambda r: r.id)
    kept.sort(key=lambda r: column.sort(r, now), reverse=reverse)
    if reverse:  # unknowns stay last either way
        kept.sort(key=lambda r: column.sort(r, now)[0])
    return kept


def next_sort(current: str) -> str:
    keys = [c.key for c in COLUMNS]
    return keys[(keys.index(current) + 1) % len(keys)]


def line(row: DeviceRow, now: float, gap: int = 1) -> Text:
    """The row as one line of fixed-width cells."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for column in COLUMNS:
        cell = column.cell(row, now)
        cell.truncate(column.width, overflow="ellipsis", pad=True)
        text.append_text(cell)
        text.append(" " * gap)
    return text


def header(sort: str, reverse: bool, gap: int = 1) -> Text:
    """Column titles; the sort column marked with its direction."""
    text = Text(no_wrap=True)
    for column in COLUMNS:
        title = column.title + ((" ▼" if reverse else " ▲") if column.key == sort else "")
        cell = Text(title, style="bold reverse" if column.key == sort else "bold")
        cell.truncate(column.width, pad=True)
        text.append_text(cell)
        text.append(" " * gap)
    return text
