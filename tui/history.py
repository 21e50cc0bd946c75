"""PURE: a short ring buffer of each device's readings, fed from successive snapshots."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tui.client import DeviceRow, FleetSnapshot

KEPT = 60  # a minute of one-second heartbeats, five of five-second ones
FIELDS = ("cpu", "mem", "disk", "temp", "z")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    cpu: float | None
    mem: float | None  # percent of the memory budget
    disk: float | None  # percent of the disk budget
    temp: float | None
    z: float | None


def sample(row: DeviceRow) -> Sample:
    def pct(used: int | None, budget: int | None) -> float | None:
        return None if used is None or not budget else 100.0 * used / budget

    return Sample(row.heard_at or 0.0, row.cpu_pct, pct(row.mem_used_mb, row.mem_budget_mb),
                  pct(row.disk_used_mb, row.disk_budget_mb), row.temp_c,
                  None if row.impedance is None else float(row.impedance))


class History:
    """Per device, its last KEPT heartbeats' readings; a snapshot adds only new heartbeats.

    Snapshots come at the UI's rate, heartbeats at each device's: a device is
    sampled when its `heard_at` moved, so one heartbeat is one sample however
    many snapshots show it.
    """

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._samples: dict[str, deque[Sample]] = {}

    def feed(self, snapshot: FleetSnapshot) -> None:
        for row in snapshot.devices:
            if row.heard_at is None:
                continue
            found = self._samples.get(row.id)
            if found is None:
                found = self._samples[row.id] = deque(maxlen=self._kept)
            elif found[-1].at >= row.heard_at:
                continue
            found.append(sample(row))

    def series(self, device: str, field: str) -> list[float]:
        """The known values of one field, oldest first (gaps left out)."""
        values = (getattr(s, field) for s in self._samples.get(device, ()))
        return [v for v in values if v is not None]

    def __len__(self) -> int:
        return len(self._samples)
