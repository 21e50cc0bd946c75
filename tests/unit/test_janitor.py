"""fleet.cleanup.janitor: the cleanup policy run from the controller's loop, with a fake cleaner."""

from __future__ import annotations

import threading

from fleet.cleanup.board import DeviceCleanup, Outcome, Reclaimed
from fleet.cleanup.janitor import Choose, Janitor, Note, report
from fleet.cleanup.rules import MB, Category, Disk, Item, Policy, Reclaim
from fleet.model import Device
from tests.kit import device

DEVICES = [device("pi-01"), device("pi-02")]
DISK = Disk(total=100 * MB, used=90 * MB)
ITEMS = (Item(Category.TMP, "/tmp/a", "/tmp/a", 6 * MB),
         Item(Category.DANGLING, "sha256:d", "sha256:d", 20 * MB))


class Cleaner:
    """Cleans by `choose`-ing among ITEMS. A device `held` waits at its gate until the test
    sets it; `begun[device]` is set as a cleaning of it starts."""

    def __init__(self, *held: str) -> None:
        self.gates = {d: threading.Event() for d in held}
        self.begun = {d.id: threading.Event() for d in DEVICES}
        self.calls: list[str] = []

    def __call__(self, device: Device, choose: Choose) -> DeviceCleanup:
        self.calls.append(device.id)
        self.begun[device.id].set()
        if device.id in self.gates:
            self.gates[device.id].wait(5)
        chosen = choose(Reclaim(device.id, DISK, ITEMS, ()))
        outcomes = tuple(Outcome("reclaimed", i.category, i.target) for i in chosen.items)
        after = Disk(DISK.total, DISK.used - chosen.bytes)
        return DeviceCleanup(device.id, chosen, Reclaimed(device.id, outcomes, after))


def settle(janitor: Janitor, now: float) -> list[Note]:
    return janitor.close() + janitor.tick({}, now)


def test_a_device_over_the_high_water_mark_is_cleaned_down_to_the_low_one() -> None:
    clean = Cleaner()
    janitor = Janitor(DEVICES, Policy(high_pct=85, low_pct=80), clean)
    started = janitor.tick({"pi-01": (90 * MB, 100 * MB), "pi-02": (50 * MB, 100 * MB)}, 0.0)
    assert [(n.device, n.kind) for n in started] == [("pi-01", "cleanup_started")]
    assert "disk at 90.0 %, over 85 %" in started[0].detail
    notes = settle(janitor, 1.0)
    # 6 MB of /tmp leaves 84 %: the dangling image too, to get under 80 %.
    assert [(n.kind, n.detail) for n in notes] == [
        ("cleanup_reclaimed", "tmp /tmp/a (6.0 MB)"),
        ("cleanup_reclaimed", "dangling sha256:d (20.0 MB)"),
        ("cleanup_done", "freed 26.0 MB; disk now 64.0 %")]
    assert clean.calls == ["pi-01"]


def test_a_device_being_cleaned_or_cleaned_lately_is_not_started_again() -> None:
    clean = Cleaner("pi-01")
    janitor = Janitor(DEVICES, Policy(), clean, cooldown_s=600)
    full = {"pi-01": (95 * MB, 100 * MB)}
    assert len(janitor.tick(full, 0.0)) == 1
    assert janitor.tick(full, 10.0) == []  # still running
    clean.gates["pi-01"].set()
    assert [n.kind for n in settle(janitor, 20.0)][-1] == "cleanup_done"
    assert clean.calls == ["pi-01"]


def test_the_cooldown_ends() -> None:
    # One worker cleans one device after another: once pi-02's cleaning has begun, pi-01's
    # has finished, and the next tick reports it.
    clean = Cleaner("pi-01", "pi-02")
    janitor = Janitor(DEVICES, Policy(), clean, cooldown_s=600, workers=1)
    full = {"pi-01": (95 * MB, 100 * MB)}
    janitor.tick(full, 0.0)
    janitor.tick({"pi-02": (95 * MB, 100 * MB)}, 1.0)
    clean.gates["pi-01"].set()
    assert clean.begun["pi-02"].wait(5)
    notes = janitor.tick(full, 599.0)  # pi-01 is done and still full, but within the cooldown
    assert [n.kind for n in notes][-1] == "cleanup_done"
    assert "cleanup_started" not in [n.kind for n in notes]
    assert [n.kind for n in janitor.tick(full, 600.0)] == ["cleanup_started"]
    clean.gates["pi-02"].set()
    janitor.close()


def test_devices_outside_the_inventory_are_never_touched() -> None:
    clean = Cleaner()
    janitor = Janitor(DEVICES, Policy(), clean)
    assert janitor.tick({"stranger": (99 * MB, 100 * MB)}, 0.0) == []
    janitor.close()
    assert clean.calls == []


def test_a_failed_scan_and_a_failed_item_are_events() -> None:
    assert report(DeviceCleanup("pi-01", error="pi-01: connection refused")) == [
        Note("pi-01", "cleanup_failed", "pi-01: connection refused")]
    chosen = Reclaim("pi-01", DISK, ITEMS[:1], ())
    failed = Reclaimed("pi-01", (Outcome("failed", "tmp", "/tmp/a", "Permission denied"),), DISK)
    notes = report(DeviceCleanup("pi-01", chosen, failed))
    assert [(n.kind, n.detail) for n in notes] == [
        ("cleanup_failed", "tmp /tmp/a (6.0 MB): Permission denied"),
        ("cleanup_failed", "some items could not be reclaimed")]


def test_nothing_safe_to_reclaim_is_said_so() -> None:
    notes = report(DeviceCleanup("pi-01", Reclaim("pi-01", DISK, (), ())))
    assert notes == [Note("pi-01", "cleanup_done", "nothing safe to reclaim; disk at 90.0 %")]


def test_a_cleaner_that_raises_is_an_event_not_a_crash() -> None:
    def broken(device: Device, choose: Choose) -> DeviceCleanup:
        raise RuntimeError("boom")

    janitor = Janitor(DEVICES, Policy(), broken)
    janitor.tick({"pi-01": (95 * MB, 100 * MB)}, 0.0)
    assert janitor.close() == [Note("pi-01", "cleanup_failed", "RuntimeError: boom")]
