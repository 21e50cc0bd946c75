"""fleet.lab.junk: junk sized to fill a card, and the script that plants it."""

from __future__ import annotations

import pytest

from fleet.errors import LabError
from fleet.lab.junk import LOG_LINE, Junk, script, to_fill

MB = 1 << 20


def test_junk_takes_the_card_to_the_mark_asked_for_within_its_rounding() -> None:
    junk = to_fill(used=200 * MB, total=1000 * MB, pct=95)
    planted = sum(junk.planted.values())
    assert 0.95 * 750 * MB < planted <= 750 * MB  # gap 750 MB, less the log's part line
    assert all(n > 0 for n in junk.planted.values())


def test_a_card_already_past_the_mark_is_an_error() -> None:
    with pytest.raises(LabError, match="already 96 % full"):
        to_fill(used=960, total=1000, pct=95)


def test_the_log_is_whole_lines_and_the_script_waits_for_all_of_it() -> None:
    junk = Junk(image=1, stopped=2, log=10 * LOG_LINE + 5, tmp=3)
    assert junk.planted == {"unused-images": 2, "stopped": 4, "logs": 10 * LOG_LINE, "tmp": 6}
    text = script(junk)
    assert "i < 10; i++" in text and f"-lt {10 * LOG_LINE} ]" in text
    assert text.startswith("set -eu\n")
