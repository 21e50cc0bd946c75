"""The cleanup view's pure parts, and fleet's cleanup values to and from the client's."""

from __future__ import annotations

import pytest
from rich.console import Console

from fleet.cleanup.board import DeviceCleanup, Outcome, Reclaimed
from fleet.cleanup.rules import Category, Disk, Item, Kept, Reclaim
from fleet.errors import FleetError
from tests.unit.tuikit import MB, cleanup_items
from tui import cleaning, reclaim, simulated
from tui.client import CleanupItem, CleanupResult, CleanupScan
from tui.embedded import EmbeddedClient


def text(renderable: object) -> str:
    console = Console(width=100, record=True, file=None, color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


def scan(device: str = "pi-a", **overrides: object) -> CleanupScan:
    values: dict[str, object] = dict(disk_total=1000 * MB, disk_used=900 * MB,
                                     items=cleanup_items(device))
    values.update(overrides)
    return CleanupScan(device, **values)  # type: ignore[arg-type]


def test_rows_are_per_category_with_counts_and_a_line_for_nothing_or_an_error() -> None:
    found = reclaim.rows([scan("pi-a"), scan("pi-b", items=()), scan("pi-c", error="refused")])
    assert [(r.device, r.category, r.items, r.bytes // MB) for r in found] == [
        ("pi-a", "tmp", 1, 120), ("pi-a", "stopped", 2, 15), ("pi-a", "dangling", 1, 640),
        ("pi-b", "", 0, 0), ("pi-c", "", 0, 0)]
    assert found[3].note == "nothing to reclaim" and found[4].note == "refused"


def test_chosen_takes_whole_categories_of_the_selected_devices_only() -> None:
    picked = reclaim.chosen([scan("pi-a"), scan("pi-b")],
                            {("pi-a", "stopped"), ("pi-b", "tmp"), ("pi-c", "tmp")})
    assert {d: [i.label for i in items] for d, items in picked.items()} == {
        "pi-a": ["old-backup", "nightly-[report]"], "pi-b": ["/tmp/dump.bin"]}
    assert reclaim.after(scan("pi-a"), picked["pi-a"]) == "88.5 %"


def test_the_question_names_every_item_with_its_size_and_the_total() -> None:
    said = text(reclaim.question({"pi-a": cleanup_items("pi-a")}))
    assert "Remove these 4 item(s), 775.0 MB, on 1 device(s)?" in said
    for item in cleanup_items("pi-a"):
        assert item.label in said
    assert "640.0 MB" in said and "more" not in said


def test_a_long_question_lists_the_first_items_and_counts_the_rest() -> None:
    many = tuple(CleanupItem("dangling", f"sha256:{k}", f"image-{k:03d}", MB)
                 for k in range(reclaim.LISTED + 5))
    said = text(reclaim.question({"pi-a": many}))
    assert f"image-{reclaim.LISTED - 1:03d}" in said and f"image-{reclaim.LISTED:03d}" not in said
    assert "… and 5 more: 5 dangling (5.0 MB)" in said


@pytest.mark.parametrize(("result", "expected"), [
    (CleanupResult("pi-a", True, reclaimed=3, disk_total=1000 * MB, disk_used=700 * MB),
     "3 reclaimed, freed 200.0 MB"),
    (CleanupResult("pi-a", False, reclaimed=1, skipped=1, failed=("stopped c1: in use",)),
     "1 reclaimed, 1 skipped, 1 failed  stopped c1: in use"),
    (CleanupResult("pi-a", False, error="pi-a: cannot connect"), "pi-a: cannot connect"),
])
def test_outcome(result: CleanupResult, expected: str) -> None:
    assert reclaim.outcome(result, scan()).plain == expected


def fleet_reclaim() -> Reclaim:
    return Reclaim("pi-a", Disk(1000 * MB, 900 * MB), (
        Item(Category.STOPPED, "c1", "old-backup", 12 * MB),
        Item(Category.JOURNAL, str(100 * MB), "journal down to 100 MB", MB)),
        (Kept("web", "running"),))


def test_a_scan_becomes_the_clients_value_and_back() -> None:
    value = cleaning.scanned(DeviceCleanup("pi-a", fleet_reclaim()))
    assert value.disk_used == 900 * MB and value.kept == (("web", "running"),)
    assert [(i.category, i.target, i.label) for i in value.items] == [
        ("stopped", "c1", "old-backup"), ("journal", str(100 * MB), "journal down to 100 MB")]
    back = cleaning.chosen("pi-a", value.items)
    assert back.items == fleet_reclaim().items


def test_an_unscanned_device_is_an_error_value() -> None:
    assert cleaning.scanned(DeviceCleanup("pi-a", error="pi-a: host key changed")).error == \
        "pi-a: host key changed"


def test_a_category_fleet_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="everything"):
        cleaning.chosen("pi-a", (CleanupItem("everything", "/", "/", 1),))


def test_an_applied_cleanup_counts_outcomes_and_failures() -> None:
    done = Reclaimed("pi-a", (Outcome("reclaimed", "stopped", "c1"),
                              Outcome("skipped", "tmp", "/tmp/x", "open by a process"),
                              Outcome("failed", "dangling", "sha256:1", "conflict")),
                     Disk(1000 * MB, 880 * MB))
    result = cleaning.applied(DeviceCleanup("pi-a", fleet_reclaim(), done))
    assert (result.ok, result.reclaimed, result.skipped) == (False, 1, 1)
    assert result.failed == ("dangling sha256:1: conflict",) and result.disk_used == 880 * MB


def test_a_cleanup_that_never_ran_is_an_error() -> None:
    result = cleaning.applied(DeviceCleanup("pi-a", fleet_reclaim(), error="pi-a: timed out"))
    assert not result.ok and result.error == "pi-a: timed out"


def test_the_simulated_cleaner_forgets_what_it_reclaimed() -> None:
    inv = simulated.inventory(3)
    cleaner = simulated.SimulatedCleaner(inv)
    first = inv.devices[0].id
    before = cleaner.scan([first, "nope"])
    assert before[1].error and len(before[0].items) == 5
    dangling = tuple(i for i in before[0].items if i.category == "dangling")
    result = cleaner.apply(first, dangling + dangling)
    assert result.ok and result.reclaimed == 1 and result.skipped == 1
    after = cleaner.scan([first])[0]
    assert len(after.items) == 4 and after.disk_used == before[0].disk_used - 64 * MB


def test_a_client_without_a_cleaner_says_so() -> None:
    inv = simulated.inventory(1)
    client = EmbeddedClient(inv, lambda: simulated.SimulatedController(inv))
    with pytest.raises(FleetError, match="cannot clean up"):
        client.cleanup_scan(["x"])
    cleaner = simulated.SimulatedCleaner(inv)
    client = EmbeddedClient(inv, lambda: simulated.SimulatedController(inv), cleaner=cleaner)
    assert client.cleanup_scan([inv.devices[0].id])[0].items
