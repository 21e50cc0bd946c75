"""The fleet view, driven with the pilot: live rows, sort, `/` filter, the header, errors."""

from __future__ import annotations

from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Input

from fleet.errors import FleetError
from tests.unit.tuikit import FakeClient, app, row, run, screen_text, seen, settled, snapshot
from tui.device_screen import DeviceScreen
from tui.fleet_screen import FleetScreen
from tui.table import FleetTable


def shown(pilot: Pilot[None]) -> list[str]:
    return [r.id for r in pilot.app.screen.query_one(FleetTable).rows]


def test_the_table_lists_every_device_and_the_header_the_mode_and_counts() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        assert isinstance(tui.screen, FleetScreen)
        assert shown(pilot) == ["jetson-lab", "pi-attic", "pi-garage", "pi-kitchen", "pi-shed"]
        text = screen_text(tui)
        assert "DEGRADED_MODERATE" in text and "3/5 active" in text and "1 offline" in text
        assert "83°C ⚡" in text and "10m" in text  # hot and throttled; silent for ten minutes

    run(tui, scenario)


def test_the_table_follows_new_snapshots_and_the_cursor_its_device() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("down", "down")
        table = tui.screen.query_one(FleetTable)
        assert table.current is not None and table.current.id == "pi-garage"
        devices = (row("aaa-new"), *client.latest.devices)
        client.publish(devices=devices, total=6, active=4)
        await seen(pilot, client)
        assert shown(pilot)[0] == "aaa-new" and "4/6 active" in screen_text(tui)
        assert table.current is not None and table.current.id == "pi-garage"

    run(tui, scenario)


def test_s_cycles_the_sort_column_and_S_reverses_it() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        for _ in range(4):
            await pilot.press("s")  # id -> site -> profile -> state -> cpu
        assert tui.screen.query_one(FleetTable).sort == "cpu"
        assert shown(pilot) == ["pi-garage", "pi-attic", "jetson-lab", "pi-kitchen", "pi-shed"]
        await pilot.press("S")
        assert shown(pilot)[0] == "pi-kitchen" and "CPU ▼" in screen_text(tui)

    run(tui, scenario)


def test_slash_filters_and_escape_clears() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("slash", *"south")
        assert shown(pilot) == ["pi-garage", "pi-shed"]
        text = screen_text(tui)
        assert "pi-kitchen" not in text and "/south: 2 shown" in text
        await pilot.press("enter")  # keeps the filter, back to the table
        assert tui.focused is tui.screen.query_one(FleetTable)
        assert shown(pilot) == ["pi-garage", "pi-shed"]
        await pilot.press("slash", *"zzz")
        assert "no device matches /zzz" in screen_text(tui)  # a new filter: the old one selected
        await pilot.press("escape")
        assert len(shown(pilot)) == 5
        assert not tui.screen.query_one("#filter", Input).display

    run(tui, scenario)


def test_keys_typed_into_the_filter_are_not_commands() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("slash", "q", "p", "s")  # quit, plan, sort: here just letters
        assert isinstance(tui.screen, FleetScreen) and tui.is_running
        assert tui.screen.query_one("#filter", Input).value == "qps"
        assert tui.screen.query_one(FleetTable).sort == "id"

    run(tui, scenario)


def test_enter_opens_the_device_under_the_cursor() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("end", "enter")
        assert isinstance(tui.screen, DeviceScreen) and tui.screen.device == "pi-shed"

    run(tui, scenario)


def test_a_thousand_devices_scroll_and_page() -> None:
    many = tuple(row(f"sim-{k:04d}", cpu_pct=float(k % 100)) for k in range(1000))
    tui = app(FakeClient(snapshot(many)))

    async def scenario(pilot: Pilot[None]) -> None:
        table = tui.screen.query_one(FleetTable)
        await pilot.press("pagedown", "pagedown")
        assert table.cursor > 40 and table.top > 0
        assert f"sim-{table.cursor:04d}" in screen_text(tui)
        await pilot.press("G")
        assert table.current is not None and table.current.id == "sim-0999"
        assert "sim-0999" in screen_text(tui) and "sim-0000" not in screen_text(tui)

    run(tui, scenario)


def test_a_client_that_cannot_start_is_a_notification_not_a_traceback() -> None:
    client = FakeClient()
    client.latest = None  # type: ignore[assignment]  # it never published a snapshot
    client.start_error = FleetError("cannot reach the broker at 10.0.0.1:1883")
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await settled(pilot)
        assert tui.is_running
        assert any("cannot reach the broker" in n.message for n in tui._notifications)
        assert "not connected: cannot reach the broker at 10.0.0.1:1883" in screen_text(tui)

    run(tui, scenario)


def test_a_problem_in_the_snapshot_is_shown_and_notified_once() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        client.publish(problem="ingest worker died")
        await seen(pilot, client)
        client.publish(problem="ingest worker died")
        await seen(pilot, client)
        assert "ingest worker died" in screen_text(tui)
        assert sum("ingest worker died" in n.message for n in tui._notifications) == 1

    run(tui, scenario)


def test_the_client_is_started_and_closed_with_the_app() -> None:
    client = FakeClient(replace(snapshot(), seq=3))
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        await settled(pilot)
        assert client.started and not client.closed

    run(tui, scenario)
    assert client.closed
