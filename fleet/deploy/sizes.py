"""compose's byte values and durations, exactly, as docker's flags take them."""

from __future__ import annotations

import re

from fleet.errors import ConfigError

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", re.IGNORECASE)
_UNIT = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|ms|m|s|us))")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def size_bytes(value: object, where: str) -> int:
    """A compose byte value (an int, or 512m, 1.5G, 100kb) in bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{where}: expected a size like 256m or 1.5g, got {value!r}")
    return int(float(match[1]) * _UNIT[match[2].lower()])


def size_option(value: object, where: str) -> str:
    """A byte value for a docker flag: whole MiB as `Nm`, else bytes."""
    size = size_bytes(value, where)
    return f"{size // 2**20}m" if size and size % 2**20 == 0 else str(size)


def seconds(value: object, where: str) -> float:
    """A compose duration ("1m30s", "500ms", or a number of seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{where}: {value!r} is not a duration like 10s, 1m30s or 500ms")
    return sum(float(n) * _SCALE[u] for n, u in parts)
