"""The lab most integration tests share: two devices with agents, brought up once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.lablib import Lab, leftovers

PROFILES = "pi4b-8g,jetson-orin-nano-8g"
INTERVAL = 1.0  # heartbeats every second keep liveness tests short


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("labs") / "itest"
    lab = Lab("itest", "10.251.0.0/24", root)
    lab.fleet("lab", "down")
    lab.fleet("lab", "up", "--devices", "2", "--profiles", PROFILES,
              "--interval", str(INTERVAL))
    yield lab
    lab.fleet("lab", "down")
    assert leftovers(lab) == []
