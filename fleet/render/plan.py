"""A Plan for people and scripts: `plan_json` for --json, `render` for the terminal (rich)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fleet.model import DeviceFill, Placement, Plan

_BAR = 10
_ASSUMED_SHOWN = 8


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as `fleet plan --json` prints it."""
    return {
        "placements": [_placement(p) for p in plan.placements],
        "unplaced": [{"service": u.service, "replica": u.replica, "reasons": dict(u.reasons)}
                     for u in plan.unplaced],
        "devices": [_device(d) for d in plan.devices],
        "moves": len(plan.moves),
        "move_list": [{"service": m.service, "replica": m.replica, "from": m.source,
                       "to": m.target} for m in plan.moves],
        "stops": [_placement(p) for p in plan.stops],
        "devices_used": plan.devices_used,
        "seed": plan.seed,
        "assumed": [{"service": name, "mem_mb": mb, "mem_assumed": True}
                    for name, mb in plan.assumed.items()],
    }


def _placement(p: Placement) -> dict[str, Any]:
    return {"service": p.service, "replica": p.replica, "device": p.device,
            "ports": [str(b) for b in p.ports]}


def _device(d: DeviceFill) -> dict[str, Any]:
    return {
        "id": d.device, "profile": d.profile, "containers": d.containers,
        "mem_pct": round(d.pct("mem_mb"), 1), "disk_pct": round(d.pct("disk_mb"), 1),
        "cpu_pct": round(d.pct("cpu_millis"), 1),
        "used": {"mem_mb": d.used.mem_mb, "disk_mb": d.used.disk_mb,
                 "cpu_millis": d.used.cpu_millis},
        "budget": {"mem_mb": d.budget.mem_mb, "disk_mb": d.budget.disk_mb,
                   "cpu_millis": d.budget.cpu_millis},
    }


def bar(used: int, total: int, unit: str) -> Text:
    """`███████░░░  72% 5.6/7.7 GiB`, green to red as it fills."""
    text = fill_bar(100.0 * used / total if total > 0 else 0.0, _BAR)
    text.append(f" {_amount(used, unit)}/{_amount(total, unit)}")
    return text


def fill_bar(pct: float, width: int) -> Text:
    """`███████░░░  72%`: `width` cells, green to red as it fills."""
    filled = min(width, round(pct / 100 * width))
    color = "green" if pct < 70 else "yellow" if pct < 90 else "red"
    text = Text("█" * filled, style=color)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {pct:3.0f}%")
    return text


def _amount(value: int, unit: str) -> str:
    if unit == "cpu":
        return f"{value / 1000:g}"
    return f"{value / 1024:.1f}G" if abs(value) >= 1024 else f"{value}M"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render(plan: Plan, *, basis: str = "") -> RenderableType:
    """Per device: its replicas with ports and its fill; then what could not be placed;
    `basis`, what it was planned against, last."""
    parts: list[RenderableType] = [_devices_table(plan)]
    if plan.unplaced:
        parts.append(_unplaced_table(plan))
    summary = (f"{len(plan.placements)} placed on {_count(plan.devices_used, 'device')}, "
               f"{len(plan.unplaced)} unplaced, {_count(len(plan.moves), 'move')}, "
               f"{_count(len(plan.stops), 'stop')}")
    parts.append(Text(summary, style="bold"))
    for m in plan.moves:
        parts.append(Text(f"  move {m.service}#{m.replica}: {m.source} -> {m.target or '-'}"))
    for p in plan.stops:
        parts.append(Text(f"  stop {p.service}#{p.replica} on {p.device}"))
    if plan.assumed:
        parts.append(assumed_line(plan.assumed))
    if basis:
        parts.append(Text(basis, style="dim"))
    return Group(*parts)


def assumed_line(assumed: Mapping[str, int]) -> Text:
    """Which services' memory the plan assumed, and how to give a figure instead."""
    shown = ", ".join(f"{name} {mb}M" for name, mb in list(assumed.items())[:_ASSUMED_SHOWN])
    more = len(assumed) - _ASSUMED_SHOWN
    text = Text(f"memory assumed for {_count(len(assumed), 'service')} with no figure: {shown}"
                + (f" and {more} more" if more > 0 else ""), style="yellow")
    text.append("\n  (give mem_reservation or mem_limit, or x-fleet.mem_estimate; "
                "--strict refuses them)", style="dim")
    return text


def _devices_table(plan: Plan) -> Table:
    by_device: dict[str, list[Placement]] = defaultdict(list)
    for p in plan.placements:
        by_device[p.device].append(p)
    table = Table("device", "memory", "disk", "CPU", "containers", title="plan",
                  show_lines=True)
    table.columns[0].no_wrap = True
    for d in plan.devices:
        names = ", ".join(_label(p) for p in by_device.get(d.device, ()))
        table.add_row(f"{d.device}\n[dim]{d.profile}[/]",
                      bar(d.used.mem_mb, d.budget.mem_mb, "mb"),
                      bar(d.used.disk_mb, d.budget.disk_mb, "mb"),
                      bar(d.used.cpu_millis, d.budget.cpu_millis, "cpu"),
                      Text(f"{d.containers}: {names}" if names else "-"))
    return table


def _label(p: Placement) -> str:
    ports = ",".join(str(b.host) for b in p.ports)
    replica = f"#{p.replica}" if p.replica else ""
    return f"{p.service}{replica}" + (f":{ports}" if ports else "")


def _unplaced_table(plan: Plan) -> Table:
    table = Table("service", "replica", "why not (devices ruled out)", title="unplaced",
                  title_style="bold red")
    for u in plan.unplaced:
        why = "\n".join(f"{reason} ({count})" for reason, count in u.reasons.items())
        table.add_row(u.service, str(u.replica), why or "no devices")
    return table
