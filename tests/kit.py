"""Factories of test values (devices, heartbeats, services, stacks, inventories): a test names
only the fields it cares about and takes a plausible default for the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleet import profiles
from fleet.config.stack import Stack
from fleet.model import Broker, Device, Inventory, Profile, Resources, Service
from fleet.wire import Containers, Heartbeat, WireImpedance

WORKLOAD = "fleet/workload:latest"  # the lab's own image: on every lab board already

# A healthy link: a few ms each way, an empty queue, nothing lost.
QUICK = WireImpedance(latency_ms=5.0, processing_ms=20.0, queue=0, drift_ms=1.0,
                      reliability=1.0)


def device(id: str = "pi-1", profile: str | Profile = "pi4b-8g", **overrides: Any) -> Device:
    """A board on the LAN at `<id>.local`, of the arch its profile says."""
    chosen = profiles.get(profile) if isinstance(profile, str) else profile
    return replace(Device(id, f"{id}.local", chosen, chosen.arch), **overrides)


def heartbeat(**overrides: Any) -> Heartbeat:
    """A Pi 4B 8G's heartbeat: a light load, a third of its card used, a healthy link."""
    fields: dict[str, Any] = dict(
        v=1, seq=1, clock=0.0, cpu_pct=10.0, load1=0.3, mem_used_mb=1500,
        mem_total_mb=8192, mem_budget_mb=7840, disk_used_mb=10_000, disk_total_mb=30_005,
        disk_budget_mb=24_005, impedance=QUICK, temp_c=50.0, throttled=[],
        containers=Containers(running=2, total=2))
    return Heartbeat(**(fields | overrides))


def service(name: str = "web", *, mem_mb: int = 64, disk_mb: int = 100, cpu_millis: int = 0,
            image: str = WORKLOAD, **overrides: Any) -> Service:
    """One replica of `image` asking for the resources given, placed anywhere."""
    return Service(name, image, request=Resources(mem_mb, disk_mb, cpu_millis), **overrides)


def stack(*services: Service, name: str = "demo",
          configs: Mapping[str, Path] | None = None) -> Stack:
    """A stack of `services` (one `web` if none are given)."""
    return Stack(name, services or (service(),), dict(configs or {}))


def inventory(*devices: Device, path: Path = Path("inventory.yaml"),
              groups: Mapping[str, Sequence[str]] | None = None,
              broker: Broker | None = None) -> Inventory:
    """An inventory of `devices` (two Pis if none are given), as if read from `path`."""
    found = devices or (device("pi-1"), device("pi-2"))
    return Inventory(path, found, {g: tuple(ids) for g, ids in (groups or {}).items()},
                     broker or Broker())
