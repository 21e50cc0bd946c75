"""The controller's view of the fleet, built from what the bus delivers: pure, no IO, no clock.

Ingest feeds it heartbeats, presence messages and dropped payloads, each with
its arrival time; readers ask it for each device's health and the fleet's
mode at a time they choose. A device's newest heartbeat is the one its agent
numbered last (fleet.health.order), whatever order they arrive in; whether
the device is alive is for fleet.health.liveness to say.

mDNS sightings (fleet.lan.sightings) add boards to the view, unmanaged until the
inventory names them, and say whether each is on the LAN now; they never
decide liveness: an agent that stops advertising but still heartbeats is
alive, and one that advertises but is silent on the bus is not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from fleet.health.impedance import Impedance
from fleet.health.liveness import Health, Liveness, state
from fleet.health.order import Position, Verdict, judge
from fleet.lan.boards import BoardFacts, Identity, identify
from fleet.lan.sightings import DeviceSeen
from fleet.wire import Heartbeat, State


class Mode(StrEnum):
    """The fleet's operational mode, from the share of its devices that are active."""

    FULL = "FULL"
    DEGRADED_LIGHT = "DEGRADED_LIGHT"
    DEGRADED_MODERATE = "DEGRADED_MODERATE"
    DEGRADED_SEVERE = "DEGRADED_SEVERE"
    EMERGENCY = "EMERGENCY"


MODE_FLOORS = ((0.95, Mode.FULL), (0.80, Mode.DEGRADED_LIGHT), (0.60, Mode.DEGRADED_MODERATE),
               (0.30, Mode.DEGRADED_SEVERE))


def mode(active: int, total: int) -> Mode:
    """FULL at 95 % active or more, then LIGHT 80, MODERATE 60, SEVERE 30, else EMERGENCY."""
    share = active / total if total else 1.0
    return next((m for floor, m in MODE_FLOORS if share >= floor), Mode.EMERGENCY)


@dataclass(slots=True)
class DeviceRecord:
    """What the controller has heard from one device."""

    id: str
    expected: bool  # in the inventory
    heartbeat: Heartbeat | None = None  # its newest, by the agent's run and seq
    position: Position | None = None  # that heartbeat's run and seq
    liveness: Liveness = field(default_factory=Liveness)
    online: bool | None = None  # from the retained presence message; None: not heard
    presence_at: float | None = None
    bad: int = 0  # payloads dropped
    last_bad: str = ""
    stale: int = 0  # heartbeats older than its newest when they arrived, or repeated
    restarts: int = 0  # runs of its agent heard after the first
    lan: DeviceSeen | None = None  # its latest mDNS sighting
    lan_gone_at: float | None = None  # when it withdrew from mDNS; None while it is there

    @property
    def managed(self) -> bool:
        """In the inventory; a board only discovered or heard is not managed until it is."""
        return self.expected

    @property
    def last_seen(self) -> float | None:
        """Arrival of its newest heartbeat."""
        return self.liveness.last_seen

    @property
    def intervals(self) -> deque[float]:
        return self.liveness.intervals

    @property
    def on_bus(self) -> bool:
        return self.last_seen is not None or self.presence_at is not None

    @property
    def on_lan(self) -> bool | None:
        """On mDNS now; None if it was never seen there."""
        return None if self.lan is None else self.lan_gone_at is None

    def alive(self, now: float) -> bool:
        declared = self.heartbeat.interval_s if self.heartbeat else None
        return self.liveness.alive(now, declared)

    def impedance(self) -> Impedance | None:
        if self.heartbeat is None:
            return None
        w = self.heartbeat.impedance
        return Impedance(w.latency_ms, w.processing_ms, w.queue, w.drift_ms, w.reliability)

    def board(self) -> Identity | None:
        """What the board says it is (its heartbeat's model and memory); None if it says
        nothing. An agent that could read only a Jetson's L4T release sends that line."""
        hb = self.heartbeat
        if hb is None or not hb.model:
            return None
        facts = (BoardFacts(tegra_release=hb.model) if hb.model.lstrip().startswith("# R")
                 else BoardFacts(hb.model, hb.mem_total_mb or None))
        return identify(facts)

    def mismatch(self, profile: str | None) -> Identity | None:
        """What the board says, if it rules out the inventory's `profile`; else None."""
        board = self.board()
        return board if profile is not None and board and board.disagrees(profile) else None

    def health(self, now: float) -> Health:
        imp = self.impedance()
        alive = self.alive(now)
        return state(imp, alive=alive) if imp is not None else Health.OFFLINE


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    active: int
    degraded: int
    offline: int
    quarantined: int
    mode: Mode


class FleetView:
    """Every device heard of or expected, and how it is doing."""

    def __init__(self, expected: Iterable[str] = ()) -> None:
        self.devices: dict[str, DeviceRecord] = {i: DeviceRecord(i, True) for i in expected}

    def _record(self, device_id: str) -> DeviceRecord:
        record = self.devices.get(device_id)
        if record is None:
            record = self.devices[device_id] = DeviceRecord(device_id, expected=False)
        return record

    def heartbeat(self, device_id: str, hb: Heartbeat, at: float) -> bool:
        """Take `hb` if it is the device's newest; False if it is stale (late or repeated)."""
        r = self._record(device_id)
        verdict, r.position = judge(r.position, hb)
        if verdict is Verdict.STALE:
            r.stale += 1
            return False
        if verdict is Verdict.RESTART:
            r.restarts += 1
            r.liveness.restarted()
        r.heartbeat = hb
        r.liveness.heartbeat(at)
        return True

    def presence(self, device_id: str, message: State, at: float) -> None:
        r = self._record(device_id)
        r.online, r.presence_at = message.state == "online", at
        r.liveness.presence(r.online, at)

    def bad(self, device_id: str, reason: str, at: float) -> None:
        r = self._record(device_id)
        r.bad += 1
        r.last_bad = reason

    def seen_on_lan(self, seen: DeviceSeen, at: float) -> None:
        r = self._record(seen.id)
        r.lan, r.lan_gone_at = seen, None

    def gone_from_lan(self, device_id: str, at: float) -> None:
        """Noted, no more: only heartbeats and the Last Will decide offline."""
        r = self.devices.get(device_id)
        if r is not None and r.lan is not None:
            r.lan_gone_at = at

    def health(self, now: float) -> dict[str, Health]:
        return {i: r.health(now) for i, r in self.devices.items()}

    def summary(self, now: float) -> Summary:
        """The fleet: what the inventory names and what speaks on the bus, not LAN sightings."""
        counts = {h: 0 for h in Health}
        counted = [r for r in self.devices.values() if r.expected or r.on_bus]
        for r in counted:
            counts[r.health(now)] += 1
        total = len(counted)
        return Summary(total, counts[Health.ACTIVE], counts[Health.DEGRADED],
                       counts[Health.OFFLINE], counts[Health.QUARANTINED],
                       mode(counts[Health.ACTIVE], total))
