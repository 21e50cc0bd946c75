"""The device, plan and deploy views, help and the palette, driven with the pilot."""

from __future__ import annotations

from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Sparkline

from tests.unit.tuikit import (
    NOW,
    FakeClient,
    app,
    row,
    run,
    screen_text,
    seen,
    settled,
    snapshot,
    until,
)
from tui.deploy_screen import DeployScreen
from tui.device_screen import DeviceScreen
from tui.dialogs import Confirm, Help
from tui.fleet_screen import FleetScreen
from tui.plan_screen import PlanScreen


def test_device_detail_shows_readings_impedance_parts_events_and_history() -> None:
    client = FakeClient()
    tui = app(client)

    async def scenario(pilot: Pilot[None]) -> None:
        for k in range(1, 6):  # five heartbeats of pi-attic, one snapshot each
            beat = row("pi-attic", cpu_pct=10.0 * k, heard_at=NOW + k)
            client.publish(devices=(beat,))
            await seen(pilot, client)
        tui.open_device("pi-attic")
        await settled(pilot)
        assert isinstance(tui.screen, DeviceScreen)
        text = screen_text(tui)
        for expected in ("pi-attic", "1.5 GiB of 7.7 GiB", "3 running of 4", "load 0.42",
                         "latency", "4.2 ms", "98%", "lan_seen", "bad_payload", "5m ago"):
            assert expected in text, expected
        # The first snapshot's heartbeat (33 %, shown at mount), then the five new ones.
        assert tui.screen.query_one("#spark-cpu", Sparkline).data == [33, 10, 20, 30, 40, 50]
        assert client.asked == ["pi-attic"]
        await pilot.press("escape")
        assert isinstance(tui.screen, FleetScreen)

    run(tui, scenario)


def test_a_device_that_vanished_is_a_notification() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        tui.open_device("pi-gone")
        await settled(pilot)
        assert tui.is_running and isinstance(tui.screen, DeviceScreen)
        assert any("no device 'pi-gone'" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_plan_view_shows_the_stack_plan() -> None:
    tui = app(stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        assert isinstance(tui.screen, PlanScreen)
        text = screen_text(tui)
        assert "plan: demo" in text and "web:3067" in text
        assert "3 placed on 2 devices, 0 unplaced" in text

    run(tui, scenario)


def test_plan_view_types_a_path_and_a_bad_one_is_a_notification() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await pilot.press(*"missing.yaml", "enter")
        await settled(pilot)
        assert any("missing.yaml: no such file" in n.message for n in tui._notifications)
        await pilot.press("e", *"other.yaml", "enter")  # e selects the old path: typed over
        await settled(pilot)
        plan_screen = tui.screen
        assert isinstance(plan_screen, PlanScreen) and plan_screen.result is not None
        assert plan_screen.result.path.endswith("other.yaml")

    run(tui, scenario)


def test_deploy_asks_first_and_cancel_deploys_nothing() -> None:
    client = FakeClient()
    tui = app(client, stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("D")
        assert isinstance(tui.screen, Confirm)
        assert "Deploy stack demo (demo.yaml)?" in screen_text(tui)
        await pilot.press("enter")  # the focused button is Cancel
        await settled(pilot)
        assert isinstance(tui.screen, PlanScreen) and client.deploys == []

    run(tui, scenario)


def test_a_confirmed_deploy_shows_each_device_as_it_moves_then_the_result() -> None:
    client = FakeClient()
    client.deploy_gate.clear()
    client.fail_devices = {"pi-garage"}
    tui = app(client, stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("D", "y")
        await until(pilot, lambda: "2.0 MB/8.0 MB" in screen_text(tui), "the deploy's progress")
        assert isinstance(tui.screen, DeployScreen)
        assert client.deploys == [("demo.yaml", False)]
        text = screen_text(tui)
        assert "deploy demo.yaml  running" in text and "pushing nginx:alpine" in text
        assert "2.0 MB/8.0 MB" in text and "reading facts" in text
        client.deploy_gate.set()
        await settled(pilot)
        text = screen_text(tui)
        assert "deploy demo  FAILED" in text and "2 ok  1 failed  0 in progress" in text
        assert "pi-garage: apply failed" in text
        assert any("failed on pi-garage" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_a_dry_run_does_not_ask_and_a_second_deploy_waits_for_the_first() -> None:
    client = FakeClient()
    client.deploy_gate.clear()
    tui = app(client, stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("n")
        await until(pilot, lambda: "dry run demo.yaml" in screen_text(tui), "the dry run")
        assert isinstance(tui.screen, DeployScreen)
        tui.start_deploy("demo.yaml", dry_run=False)
        await pilot.pause()
        assert any("already running" in n.message for n in tui._notifications)
        client.deploy_gate.set()
        await settled(pilot)
        assert client.deploys == [("demo.yaml", True)]
        assert "change(s) planned" in screen_text(tui)

    run(tui, scenario)


def test_an_unplaceable_plan_cannot_be_deployed() -> None:
    client = FakeClient(snapshot((row("pi-one"),)))
    client.devices = client.devices[:0]  # no device at all: nothing can be placed
    tui = app(client, stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("D")
        assert not isinstance(tui.screen, Confirm) and client.deploys == []
        assert any("unplaced" in n.message for n in tui._notifications)

    run(tui, scenario)


def test_help_opens_everywhere_and_closes_with_escape() -> None:
    tui = app(stack="demo.yaml")  # with no stack the plan view's path box has the keys

    async def scenario(pilot: Pilot[None]) -> None:
        for view in ("f", "p", "d"):
            await pilot.press(view, "question_mark")
            assert isinstance(tui.screen, Help), view
            assert "filter by id, site, profile or state" in screen_text(tui)
            await pilot.press("escape")
            assert not isinstance(tui.screen, Help)

    run(tui, scenario)


def test_the_palette_switches_views() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+p")
        assert isinstance(tui.screen, CommandPalette)
        await pilot.press(*"plan a stack")
        await settled(pilot)
        await pilot.press("enter")
        await settled(pilot)
        assert isinstance(tui.screen, PlanScreen)

    run(tui, scenario)


def test_q_quits() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("q")
        await settled(pilot)
        assert not tui.is_running

    run(tui, scenario)


def test_the_deploy_view_before_any_deploy_says_how_and_esc_goes_back() -> None:
    tui = app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("d")
        assert isinstance(tui.screen, DeployScreen)
        assert "no deploy yet: plan a stack (p), then D to deploy it" in screen_text(tui)
        await pilot.press("escape")
        assert isinstance(tui.screen, FleetScreen)

    run(tui, scenario)


def test_esc_in_the_plan_view_goes_back_to_the_fleet() -> None:
    tui = app(stack="demo.yaml")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settled(pilot)
        await pilot.press("escape")
        assert isinstance(tui.screen, FleetScreen)

    run(tui, scenario)
