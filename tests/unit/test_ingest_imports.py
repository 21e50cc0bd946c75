"""The heartbeat ingest stays light: importing it loads no YAML parser and no inventory reader."""

from __future__ import annotations

import json
import subprocess
import sys

UNWANTED = ["ruamel", "yaml", "fleet.config.inventory", "fleet.config.ansible", "paramiko",
            "rich", "textual", "docker"]


def loaded(module: str) -> list[str]:
    """The unwanted names that importing `module` in a fresh interpreter loads (a package's own
    submodules count as it: ruamel.yaml as ruamel)."""
    code = (f"import sys, json, {module}; wanted = {UNWANTED!r}; "
            "print(json.dumps(sorted({w for m in sys.modules for w in wanted "
            "if m == w or m.startswith(w + '.')})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    result: list[str] = json.loads(out)
    return result


def test_importing_the_ingest_loads_no_yaml_and_no_inventory() -> None:
    assert loaded("fleet.bus.ingest") == []


def test_the_probe_sees_a_yaml_parser_where_there_is_one() -> None:
    assert {"ruamel", "fleet.config.inventory"} <= set(loaded("fleet.config.inventory"))
