"""The TUI's pure parts: the table's sort and filter, the history ring, the deploy board."""

from __future__ import annotations

import pytest

from fleet.health.view import FleetView
from tests.kit import device, heartbeat
from tests.unit.tuikit import NOW, fleet, row, snapshot
from tui import build, rows
from tui.board import Board
from tui.client import DeployEvent, DeployOutcome, DeviceOutcome, DeviceRow
from tui.history import History


def ids(found: list[DeviceRow]) -> list[str]:
    return [r.id for r in found]


@pytest.mark.parametrize(("sort", "reverse", "expected"), [
    ("id", False, ["jetson-lab", "pi-attic", "pi-garage", "pi-kitchen", "pi-shed"]),
    ("cpu", False, ["pi-garage", "pi-attic", "jetson-lab", "pi-kitchen", "pi-shed"]),
    ("cpu", True, ["pi-kitchen", "jetson-lab", "pi-attic", "pi-garage", "pi-shed"]),
    ("z", True, ["pi-attic", "pi-garage", "jetson-lab", "pi-kitchen", "pi-shed"]),
    ("seen", False, ["jetson-lab", "pi-attic", "pi-garage", "pi-kitchen", "pi-shed"]),
    ("state", False, ["jetson-lab", "pi-garage", "pi-kitchen", "pi-attic", "pi-shed"]),
])
def test_arrange_sorts_with_unknowns_last_either_way(sort: str, reverse: bool,
                                                     expected: list[str]) -> None:
    assert ids(rows.arrange(fleet(), NOW, sort=sort, reverse=reverse)) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("kitchen", ["pi-kitchen"]),
    ("SOUTH", ["pi-garage", "pi-shed"]),
    ("south offline", ["pi-shed"]),
    ("orin", ["jetson-lab"]),
    ("nothing-like-it", []),
])
def test_filter_keeps_rows_with_every_word(query: str, expected: list[str]) -> None:
    assert ids(rows.arrange(fleet(), NOW, query=query)) == expected


def test_sort_cycles_through_every_column_and_back() -> None:
    seen = ["id"]
    while len(seen) <= len(rows.COLUMNS):
        seen.append(rows.next_sort(seen[-1]))
    assert seen[-1] == "id" and sorted(seen[:-1]) == sorted(c.key for c in rows.COLUMNS)


@pytest.mark.parametrize(("pct", "text"), [
    (None, "-"), (0.0, "░░░░░░   0%"), (50.0, "███░░░  50%"), (100.0, "██████ 100%"),
    (140.0, "██████ 140%"),
])
def test_bar(pct: float | None, text: str) -> None:
    assert rows.bar(pct).plain == text


def test_a_line_fits_its_columns_and_marks_throttling() -> None:
    line = rows.line(row("pi-kitchen", temp_c=83.0, throttled=("under-voltage",)), NOW)
    assert line.cell_len == sum(c.width + 1 for c in rows.COLUMNS)  # ⚡ is two cells wide
    assert "83°C ⚡" in line.plain and line.plain.startswith("pi-kitchen ")


def test_header_marks_the_sort_column_and_direction() -> None:
    assert "CPU ▼" in rows.header("cpu", True).plain
    assert "▲" not in rows.header("cpu", True).plain


def test_history_samples_each_heartbeat_once_however_many_snapshots_show_it() -> None:
    history = History(kept=3)
    for k in range(5):
        beat = (row("pi-a", cpu_pct=float(k), heard_at=NOW + k),)
        history.feed(snapshot(beat))
        history.feed(snapshot(beat))  # the same heartbeat in the next snapshot
    history.feed(snapshot((row("pi-b", heard_at=None),)))
    assert history.series("pi-a", "cpu") == [2.0, 3.0, 4.0]
    assert history.series("pi-a", "mem") == [pytest.approx(100 * 1500 / 7840)] * 3
    assert history.series("pi-b", "cpu") == [] and len(history) == 1


def test_board_follows_stages_and_bytes_then_the_outcome() -> None:
    board = Board("stack.yaml")
    board.apply(DeployEvent("a", "stage", "reading facts"))
    board.apply(DeployEvent("b", "stage", "pushing web"))
    board.apply(DeployEvent("b", "expect", nbytes=1000))
    board.apply(DeployEvent("b", "sent", nbytes=250))
    board.apply(DeployEvent("b", "sent", nbytes=250))
    assert board.devices["b"].fraction == 0.5 and board.devices["a"].fraction is None
    assert board.running and board.counts() == (0, 0, 2)
    board.apply(DeployEvent("a", "stage", "done", wave=1))
    assert board.devices["a"].result == "ok" and board.devices["a"].wave == 1
    board.finish(DeployOutcome("web", False, (DeviceOutcome("a", True),
                                              DeviceOutcome("b", False, "b: refused"))))
    assert not board.running and board.counts() == (1, 1, 0)
    assert board.devices["b"].error == "b: refused" and board.devices["b"].stage == "failed"


def test_a_row_says_when_the_board_is_not_its_inventory_profile() -> None:
    view = FleetView(["pi-01"])
    view.heartbeat("pi-01", heartbeat(model="Raspberry Pi 4 Model B Rev 1.4",
                                      mem_total_mb=3793), 10.0)
    pi = device("pi-01")  # a pi4b-8g
    flagged = build.row(view.devices["pi-01"], pi, 11.0)
    assert "is a 4 GB Raspberry Pi 4 Model B" in flagged.profile_mismatch
    assert rows.COLUMNS[2].cell(flagged, NOW).style == "red"
    assert build.row(view.devices["pi-01"], None, 11.0).profile_mismatch == ""
