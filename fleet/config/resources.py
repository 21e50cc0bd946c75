"""A compose service's memory and CPU, read from every form compose accepts, as a plan counts them.

Memory comes from `deploy.resources.reservations.memory` or `mem_reservation`,
`deploy.resources.limits.memory` or `mem_limit`, and `memswap_limit`; CPU from
`deploy.resources.limits.cpus` or `cpus`, and `deploy.resources.reservations.cpus`.
Where a figure has two forms, docker compose runs the deploy one and refuses
a file that gives both with different values; a `deploy.resources.limits` (or
`reservations`) block without the key counts as 0 there, so it refuses that
too. fleet does the same, with the same words.

A replica is packed at its memory reservation, else its limit, else an
estimate: never at 0 MB, since every container takes some. The estimate is
DEFAULT_MEM_ESTIMATE_MB unless the stack (`x-fleet.mem_estimate` at the top
level) or the service (its own `x-fleet.mem_estimate`) says otherwise; only
the stack-wide or built-in one counts as assumed. CPU is packed at its
reservation alone: a CPU limit caps a shared, compressible resource.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ruamel.yaml.scalarbool import ScalarBoolean

from fleet.config.yamlfile import Node
from fleet.errors import ConfigError
from fleet.model import Service

# What a container with no memory figure is counted at: more than a small
# daemon (mosquitto, an exporter: 5-20 MB), less than a database or Home
# Assistant (200-400 MB), so seven IOTstack services never "fit" a Pi Zero.
DEFAULT_MEM_ESTIMATE_MB = 128
# dockerd refuses a memory limit or reservation under 6 MB.
DOCKER_MIN_MEMORY = 6 * 2**20

LIMIT_KEYS = ("cpus", "memory", "pids")
RESERVATION_KEYS = ("cpus", "memory", "devices")
# Keys that would change what a container may take that fleet cannot honour: refused by name.
REFUSED = {
    "cpu_count": "is for Windows containers; on Linux use cpus",
    "cpu_percent": "is for Windows containers; on Linux use cpus",
}

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*", re.IGNORECASE)
_UNIT = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_MAX_BYTES = 2**50  # a PiB: past any board, small enough to stay an exact int


@dataclass(frozen=True, slots=True)
class Figures:
    """What a service asks for, per replica: counted (mem_mb, cpu_millis) and run with (limits)."""

    mem_mb: int
    mem_assumed: bool
    mem_limit_mb: int
    cpu_millis: int
    cpu_limit_millis: int


def shown(value: object) -> str:
    """A user's value for a message: strings quoted, anything cut at 60 characters."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def size_bytes(value: object, field: str = "size") -> int:
    """A compose size (bytes as an int, or 512m, 1.5G, 100kb, 2048b) in bytes."""
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool | ScalarBoolean) and value >= 0:
        size = int(value)
    elif match:
        size = math.ceil(float(match[1]) * _UNIT[match[2].lower()])
    else:
        raise ConfigError(f"expected a size like 256M or 1.5G, got {shown(value)}", field=field)
    if size > _MAX_BYTES:
        raise ConfigError(f"expected a size under 1P, got {shown(value)}", field=field)
    return size


def size_mb(value: object, field: str = "size") -> int:
    """A compose size in MiB, rounded up."""
    return math.ceil(size_bytes(value, field) / 2**20)


def cpu_millis(value: object, field: str = "cpus") -> int:
    """A compose `cpus` value ("0.5", 2) in millicores, rounded up."""
    try:
        cpus = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        cpus = math.nan
    if isinstance(value, bool | ScalarBoolean) or not 0 <= cpus <= 1024:
        raise ConfigError(f"expected a number of CPUs like 0.5 or 2, got {shown(value)}",
                          field=field)
    return math.ceil(cpus * 1000)


def estimate(node: Node | None, default: int) -> int:
    """An `x-fleet.mem_estimate` in MiB (at least 1: a container is never free), else `default`."""
    if node is None:
        return default
    mb = _read(node, size_mb)
    if mb < 1:
        raise node.error("a memory estimate must be at least 1M: every container takes some")
    return mb


