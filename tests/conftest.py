"""Shared test set-up: everything under tests/integration is marked `integration`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def broker_port(tmp_path: Path) -> Iterator[int]:
    """A real mosquitto on loopback for this test (needs the `mosquitto` package)."""
    from fleet.lab.broker import loopback_mosquitto

    with loopback_mosquitto(tmp_path) as port:
        yield port
