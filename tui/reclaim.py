"""PURE: the cleanup view's model: rows per device and category, the selection, the question.

A selection is a set of (device, category) pairs: a person chooses whole
categories of a device (`stopped` on pi-garage), and the confirmation lists
every item that choice removes, with its size, before anything is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tui.client import CleanupItem, CleanupResult, CleanupScan

Key = tuple[str, str]  # (device, category)
LISTED = 40  # items named one by one in the question; past that, counted per category


def mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def pct(used: int, total: int) -> str:
    return f"{100.0 * used / total:.1f} %" if total else "-"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the view: a device's category, or the device alone (nothing, or an error)."""

    device: str
    category: str = ""  # "" for a device-only line
    items: int = 0
    bytes: int = 0
    note: str = ""  # "nothing to reclaim", or why it was not scanned

    @property
    def key(self) -> Key:
        return (self.device, self.category)


def rows(scans: Iterable[CleanupScan]) -> list[Row]:
    """Per device, a row per category in the playbook's order; devices in the order given."""
    out = []
    for s in scans:
        if s.error:
            out.append(Row(s.device, note=s.error))
        elif not s.items:
            out.append(Row(s.device, note="nothing to reclaim"))
        else:
            out += [Row(s.device, c, n, b) for c, (n, b) in s.by_category().items()]
    return out


def chosen(scans: Iterable[CleanupScan],
           selected: Iterable[Key]) -> dict[str, tuple[CleanupItem, ...]]:
    """Device -> the items of its selected categories; devices with none left out."""
    wanted = set(selected)
    out = {}
    for s in scans:
        items = tuple(i for i in s.items if (s.device, i.category) in wanted)
        if items:
            out[s.device] = items
    return out


def after(scan: CleanupScan, items: Iterable[CleanupItem]) -> str:
    """The disk's use once `items` are gone, as expected."""
    return pct(max(0, scan.disk_used - sum(i.bytes for i in items)), scan.disk_total)


def question(picked: Mapping[str, tuple[CleanupItem, ...]]) -> RenderableType:
    """Exactly what will be removed: every item's category, label and size, per device."""
    count = sum(len(items) for items in picked.values())
    total = sum(i.bytes for items in picked.values() for i in items)
    head = Text.from_markup(
        f"Remove these [b]{count}[/b] item(s), [b]{mb(total)}[/b], on {len(picked)} "
        "device(s)?\nEach rule is checked again on the board before it acts.")
    table = Table(box=None, padding=(0, 1), show_header=False, expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(overflow="fold", ratio=1)
    table.add_column(justify="right", no_wrap=True)
    listed = 0
    for device, items in picked.items():
        first = True
        for item in items:
            if listed == LISTED:
                break
            table.add_row(device if first else "", item.category, escape(item.label),
                          mb(item.bytes))
            first, listed = False, listed + 1
    parts: list[RenderableType] = [head, Text(""), table]
    if count > listed:
        rest = [(d, i) for d, items in picked.items() for i in items][listed:]
        parts.append(Text(f"… and {len(rest)} more: " + _counted(i for _, i in rest),
                          style="dim"))
    return Group(*parts)


def _counted(items: Iterable[CleanupItem]) -> str:
    counts: dict[str, tuple[int, int]] = {}
    for i in items:
        n, b = counts.get(i.category, (0, 0))
        counts[i.category] = (n + 1, b + i.bytes)
    return ", ".join(f"{n} {c} ({mb(b)})" for c, (n, b) in counts.items())


def outcome(result: CleanupResult, before: CleanupScan | None) -> Text:
    """`5 reclaimed, freed 812.3 MB`, in red with the first failure if any failed."""
    if result.error and not result.reclaimed:
        return Text(result.error, style="bold red")
    parts = [f"{n} {verb}" for n, verb in ((result.reclaimed, "reclaimed"),
                                          (result.skipped, "skipped"),
                                          (len(result.failed), "failed")) if n]
    text = Text(", ".join(parts) or "nothing to do", style="" if result.ok else "red")
    if before is not None and result.disk_used is not None and before.disk_total:
        text.append(f", freed {mb(max(0, before.disk_used - result.disk_used))}", style="green")
    for why in (*result.failed[:1], *([result.error] if result.error else [])):
        text.append(f"  {why}", style="red")
    return text
