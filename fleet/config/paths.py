"""Where fleet keeps things by default: every environment variable and XDG directory, resolved here.

Each function takes the environment as a parameter (the process's by default),
so tests read their answers without touching os.environ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

Environ = Mapping[str, str]


def _xdg(environ: Environ, variable: str, fallback: str) -> Path:
    """An XDG base directory: its variable if set and not empty, else ~/<fallback>."""
    return Path(environ.get(variable) or Path.home() / fallback)


def inventory(given: str | Path | None = None, environ: Environ = os.environ) -> Path:
    """--inventory, else $FLEET_INVENTORY, else ./inventory.yaml, else the user's config dir."""
    if given:
        return Path(given)
    if env := environ.get("FLEET_INVENTORY"):
        return Path(env)
    local = Path("inventory.yaml")
    if local.exists():
        return local
    return _xdg(environ, "XDG_CONFIG_HOME", ".config") / "fleet" / "inventory.yaml"


def known_hosts(given: str | Path | None = None, environ: Environ = os.environ) -> Path:
    """--known-hosts, else $FLEET_KNOWN_HOSTS, else $XDG_CONFIG_HOME/fleet/known_hosts."""
    if given:
        return Path(given)
    if env := environ.get("FLEET_KNOWN_HOSTS"):
        return Path(env).expanduser()
    return _xdg(environ, "XDG_CONFIG_HOME", ".config") / "fleet" / "known_hosts"


def state_db(given: str | Path | None = None, environ: Environ = os.environ) -> Path:
    """--store, else $XDG_STATE_HOME/fleet/fleet.db (~/.local/state/fleet/fleet.db)."""
    if given:
        return Path(given)
    return _xdg(environ, "XDG_STATE_HOME", ".local/state") / "fleet" / "fleet.db"


def image_cache(environ: Environ = os.environ) -> Path:
    """Where images saved from the local engine are kept: $FLEET_CACHE_DIR, else XDG's cache."""
    base = environ.get("FLEET_CACHE_DIR") or _xdg(environ, "XDG_CACHE_HOME", ".cache") / "fleet"
    return Path(base) / "saved"


def image_archives(environ: Environ = os.environ) -> list[Path]:
    """$FLEET_IMAGES: docker-archive files or directories of them, os.pathsep-separated."""
    return [Path(p) for p in environ.get("FLEET_IMAGES", "").split(os.pathsep) if p]


def lab_name(environ: Environ = os.environ) -> str:
    """$FLEET_LAB, else `lab`: which of several labs side by side a command means."""
    return environ.get("FLEET_LAB") or "lab"


def insecure_registries(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """$FLEET_INSECURE_REGISTRIES: registries (host:port) fleet reads over plain HTTP, as
    docker's `insecure-registries` names them; every other registry is read over HTTPS."""
    return frozenset(r.strip() for r in environ.get("FLEET_INSECURE_REGISTRIES", "").split(",")
                     if r.strip())
