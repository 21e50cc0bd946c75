"""The fleet's state for people and scripts: `status_json` for --json, `render` for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fleet.health.liveness import Health
from fleet.health.view import DeviceRecord, FleetView

_STYLE = {Health.ACTIVE: "green", Health.DEGRADED: "yellow", Health.OFFLINE: "red",
          Health.QUARANTINED: "magenta"}


def status_json(view: FleetView, now: float, profiles: Mapping[str, str]) -> dict[str, Any]:
    """`fleet status --json`: every device (inventory order, then the unknown) and the summary.

    `profiles` maps inventory device ids to their profile names.
    """
    s = view.summary(now)
    return {
        "devices": [_device(r, now, profiles.get(r.id)) for r in view.devices.values()],
        "summary": {"total": s.total, "active": s.active, "degraded": s.degraded,
                    "offline": s.offline, "quarantined": s.quarantined, "mode": s.mode.value},
    }


def _device(r: DeviceRecord, now: float, profile: str | None) -> dict[str, Any]:
    hb, imp = r.heartbeat, r.impedance()
    board, mismatch = r.board(), r.mismatch(profile)
    return {
        "id": r.id,
        "state": r.health(now).value,
        "profile": profile,
        "board_model": hb and hb.model,
        "board_profile": board and board.proposal(profile),
        "profile_mismatch": None if mismatch is None else mismatch.reason,
        "in_inventory": r.expected,
        "managed": r.managed,
        "on_lan": r.on_lan,
        "addresses": list(r.lan.addresses) if r.lan else None,
        "enrolled": r.lan.enrolled if r.lan else None,
        "mem_used_mb": hb and hb.mem_used_mb,
        "mem_budget_mb": hb and hb.mem_budget_mb,
        "disk_used_mb": hb and hb.disk_used_mb,
        "disk_budget_mb": hb and hb.disk_budget_mb,
        "cpu_pct": hb and hb.cpu_pct,
        "temp_c": hb and hb.temp_c,
        "throttled": hb and hb.throttled,
        "containers": hb and hb.containers and {"running": hb.containers.running,
                                               "total": hb.containers.total},
        "impedance": imp and {"score": imp.score, "latency_ms": round(imp.latency_ms, 1),
                              "processing_ms": round(imp.processing_ms, 1), "queue": imp.queue,
                              "drift_ms": round(imp.drift_ms, 1),
                              "reliability": round(imp.reliability, 3)},
        "problems": hb.problems if hb else [],
        "bad_payloads": r.bad,
        "last_seen_s": None if r.last_seen is None else round(max(0.0, now - r.last_seen), 1),
    }


def render(view: FleetView, now: float, profiles: Mapping[str, str]) -> RenderableType:
    """A table of devices and a summary line naming the fleet's mode."""
    document = status_json(view, now, profiles)
    table = Table("device", "state", "profile", "mem MB", "disk MB", "temp", "Z",
                  "ctrs", "seen", "notes", title="fleet status")
    for column in table.columns:  # numbers stay whole; the profile and notes give way
        column.no_wrap = column.header not in ("profile", "notes")
    for d in document["devices"]:
        health = Health(d["state"])
        imp, containers = d["impedance"], d["containers"]
        notes = [*d["problems"], *(d["throttled"] or [])]
        if d["profile_mismatch"]:
            notes.insert(0, f"not a {d['profile']}: {d['profile_mismatch']}")
        if d["bad_payloads"]:
            notes.append(f"dropped payloads: {d['bad_payloads']}")
        if not d["in_inventory"]:
            notes.append("unmanaged: not in inventory")
        if d["enrolled"] is False:
            notes.append("bare board: no agent")
        if d["on_lan"] is False:
            notes.append("left mDNS")
        table.add_row(
            d["id"], Text(health.value, style=_STYLE[health]),
            Text(d["profile"] or "?", style="red" if d["profile_mismatch"] else ""),
            _against(d["mem_used_mb"], d["mem_budget_mb"]),
            _against(d["disk_used_mb"], d["disk_budget_mb"]),
            "-" if d["temp_c"] is None else f"{d['temp_c']:.0f} C",
            "-" if imp is None else str(imp["score"]),
            "-" if containers is None else f"{containers['running']}/{containers['total']}",
            "never" if d["last_seen_s"] is None else f"{d['last_seen_s']:.0f}s",
            ", ".join(notes))
    s = document["summary"]
    line = Text.assemble(
        (f"{s['mode']}", "bold"),
        f"  {s['active']}/{s['total']} active, {s['degraded']} degraded, "
        f"{s['offline']} offline, {s['quarantined']} quarantined")
    return Group(table, line)


def _against(used: int | None, budget: int | None) -> str:
    if used is None or budget is None:
        return "-"
    return f"{used:,}/{budget:,}"
