"""The agent stays small: its modules pull in none of the controller's heavy libraries.

The integration test checks the same of a whole run, from start to SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["docker", "requests", "urllib3", "psutil", "textual", "fabric", "paramiko", "rich",
         "ruamel"]


def test_importing_the_agent_imports_no_heavy_library() -> None:
    code = ("import sys, json, fleet.agent.main; print(json.dumps(sorted({m.split('.')[0] "
            f"for m in sys.modules if m.split('.')[0] in {HEAVY!r}}})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == []
