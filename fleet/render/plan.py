"""A Plan for people and scripts: `plan_json` for --json, `render` for the terminal (rich)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fleet.model import DeviceFill, Placement, Plan

_BAR = 10
_ASSUMED_SHOWN = 8


def plan_json(plan: Plan, per_board: Collection[str] = ()) -> dict[str, Any]:
    """The plan as `fleet plan --json` prints it; `per_board`: the global services."""
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
        "global": sorted(per_board),
        "assumed": [{"service": name, "mem_mb": mb, "mem_assumed": True}
                    for name, mb in plan.assumed.items()],
    }


def _placement(p: Placement) -> dict[str, Any]:
    return {"service": p.service, "replica": p.replica, "device": p.device,
            "ports": [str(b) for b in p.ports],
            "hosts": [f"{name}:{address}" for name, address in p.hosts]}


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


# Replicas named per board before "and N more": a board of 136 stays a few lines.
REPLICAS_SHOWN = 8


def render(plan: Plan, *, basis: str = "", per_board: Collection[str] = (),
           verbose: bool = False) -> RenderableType:
    """Per device: its fill and its first replicas with ports (every one if `verbose`); then
    what could not be placed; `basis`, what it was planned against, last. `per_board`: the
    global services, shown by name alone (one per board) and counted."""
    parts: list[RenderableType] = [_devices_table(plan, per_board, verbose)]
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
    parts += [_global_line(plan, name) for name in sorted(per_board)]
    parts += _reach_lines(plan)
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


def _global_line(plan: Plan, name: str) -> Text:
    placed = sum(1 for p in plan.placements if p.service == name)
    unplaced = sum(1 for u in plan.unplaced if u.service == name)
    line = f"global {name}: on {_count(placed, 'board')}"
    return Text(line + (f", {unplaced} more may run it but lack room" if unplaced else ""))


def _reach_lines(plan: Plan) -> list[Text]:
    """Each replica that reaches a service it names on another board, and the ports that
    service publishes there for it."""
    first: dict[str, Placement] = {}
    for p in sorted(plan.placements, key=lambda p: -p.replica):
        first[p.service] = p
    lines = []
    for p in plan.placements:
        for name, address in p.hosts:
            there = first.get(name)
            ports = ", ".join(str(b.host) for b in there.ports if b.host == b.container) \
                if there is not None else ""
            lines.append(Text(
                f"  {_label(p, ())} on {p.device} reaches {name} on "
                f"{there.device if there else '?'} at {address}"
                + (f", which publishes {ports} there" if ports else
                   f": {name} lists no port (add `expose:`)")))
    return lines


def _devices_table(plan: Plan, per_board: Collection[str], verbose: bool) -> Table:
    by_device: dict[str, list[Placement]] = defaultdict(list)
    for p in plan.placements:
        by_device[p.device].append(p)
    table = Table("device", "memory", "disk", "CPU", "containers", title="plan",
                  show_lines=True)
    table.columns[0].no_wrap = True
    for d in plan.devices:
        labels = [_label(p, per_board) for p in by_device.get(d.device, ())]
        shown = labels if verbose else labels[:REPLICAS_SHOWN]
        names = ", ".join(shown) + (f" and {len(labels) - len(shown)} more (--verbose)"
                                    if len(labels) > len(shown) else "")
        table.add_row(f"{d.device}\n[dim]{d.profile}[/]",
                      bar(d.used.mem_mb, d.budget.mem_mb, "mb"),
                      bar(d.used.disk_mb, d.budget.disk_mb, "mb"),
                      bar(d.used.cpu_millis, d.budget.cpu_millis, "cpu"),
                      Text(f"{d.containers}: {names}" if names else "-"))
    return table


def _label(p: Placement, per_board: Collection[str]) -> str:
    ports = ",".join(str(b.host) for b in p.ports)
    replica = f"#{p.replica}" if p.replica and p.service not in per_board else ""
    return f"{p.service}{replica}" + (f":{ports}" if ports else "")


def _unplaced_table(plan: Plan) -> Table:
    table = Table("service", "replica", "why not (devices ruled out)", title="unplaced",
                  title_style="bold red")
    for u in plan.unplaced:
        why = "\n".join(f"{reason} ({count})" for reason, count in u.reasons.items())
        table.add_row(u.service, str(u.replica), why or "no devices")
    return table
