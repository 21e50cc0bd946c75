"""The scheduler is pure: importing it pulls in no IO library and no fleet module but the model."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SCHEDULER = Path(__file__).parents[2] / "fleet" / "scheduler"
EDGES = {"docker", "paramiko", "paho", "zeroconf", "fabric", "rich", "textual", "ruamel",
         "msgspec", "sqlite3", "socket", "subprocess"}


def test_importing_the_scheduler_imports_no_io_library() -> None:
    code = ("import fleet.scheduler, sys, json; print(json.dumps(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {sorted(EDGES)!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == []


def test_importing_the_scheduler_imports_only_the_model_of_fleet() -> None:
    code = ("import fleet.scheduler, sys, json; print(json.dumps(sorted(m for m in sys.modules "
            "if m.startswith('fleet') and not m.startswith('fleet.scheduler'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == ["fleet", "fleet.errors", "fleet.model"]


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
