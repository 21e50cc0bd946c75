"""PURE: the controller's FleetView and inventory -> the client interface's values.

Called on the thread that owns the view (it has no locks), at the client's
bounded snapshot rate, never per heartbeat.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleet.health.store import Event
from fleet.health.view import DeviceRecord, FleetView
from fleet.model import Device
from tui.client import DeviceDetail, DeviceRow, EventRow, FleetSnapshot, ImpedanceParts


def row(record: DeviceRecord, device: Device | None, now: float) -> DeviceRow:
    """A device's table row: its latest heartbeat, else its inventory budget and no readings."""
    hb = record.heartbeat
    imp = record.impedance()
    budget = device.budget if device is not None else None
    site = device.site if device is not None else "-"
    profile = device.profile.name if device is not None else "?"
    if hb is None:
        return DeviceRow(record.id, site, profile, record.health(now).value, record.managed,
                         mem_budget_mb=budget.mem_mb if budget else None,
                         disk_budget_mb=budget.disk_mb if budget else None)
    containers = hb.containers
    return DeviceRow(
        record.id, site, profile, record.health(now).value, record.managed,
        cpu_pct=hb.cpu_pct, mem_used_mb=hb.mem_used_mb, mem_budget_mb=hb.mem_budget_mb,
        disk_used_mb=hb.disk_used_mb, disk_budget_mb=hb.disk_budget_mb, temp_c=hb.temp_c,
        throttled=tuple(hb.throttled or ()), impedance=imp.score if imp else None,
        containers_running=containers.running if containers else None,
        containers_total=containers.total if containers else None,
        heard_at=record.last_seen, problems=tuple(hb.problems),
        profile_mismatch=_mismatch(record, device))


def _mismatch(record: DeviceRecord, device: Device | None) -> str:
    found = record.mismatch(device.profile.name if device is not None else None)
    return "" if found is None else found.reason


def snapshot(view: FleetView, devices: Mapping[str, Device], now: float, seq: int,
             problem: str = "") -> FleetSnapshot:
    """Every device the fleet counts (inventory and bus), in view order, with the summary."""
    s = view.summary(now)
    rows = tuple(row(r, devices.get(r.id), now) for r in view.devices.values()
                 if r.expected or r.on_bus)
    return FleetSnapshot(now, seq, s.mode.value, s.total, s.active, s.degraded, s.offline,
                         s.quarantined, rows, problem)


def detail(view: FleetView, devices: Mapping[str, Device], device_id: str,
           now: float) -> DeviceDetail | None:
    """One device in full; None if the view has never heard of it."""
    record = view.devices.get(device_id)
    if record is None:
        return None
    device = devices.get(device_id)
    hb, imp = record.heartbeat, record.impedance()
    parts = None if imp is None else ImpedanceParts(
        imp.latency_ms, imp.processing_ms, imp.queue, imp.drift_ms, imp.reliability,
        imp.z_ms, imp.score)
    return DeviceDetail(
        row(record, device, now),
        host=device.host if device else "",
        arch=str(device.arch) if device else "",
        labels=tuple(sorted(device.labels.items())) if device else (),
        impedance=parts,
        load1=hb.load1 if hb else None,
        gpu_pct=hb.gpu.load_pct if hb and hb.gpu else None,
        interval_s=hb.interval_s if hb else None,
        on_lan=record.on_lan,
        addresses=tuple(record.lan.addresses) if record.lan else (),
        bad_payloads=record.bad, last_bad=record.last_bad)


def events(found: list[Event]) -> tuple[EventRow, ...]:
    return tuple(EventRow(e.at, e.kind, e.detail) for e in found)
