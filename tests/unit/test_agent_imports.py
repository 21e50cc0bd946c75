"""The agent stays small: its modules pull in none of the controller's heavy libraries.

The integration test checks the same of a whole run, from start to SIGTERM.
"""

from __future__ import annotations

from tests.imports import among, loaded_by

HEAVY = ["docker", "requests", "urllib3", "psutil", "textual", "fabric", "paramiko", "rich",
         "ruamel"]


def test_importing_the_agent_imports_no_heavy_library() -> None:
    assert among(loaded_by("fleet.agent.main"), HEAVY) == []
