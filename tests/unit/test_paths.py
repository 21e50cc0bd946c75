"""fleet.config.paths: every default location, from the environment it is given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.config import paths

HOME = Path.home()


def test_an_explicit_path_wins_over_the_environment() -> None:
    env = {"FLEET_INVENTORY": "/env/inv.yaml", "FLEET_KNOWN_HOSTS": "/env/pins",
           "XDG_STATE_HOME": "/state"}
    assert paths.inventory("given.yaml", env) == Path("given.yaml")
    assert paths.known_hosts("/given/pins", env) == Path("/given/pins")
    assert paths.state_db("/given.db", env) == Path("/given.db")


def test_the_fleet_variables_come_before_xdg() -> None:
    env = {"FLEET_INVENTORY": "/env/inv.yaml", "FLEET_KNOWN_HOSTS": "~/pins",
           "XDG_CONFIG_HOME": "/cfg", "FLEET_CACHE_DIR": "/cache", "XDG_CACHE_HOME": "/xdg"}
    assert paths.inventory(None, env) == Path("/env/inv.yaml")
    assert paths.known_hosts(None, env) == HOME / "pins"
    assert paths.image_cache(env) == Path("/cache/saved")


def test_xdg_directories_then_the_home_fallbacks(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./inventory.yaml here
    xdg = {"XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": "/state", "XDG_CACHE_HOME": "/xdg"}
    assert paths.inventory(None, xdg) == Path("/cfg/fleet/inventory.yaml")
    assert paths.known_hosts(None, xdg) == Path("/cfg/fleet/known_hosts")
    assert paths.state_db(None, xdg) == Path("/state/fleet/fleet.db")
    assert paths.image_cache(xdg) == Path("/xdg/fleet/saved")
    empty = {"XDG_CONFIG_HOME": ""}  # set but empty counts as unset, as XDG says
    assert paths.inventory(None, empty) == HOME / ".config" / "fleet" / "inventory.yaml"
    assert paths.known_hosts(None, {}) == HOME / ".config" / "fleet" / "known_hosts"
    assert paths.state_db(None, {}) == HOME / ".local" / "state" / "fleet" / "fleet.db"
    assert paths.image_cache({}) == HOME / ".cache" / "fleet" / "saved"


def test_an_inventory_in_the_working_directory_comes_before_the_config_dir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.yaml").write_text("devices: {}\n")
    assert paths.inventory(None, {"XDG_CONFIG_HOME": "/cfg"}) == Path("inventory.yaml")


def test_image_archives_and_the_lab_name() -> None:
    env = {"FLEET_IMAGES": os.pathsep.join(["/a.tar", "", "/dir"]), "FLEET_LAB": "itest"}
    assert paths.image_archives(env) == [Path("/a.tar"), Path("/dir")]
    assert paths.image_archives({}) == []
    assert paths.lab_name(env) == "itest"
    assert paths.lab_name({}) == "lab"
