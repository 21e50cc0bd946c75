"""The one interface between the TUI and a controller: a Protocol and plain frozen values.

Everything that crosses it is a frozen dataclass of primitives (or fleet's own
value types, e.g. `fleet.model.Plan`), so a later remote client can carry it
over MQTT as JSON. Today `tui.embedded.EmbeddedClient` implements it with the
controller in this process. This module imports no textual: a daemon serving
the same interface can use it.

Blocking calls (`device`, `events`, `plan`, `deploy`, `cleanup_*`) may do IO: the TUI calls
them from worker threads only. `snapshot` never blocks: it returns the latest
fleet snapshot the client holds, so a UI that repaints at its own bounded rate
coalesces any number of updates in between.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fleet.cleanup.rules import tally
from fleet.model import Plan


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device as the fleet table shows it; sizes in MiB, `heard_at` a Unix time."""

    id: str
    site: str = "default"
    profile: str = "?"
    state: str = "offline"  # a fleet.health.impedance.Health value
    managed: bool = True
    cpu_pct: float | None = None
    mem_used_mb: int | None = None
    mem_budget_mb: int | None = None
    disk_used_mb: int | None = None
    disk_budget_mb: int | None = None
    temp_c: float | None = None
    throttled: tuple[str, ...] = ()
    impedance: int | None = None  # the 0-1000 score
    containers_running: int | None = None
    containers_total: int | None = None
    heard_at: float | None = None  # arrival of its latest heartbeat
    problems: tuple[str, ...] = ()
    profile_mismatch: str = ""  # why the board is not its profile, if it says so


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """The whole fleet at one instant: counts, mode and a row per device."""

    at: float
    seq: int  # grows with every snapshot the client publishes
    mode: str  # a fleet.health.view.Mode value
    total: int
    active: int
    degraded: int
    offline: int
    quarantined: int
    devices: tuple[DeviceRow, ...]
    problem: str = ""  # why the client is not hearing the fleet, if it is not


@dataclass(frozen=True, slots=True)
class ImpedanceParts:
    """What a device's impedance is made of (fleet.health.impedance.Impedance, flattened)."""

    latency_ms: float
    processing_ms: float
    queue: int
    drift_ms: float
    reliability: float
    z_ms: float
    score: int


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    """One device in full: its row and what only the detail view shows."""

    row: DeviceRow
    host: str = ""
    arch: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    impedance: ImpedanceParts | None = None
    load1: float | None = None
    gpu_pct: float | None = None
    interval_s: float | None = None
    on_lan: bool | None = None
    addresses: tuple[str, ...] = ()
    bad_payloads: int = 0
    last_bad: str = ""


@dataclass(frozen=True, slots=True)
class EventRow:
    """One entry of the store's append-only events table."""

    at: float
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    """`fleet plan`'s answer for a stack file: the stack's name and the plan, a value."""

    stack: str
    path: str
    plan: Plan
    basis: str = ""  # what it was planned against (fleet.actions.plan.Planned.note)


@dataclass(frozen=True, slots=True)
class DeployEvent:
    """One thing a running deploy says about a device (rollout's Progress, as a value).

    kind "stage": `text` is what it is doing now ("done" and "failed" end it);
    "expect": it will send `nbytes` in all; "sent": `nbytes` more were sent.
    `wave` is the rollout wave the device is in, once rollouts have waves.
    """

    device: str
    kind: str
    text: str = ""
    nbytes: int = 0
    wave: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    device: str
    ok: bool
    error: str = ""
    changed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    """How a deploy ended; `error` set when it stopped before acting (e.g. nothing fits)."""

    stack: str
    ok: bool
    devices: tuple[DeviceOutcome, ...] = ()
    dry_run: bool = False
    deployment: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class CleanupItem:
    """One reclaimable thing on a device (fleet.cleanup.rules.Item): what a person is shown."""

    category: str  # a fleet.cleanup.rules.Category value
    target: str  # what the cleanup playbook acts on: an id, a path, a size to keep
    label: str
    bytes: int


@dataclass(frozen=True, slots=True)
class CleanupScan:
    """A device's reclaimable items, and what was kept and why; `error` if it was not scanned."""

    device: str
    disk_total: int = 0  # bytes, as df saw them when scanned
    disk_used: int = 0
    items: tuple[CleanupItem, ...] = ()
    kept: tuple[tuple[str, str], ...] = ()  # (label, why)
    error: str = ""

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    def by_category(self) -> dict[str, tuple[int, int]]:
        """Category -> (items, bytes), in the items' order (the playbook's)."""
        return tally((i.category, i.bytes) for i in self.items)


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """How reclaiming the chosen items of one device went."""

    device: str
    ok: bool
    reclaimed: int = 0
    skipped: int = 0  # a rule re-checked on the board said no (e.g. the container started)
    failed: tuple[str, ...] = ()  # "category target: why", one per item that failed
    disk_total: int | None = None  # after, as df saw it
    disk_used: int | None = None
    error: str = ""


OnProgress = Callable[[DeployEvent], None]


class Client(Protocol):
    """What the TUI needs from a controller, and nothing more."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def snapshot(self) -> FleetSnapshot | None:
        """The latest snapshot, at once; None until the first one."""
        ...

    def device(self, device_id: str) -> DeviceDetail: ...

    def events(self, device_id: str, limit: int = 50) -> tuple[EventRow, ...]: ...

    def plan(self, stack_path: str) -> PlanResult: ...

    def deploy(self, stack_path: str, on_progress: OnProgress, *,
               dry_run: bool = False) -> DeployOutcome:
        """Run a deploy, telling `on_progress` (from any thread) as each device moves on."""
        ...

    def cleanup_scan(self, device_ids: Sequence[str]) -> tuple[CleanupScan, ...]:
        """Measure each device and say what could be reclaimed; changes nothing."""
        ...

    def cleanup_apply(self, device_id: str, items: Sequence[CleanupItem]) -> CleanupResult:
        """Reclaim exactly `items` (what the user was shown and confirmed) on one device."""
        ...
