"""`fleet cleanup`'s output: reclaimable space per device and category, and what was freed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fleet.cleanup.board import DeviceCleanup
from fleet.cleanup.rules import Disk, Reclaim


def mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _disk(disk: Disk, used: int | None = None) -> str:
    return f"{disk.pct(used):.1f} %"


def render(results: Sequence[DeviceCleanup], *, applied: bool) -> RenderableType:
    table = Table("device", "category", "items", "reclaimable", "disk now", "after",
                  title="fleet cleanup" + ("" if applied else " (dry run: add --apply)"))
    for r in results:
        if r.reclaim is None:
            table.add_row(r.device, Text(r.error, style="red"), "", "", "", "")
            continue
        rows = r.reclaim.by_category()
        after = _after(r)
        first = True
        for category, (n, size) in rows.items() or {"nothing to reclaim": (0, 0)}.items():
            table.add_row(r.device if first else "", str(category), str(n) if n else "",
                          mb(size) if n else "",
                          _disk(r.reclaim.disk) if first else "", after if first else "")
            first = False
        table.add_section()
    notes: list[RenderableType] = [table]
    for r in results:
        if r.applied is not None:
            notes.append(_applied_line(r))
        elif r.error and r.reclaim is not None:
            notes.append(Text(f"{r.device}: {r.error}", style="red"))
        if r.reclaim is not None and r.reclaim.kept:
            notes.append(Text(f"{r.device} kept: {_kept(r.reclaim)}", style="dim"))
    return Group(*notes)


def _after(r: DeviceCleanup) -> str:
    assert r.reclaim is not None
    if r.applied is not None and r.applied.disk is not None:
        return _disk(r.applied.disk)  # as measured
    return _disk(r.reclaim.disk, r.reclaim.used_after)  # as expected


def _applied_line(r: DeviceCleanup) -> Text:
    assert r.applied is not None
    counts = ", ".join(f"{r.applied.count(v)} {v}" for v in ("reclaimed", "skipped", "failed")
                       if r.applied.count(v))
    freed = f"; freed {mb(r.freed)}" if r.freed is not None else ""
    text = Text(f"{r.device}: {counts}{freed}", style="red" if not r.ok else "")
    for o in r.applied.outcomes:
        if o.verb == "failed":
            text.append(f"\n  failed {o.category} {o.target}: {o.why}")
    if r.applied.error:
        text.append(f"\n  the cleanup playbook failed: {r.applied.error}")
    return text


def _kept(reclaim: Reclaim) -> str:
    """What was kept, by reason, the biggest groups first: `3 running, 1 kept for rollback`."""
    counts = Counter(k.why for k in reclaim.kept)
    return ", ".join(f"{n} {why}" for why, n in counts.most_common())


def cleanup_json(results: Sequence[DeviceCleanup], *, applied: bool) -> dict[str, Any]:
    return {"apply": applied, "ok": all(r.ok for r in results),
            "devices": [_device_json(r) for r in results]}


def _device_json(r: DeviceCleanup) -> dict[str, Any]:
    out: dict[str, Any] = {"device": r.device, "ok": r.ok, "error": r.error}
    if r.reclaim is not None:
        rc = r.reclaim
        out.update(
            disk=_disk_json(rc.disk), reclaimable_bytes=rc.bytes,
            after_pct=round(rc.disk.pct(rc.used_after), 2),
            categories={str(c): {"items": n, "bytes": b} for c, (n, b) in rc.by_category().items()},
            items=[{"category": str(i.category), "target": i.target, "label": i.label,
                    "bytes": i.bytes} for i in rc.items],
            kept=[{"label": k.label, "why": k.why} for k in rc.kept])
    if r.applied is not None:
        out["applied"] = {
            "reclaimed": r.applied.count("reclaimed"), "skipped": r.applied.count("skipped"),
            "failed": r.applied.count("failed"), "freed_bytes": r.freed,
            "disk": _disk_json(r.applied.disk) if r.applied.disk else None,
            "error": r.applied.error,
            "outcomes": [{"outcome": o.verb, "category": o.category, "target": o.target,
                          "why": o.why} for o in r.applied.outcomes]}
    return out


def _disk_json(disk: Disk) -> dict[str, Any]:
    return {"total_bytes": disk.total, "used_bytes": disk.used, "used_pct": round(disk.pct(), 2)}