def figures(service: Mapping[str, Node], resources: Mapping[str, Node], *,
            own_estimate: Node | None, default_estimate: int) -> Figures:
    """A service's memory and CPU from its fields and its `deploy.resources` fields."""
    for key, why in REFUSED.items():
        if key in service:
            raise service[key].error(f"{key} {why}; fleet does not support it")
    limits = _block(resources, "limits", LIMIT_KEYS)
    reserve = _block(resources, "reservations", RESERVATION_KEYS)
    mem_limit = _pick(service.get("mem_limit"), limits, "limits", "memory", size_bytes)
    mem_reserve = _pick(service.get("mem_reservation"), reserve, "reservations", "memory",
                        size_bytes)
    _check_memory(service, resources, mem_limit, mem_reserve)
    cpu_limit = _pick(service.get("cpus"), limits, "limits", "cpus", cpu_millis)
    _pick(service.get("pids_limit"), limits, "limits", "pids", _count)  # the same rule's check
    cpu_reserve = _read(reserve["cpus"], cpu_millis) if reserve and "cpus" in reserve else 0
    counted = mem_reserve or mem_limit
    own = None if own_estimate is None else estimate(own_estimate, default_estimate)
    return Figures(
        mem_mb=math.ceil(counted / 2**20) if counted else own or default_estimate,
        mem_assumed=not counted and own is None,
        mem_limit_mb=math.ceil(mem_limit / 2**20),
        cpu_millis=cpu_reserve,
        cpu_limit_millis=cpu_limit)


def _count(value: object, field: str) -> int:
    """A whole number such as pids_limit (-1: no limit)."""
    if isinstance(value, bool | ScalarBoolean) or not isinstance(value, int | str):
        raise ConfigError(f"expected a whole number, got {shown(value)}", field=field)
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"expected a whole number, got {shown(value)}", field=field) from None


def _read(node: Node, parse_value: Callable[..., int]) -> int:
    try:
        return parse_value(node.value, field=node.field)
    except ConfigError as e:
        raise node.error(e.reason) from None


def _block(resources: Mapping[str, Node], name: str,
           allowed: tuple[str, ...]) -> dict[str, Node] | None:
    """`limits` or `reservations` as compose sees it: None if absent, else its fields."""
    node = resources.get(name)
    if node is None or node.value is None:
        return None
    return node.fields(allowed)


def _pick(short: Node | None, block: dict[str, Node] | None, block_name: str, key: str,
          parse_value: Callable[..., int]) -> int:
    """One figure from its two forms, as docker compose takes it (0: not given)."""
    value = 0 if short is None else _read(short, parse_value)
    if block is None:
        return value
    deploy = _read(block[key], parse_value) if key in block else 0
    if short is not None and value and value != deploy:  # compose: a 0 is not given
        name = short.field.rsplit(".", 1)[-1]
        long = f"deploy.resources.{block_name}.{key}"
        given = f"is {shown(block[key].value)}" if key in block else "is not set (read as 0)"
        raise short.error(f"can't set distinct values on {name!r} and {long!r} (docker "
                          f"compose refuses the file): {long} {given}; give one form, or the "
                          "same value in both")
    return deploy or value


def _check_memory(service: Mapping[str, Node], resources: Mapping[str, Node],
                  limit: int, reserve: int) -> None:
    """What dockerd would refuse at `docker run`, said here with the file's line."""
    for amount, name in ((limit, "limit"), (reserve, "reservation")):
        if 0 < amount < DOCKER_MIN_MEMORY:
            raise _where(service, resources, name).error(
                f"a memory {name} under 6M: docker refuses it (its minimum is 6 MB)")
    if limit and reserve > limit:
        raise _where(service, resources, "reservation").error(
            f"memory reservation {_mib(reserve)} is over the limit {_mib(limit)}: docker "
            "refuses that; the reservation is what the plan counts, the limit what the "
            "container may take")
    swap = service.get("memswap_limit")
    if swap is None or swap.value in (-1, "-1"):
        return
    total = _read(swap, size_bytes)
    if total and not limit:
        raise swap.error("memswap_limit needs a memory limit (mem_limit or "
                         "deploy.resources.limits.memory): docker refuses it alone")
    if total and total < limit:
        raise swap.error(f"memswap_limit {_mib(total)} is under the memory limit {_mib(limit)}: "
                         "it is memory plus swap, so at least the limit (-1: swap unlimited)")


def _where(service: Mapping[str, Node], resources: Mapping[str, Node], name: str) -> Node:
    block = "limits" if name == "limit" else "reservations"
    short = service.get("mem_limit" if name == "limit" else "mem_reservation")
    deploy = resources.get(block)
    if deploy is not None and isinstance(deploy.value, dict) and "memory" in deploy.value:
        return deploy.fields()["memory"]
    assert short is not None  # a figure came from one of the two forms
    return short


def _mib(size: int) -> str:
    mb = size / 2**20
    return f"{mb / 1024:g}G" if mb >= 1024 and mb % 1024 == 0 else f"{mb:g}M"


def refuse_assumed(services: Iterable[Service]) -> None:
    """`--strict`: a service with no memory figure of its own is an error, named."""
    assumed = [s.name for s in services if s.mem_assumed]
    if assumed:
        names = ", ".join(assumed[:10]) + (f" and {len(assumed) - 10} more"
                                           if len(assumed) > 10 else "")
        raise ConfigError(f"--strict: no memory figure for {names}: give each a "
                          "mem_reservation or mem_limit (or deploy.resources), or "
                          "x-fleet.mem_estimate")
