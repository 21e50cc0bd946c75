"""The cleanup view, driven with the pilot: scan what is shown, select, confirm, reclaim."""

from __future__ import annotations

from textual.pilot import Pilot

from tests.unit.tuikit import (
    FakeClient,
    app,
    cleanup_items,
    row,
    run,
    screen_text,
    settled,
    snapshot,
    until,
)
from tui.cleanup_screen import CleanupScreen
from tui.dialogs import Confirm


async def to_south(pilot: Pilot[None]) -> None:
    """Filter the fleet to the south site, then c: pi-garage and pi-shed are scanned."""
    await pilot.press("slash", *"south", "enter", "c")
    await settled(pilot)


def test_c_scans_the_devices_the_filter_shows_per_category() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        assert isinstance(tui.screen, CleanupScreen)
        assert client.scanned == [("pi-garage", "pi-shed")]
        text = screen_text(tui)
        assert "2/2 device(s) scanned, 1,550.0 MB reclaimable" in text
        garage = [line for line in text.splitlines() if "stopped" in line]
        assert len(garage) == 2 and all(" 2 " in line and "15.0 MB" in line for line in garage)
        assert "90.0 %" in text  # 27,000 of 30,000 MB used now

    run(tui, scenario)


def test_an_unmanaged_device_is_not_scanned_and_none_is_a_warning() -> None:
    client = FakeClient(snapshot((row("pi-stray", managed=False),)))
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("c")
        await settled(pilot)
        assert not isinstance(tui.screen, CleanupScreen) and client.scanned == []
        assert any("no inventory device" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_the_confirmation_lists_every_item_and_cancel_removes_nothing() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        await pilot.press("down", "space")  # pi-garage's stopped containers
        assert "selected: 2 item(s), 15.0 MB" in screen_text(tui)
        await pilot.press("x")
        await settled(pilot)
        assert isinstance(tui.screen, Confirm)
        text = screen_text(tui)
        assert "Remove these 2 item(s), 15.0 MB, on 1 device(s)?" in text
        assert "old-backup" in text and "12.0 MB" in text
        assert "nightly-[report]" in text and "3.0 MB" in text  # markup-like labels as typed
        assert "dump.bin" not in text  # not selected, so not said
        await pilot.press("enter")  # the focused button is Cancel
        await settled(pilot)
        assert isinstance(tui.screen, CleanupScreen) and client.cleaned == []

    run(tui, scenario)


def test_a_confirmed_cleanup_removes_exactly_the_selection_then_rescans() -> None:
    client = FakeClient()
    client.clean_gate.clear()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        await pilot.press("down", "space", "down", "enter")  # stopped and dangling on pi-garage
        await pilot.press("x", "y")
        await until(pilot, lambda: "working…" in screen_text(tui), "the cleanup under way")
        client.clean_gate.set()
        await settled(pilot)
        items = cleanup_items("pi-garage")
        assert client.cleaned == [("pi-garage", (items[1], items[2], items[3]))]
        assert client.scanned[-1] == ("pi-garage",)
        text = screen_text(tui)
        assert "3 reclaimed" in text
        assert any("pi-garage: 3 reclaimed, freed 655.0 MB" in n.message
                   for n in tui._notifications)
        garage = next(line for line in text.splitlines() if "pi-garage" in line)
        assert "tmp" in garage and "dangling" not in text.split("pi-shed")[0]

    run(tui, scenario)


def test_a_selects_all_and_again_none() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        await pilot.press("a")
        assert "selected: 8 item(s), 1,550.0 MB" in screen_text(tui)
        await pilot.press("a")
        assert "selected: 0 item(s)" in screen_text(tui)

    run(tui, scenario)


def test_remove_with_nothing_selected_is_a_warning() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        await pilot.press("x")
        await settled(pilot)
        assert isinstance(tui.screen, CleanupScreen)
        assert any("nothing selected" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_an_unreachable_device_is_a_row_and_a_notification() -> None:
    client = FakeClient()
    client.unreachable = {"pi-shed"}
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        assert tui.is_running
        assert "pi-shed: cannot connect: timed out" in screen_text(tui)
        assert any("1 device(s) could not be scanned" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_a_failed_cleanup_is_shown_on_its_row_and_notified() -> None:
    client = FakeClient()
    client.fail_devices = {"pi-garage"}
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await to_south(pilot)
        await pilot.press("space", "x", "y")
        await settled(pilot)
        assert tui.is_running and client.cleaned == []
        assert "sudo: a password is required" in screen_text(tui)
        assert any(n.severity == "error" and "password" in n.message
                   for n in tui._notifications)

    run(tui, scenario)


def test_c_in_a_device_view_scans_that_device_and_r_again() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        tui.open_device("pi-kitchen")
        await settled(pilot)
        await pilot.press("c")
        await settled(pilot)
        await pilot.press("r")
        await settled(pilot)
        assert client.scanned == [("pi-kitchen",), ("pi-kitchen",)]
        await pilot.press("escape")
        assert "pi-kitchen" in screen_text(tui)  # back to the fleet

    run(tui, scenario)


def test_the_palette_scans_the_shown_devices_and_removes_what_is_selected() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+p", *"scan these devices")
        await settled(pilot)
        await pilot.press("enter")
        await settled(pilot)
        assert isinstance(tui.screen, CleanupScreen) and len(client.scanned[0]) == 5
        await pilot.press("space", "ctrl+p", *"remove the selected")
        await settled(pilot)
        await pilot.press("enter")
        await settled(pilot)
        assert isinstance(tui.screen, Confirm) and "/tmp/dump.bin" in screen_text(tui)

    run(tui, scenario)


def test_help_lists_the_cleanup_keys_in_the_cleanup_view() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("c")
        await settled(pilot)
        await pilot.press("question_mark")
        assert "remove the selected: lists each item, asks" in screen_text(tui)
        await pilot.press("escape")
        assert isinstance(tui.screen, CleanupScreen)

    run(tui, scenario)


def test_c_elsewhere_opens_the_cleanup_view_without_scanning() -> None:
    client = FakeClient()
    tui = app(client, stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("c")
        await settled(pilot)
        assert isinstance(tui.screen, CleanupScreen) and client.scanned == []
        assert "press c in the fleet view" in screen_text(tui)

    run(tui, scenario)
