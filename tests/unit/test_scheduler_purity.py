"""The scheduler is pure: importing it pulls in no IO library and no fleet module but the model."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.imports import among, fleet_modules, loaded_by

SCHEDULER = Path(__file__).parents[2] / "fleet" / "scheduler"
EDGES = {"docker", "paramiko", "paho", "zeroconf", "fabric", "rich", "textual", "ruamel",
         "msgspec", "sqlite3", "socket", "subprocess"}


def test_importing_the_scheduler_imports_no_io_library() -> None:
    assert among(loaded_by("fleet.scheduler"), EDGES) == []


def test_importing_the_scheduler_imports_only_the_model_of_fleet() -> None:
    outside = [m for m in fleet_modules(loaded_by("fleet.scheduler"))
               if not m.startswith("fleet.scheduler")]
    assert outside == ["fleet", "fleet.errors", "fleet.model"]


def test_scheduler_sources_import_only_stdlib_and_fleet_model() -> None:
    allowed = {"__future__", "bisect", "collections", "dataclasses", "random", "fleet"}
    for source in sorted(SCHEDULER.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                # `from .x import y` stays in the scheduler; anything further up leaves it.
                assert node.level == 1, (source.name, node.level, node.module)
            elif isinstance(node, ast.ImportFrom) and node.module:
                root = node.module.split(".")[0]
                assert root in allowed, (source.name, node.module)
                if root == "fleet":
                    assert node.module == "fleet.model" or node.module.startswith(
                        "fleet.scheduler"), (source.name, node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, (source.name, alias.name)
