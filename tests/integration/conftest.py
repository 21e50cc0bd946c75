"""The lab most integration tests share, brought up once: four agents and a bare board."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.lablib import Lab, leftovers

PROFILES = "pi4b-8g,jetson-orin-nano-8g,pi4b-2g,pi5-8g"
AGENTS = ("itest-01", "itest-02", "itest-03", "itest-04")  # 10.251.0.11 to .14
BARE = ("raspberrypi",)  # 10.251.0.15: a stock board, no agent, not in the inventory
INTERVAL = 1.0  # heartbeats every second keep liveness tests short


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("labs") / "itest"
    lab = Lab("itest", "10.251.0.0/24", root)
    lab.fleet("lab", "down")
    try:
        lab.fleet("lab", "up", "--devices", str(len(AGENTS)), "--profiles", PROFILES,
                  "--bare", str(len(BARE)), "--interval", str(INTERVAL))
        yield lab
    finally:  # also when `up` says a device is unhealthy: it has left the lab up
        lab.fleet("lab", "down")
    assert leftovers(lab) == []
