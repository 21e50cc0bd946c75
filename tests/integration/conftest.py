"""The integration tests' labs: one factory of lab fixtures, and the session lab most share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from tests.integration.lablib import Lab, lab_up

PROFILES = "pi4b-8g,jetson-orin-nano-8g,pi4b-2g,pi5-8g"
AGENTS = ("itest-01", "itest-02", "itest-03", "itest-04")  # 10.251.0.11 to .14
BARE = ("raspberrypi",)  # 10.251.0.15: a stock board, no agent, not in the inventory
INTERVAL = 1.0  # heartbeats every second keep liveness tests short

Scope = Literal["session", "module"]


def lab_fixture(name: str, subnet: str, *up_args: str, scope: Scope = "module",
                fixture_name: str = "lab") -> Any:
    """A fixture of a lab of its own: `fleet lab up UP_ARGS` on `subnet`, down at the end
    of `scope`. A module binds it to a name: `lab = lab_fixture("idep", ...)`."""

    def bring_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
        with lab_up(name, subnet, tmp_path_factory.mktemp("labs") / name, *up_args) as lab:
            yield lab

    fixture: Callable[..., Any] = pytest.fixture(scope=scope, name=fixture_name)(bring_up)
    return fixture


lab = lab_fixture("itest", "10.251.0.0/24", "--devices", str(len(AGENTS)), "--profiles",
                  PROFILES, "--bare", str(len(BARE)), "--interval", str(INTERVAL),
                  scope="session")
