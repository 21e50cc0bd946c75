"""`fleet lab up`'s progress: per-device stages read as one line, each step once in a log."""

from __future__ import annotations

import pytest

from fleet.cli import lab


class Line:
    """Stands in for rich's Status: keeps what it was last told."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, text: str) -> None:
        self.shown.append(text)


def test_the_line_counts_the_devices_at_each_stage_and_a_log_gets_each_step_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    line = Line()
    steps = lab._Steps(line)  # type: ignore[arg-type]  # only update() is used
    for device in ("a", "b", "c"):
        steps.stage(device, "starting the broker")
    steps.stage("a", "loading images")
    steps.stage("b", "loading images")
    for device in ("a", "b", "c"):
        steps.stage(device, "done")
    assert line.shown[2] == "fleet lab up: starting the broker (3/3 devices)"
    assert line.shown[4] == "fleet lab up: loading images (2/3 devices)"
    logged = capsys.readouterr().err.splitlines()  # pytest's stderr is not a terminal
    assert logged == ["fleet lab up: starting the broker", "fleet lab up: loading images"]
