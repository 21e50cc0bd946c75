"""compose's byte values and durations as docker's flags take them (sizes read by
fleet.config.resources, the one reader of compose byte values)."""

from __future__ import annotations

import re

from fleet.config.resources import size_bytes
from fleet.errors import ConfigError

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|ms|m|s|us))")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def size_option(value: object, where: str) -> str:
    """A byte value for a docker flag: whole MiB as `Nm`, else bytes."""
    size = size_bytes(value, field=where)
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
