"""The stack benchmark's files: the example as fleet reads it, as compose v1 reads it, changed."""

from __future__ import annotations

import difflib
from pathlib import Path

from fleet.bench import stack


def test_the_files_differ_in_one_service_and_compose_gets_no_name(tmp_path: Path) -> None:
    files = stack._write_files(tmp_path)
    first, changed = files["first"].read_text(), files["one_change"].read_text()
    assert files["nochange"].read_text() == first == stack.EXAMPLE.read_text()
    diff = [line for line in difflib.ndiff(first.splitlines(), changed.splitlines())
            if line[:1] in "+-"]
    assert diff == ["-       SERVICE_NAME: sensor-ingest-001",
                    "+       SERVICE_NAME: sensor-ingest-001-v2"]
    for phase in stack.PHASES:
        compose = files[f"compose_{phase}"].read_text()
        assert "\nname:" not in compose and not compose.startswith("name:")
        assert compose.count("\n  ") == files[phase].read_text().count("\n  ")
