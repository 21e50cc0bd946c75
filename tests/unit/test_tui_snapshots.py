"""Snapshot tests: each view rendered at a fixed terminal size, compared to a committed SVG.

A change on screen fails here, with the new rendering saved beside the test's
temporary files. If the change is meant, regenerate and review the SVGs:

    make snapshots     (FLEET_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_tui_snapshots.py)

The README's screenshots (docs/screenshots/) are copies of four of these,
checked here too, so they always show what the code draws.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.unit.tuikit import NOW, SIZE, FakeClient, app, row, screen_text, seen, settled, until
from tui.app import FleetApp

HERE = Path(__file__).parent / "snapshots"
DOCS = Path(__file__).parents[2] / "docs" / "screenshots"
IN_README = {"fleet", "device", "deploy", "cleanup-confirm"}
UPDATE = os.environ.get("FLEET_UPDATE_SNAPSHOTS") == "1"

Scenario = Callable[[Pilot[None]], Awaitable[None]]


def shoot(tui: FleetApp, scenario: Scenario) -> str:
    """Run the app headless at SIZE through `scenario`; the screen as SVG, toasts cleared."""
    svg = ""

    async def main() -> None:
        nonlocal svg
        async with tui.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await scenario(pilot)
            tui.clear_notifications()
            await pilot.pause()
            svg = tui.export_screenshot(title="fleet tui")
            assert screen_text(tui).strip()  # something was drawn

    asyncio.run(main())
    return svg


def check(name: str, svg: str, tmp_path: Path) -> None:
    targets = [HERE / f"{name}.svg"] + ([DOCS / f"{name}.svg"] if name in IN_README else [])
    if UPDATE:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(svg, encoding="utf-8")
        return
    got = tmp_path / f"{name}.svg"
    got.write_text(svg, encoding="utf-8")
    for target in targets:
        assert target.exists(), f"no snapshot {target}: run `make snapshots`"
        assert target.read_text(encoding="utf-8") == svg, (
            f"{name} differs from {target}; the new rendering is {got} "
            "(`make snapshots` accepts it)")


def fake(pilot: Pilot[None]) -> FakeClient:
    tui = pilot.app
    assert isinstance(tui, FleetApp) and isinstance(tui.client, FakeClient)
    return tui.client


async def fleet_view(pilot: Pilot[None]) -> None:
    await pilot.press("down")


async def filtered(pilot: Pilot[None]) -> None:
    await pilot.press("slash", *"south")


async def device(pilot: Pilot[None]) -> None:
    client = fake(pilot)
    others = tuple(r for r in client.latest.devices if r.id != "pi-attic")
    for k in range(1, 25):  # two dozen heartbeats of a board that heats up under load
        cpu = 30.0 + 25 * math.sin(k / 3) + k
        beat = row("pi-attic", state="degraded", cpu_pct=cpu, mem_used_mb=1500 + 60 * k,
                   disk_used_mb=6000 + 20 * k, temp_c=55.0 + cpu / 4,
                   impedance=600 + 12 * k, heard_at=NOW + k - 1)
        client.publish(at=NOW + k, devices=(beat, *others))
        await seen(pilot, client)  # each heartbeat its own sample, however loaded the host
    await pilot.press("down", "enter")
    await settled(pilot)


async def plan(pilot: Pilot[None]) -> None:
    await pilot.press("p")
    await settled(pilot)


async def deploy(pilot: Pilot[None]) -> None:
    client = fake(pilot)
    client.deploy_gate.clear()
    await pilot.press("p")
    await settled(pilot)
    await pilot.press("D", "y")
    tui = pilot.app
    assert isinstance(tui, FleetApp)
    await until(pilot, lambda: "2.0 MB/8.0 MB" in screen_text(tui), "the deploy's progress")


async def cleanup(pilot: Pilot[None]) -> None:
    await pilot.press("c")
    await settled(pilot)
    await pilot.press("down", "space", "down", "space")


async def cleanup_confirm(pilot: Pilot[None]) -> None:
    await cleanup(pilot)
    await pilot.press("x")
    await settled(pilot)


async def help_keys(pilot: Pilot[None]) -> None:
    await pilot.press("question_mark")


VIEWS: dict[str, tuple[Scenario, dict[str, str]]] = {
    "fleet": (fleet_view, {}),
    "fleet-filtered": (filtered, {}),
    "device": (device, {}),
    "plan": (plan, {"stack": "examples/web.compose.yaml"}),
    "deploy": (deploy, {"stack": "examples/web.compose.yaml"}),
    "cleanup": (cleanup, {}),
    "cleanup-confirm": (cleanup_confirm, {}),
    "help": (help_keys, {}),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_snapshot(name: str, tmp_path: Path) -> None:
    scenario, options = VIEWS[name]
    client = FakeClient()
    try:
        svg = shoot(app(client, **options), scenario)
    finally:
        client.deploy_gate.set()
    check(name, svg, tmp_path)


def test_the_same_screen_renders_the_same_svg(tmp_path: Path) -> None:
    """Snapshots are only worth keeping if nothing in them moves between runs."""
    first, second = (shoot(app(FakeClient()), fleet_view) for _ in range(2))
    assert first == second
