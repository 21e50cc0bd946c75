"""The heartbeat ingest stays light: importing it loads no YAML parser and no inventory reader."""

from __future__ import annotations

from tests.imports import among, loaded_by

UNWANTED = ["ruamel", "yaml", "fleet.config.inventory", "fleet.config.ansible", "paramiko",
            "rich", "textual", "docker"]


def loaded(module: str) -> list[str]:
    """The unwanted names that importing `module` in a fresh interpreter loads."""
    return among(loaded_by(module), UNWANTED)


def test_importing_the_ingest_loads_no_yaml_and_no_inventory() -> None:
    assert loaded("fleet.bus.ingest") == []


def test_the_probe_sees_a_yaml_parser_where_there_is_one() -> None:
    assert {"ruamel", "fleet.config.inventory"} <= set(loaded("fleet.config.inventory"))
