"""What importing a module loads, seen in a fresh interpreter: for the tests that keep a
layer light (the agent, the scheduler, the cleanup rules, the heartbeat ingest)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable


def loaded_by(module: str) -> set[str]:
    """Every name in sys.modules after `import module` in a new interpreter."""
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(json.loads(out))


def among(loaded: Iterable[str], names: Iterable[str]) -> list[str]:
    """Which of `names` are loaded, a package counting as loaded when any module of it is."""
    wanted = set(names)
    return sorted({w for m in loaded for w in wanted if m == w or m.startswith(w + ".")})


def fleet_modules(loaded: Iterable[str]) -> list[str]:
    return sorted(m for m in loaded if m == "fleet" or m.startswith("fleet."))
