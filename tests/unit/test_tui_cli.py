"""`fleet tui` from the command line: the CLI works without textual, and says what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleet.cli import EXIT_FAILED, main


def test_without_textual_fleet_tui_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "textual", None)  # as if the tui extra were not installed
    assert main(["tui"]) == EXIT_FAILED
    assert "pip install 'fleet[tui]'" in capsys.readouterr().err


def test_the_cli_imports_no_textual_until_fleet_tui_runs() -> None:
    probe = ("import sys; from fleet.cli import build_parser; build_parser(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_inventory_is_bad_input_before_any_screen(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tui", "--inventory", "/nonexistent/inventory.yaml"]) == 2
    assert "/nonexistent/inventory.yaml" in capsys.readouterr().err
