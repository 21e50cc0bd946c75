"""A service's environment: `env_file`s read on the controller, `environment` over them.

compose's env-file syntax (`KEY=VALUE`, `export KEY=VALUE`, comments, single
quotes taken literally, double quotes with escapes, a bare `KEY` taken from
the controller's environment) becomes docker's plain `KEY=VALUE` lines, which
fleet writes to a 0600 file on the board: values stay out of process lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleet.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}

Pairs = tuple[tuple[str, str], ...]


def parse(text: str, environ: Mapping[str, str], where: str) -> Pairs:
    """An env file's text -> (key, value) pairs in order; a bare KEY unset in `environ` is left
    out, as compose leaves it."""
    pairs = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{where} line {number}: expected KEY=VALUE, got {raw.strip()!r}")
        if not eq:
            if key in environ:
                pairs.append((key, environ[key]))
            continue
        pairs.append((key, _value(rest.strip(), f"{where} line {number}")))
    return tuple(pairs)


def _value(text: str, where: str) -> str:
    if text[:1] in ("'", '"'):
        quote = text[0]
        end = text.find(quote, 1)
        while quote == '"' and end > 0 and _escaped(text, end):
            end = text.find(quote, end + 1)
        if end < 0:
            raise ConfigError(f"{where}: a {quote} quote is not closed")
        body = text[1:end]
        return body if quote == "'" else re.sub(
            r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body)
    comment = re.search(r"\s#", text)
    return (text[:comment.start()] if comment else text).strip()


def _escaped(text: str, at: int) -> bool:
    slashes = len(text[:at]) - len(text[:at].rstrip("\\"))
    return slashes % 2 == 1


def read(value: object, base: Path, environ: Mapping[str, str], where: str) -> Pairs:
    """A service's `env_file` (a path, a list of them, or {path, required}) read from `base`."""
    pairs: list[tuple[str, str]] = []
    for path, required in _files(value, where):
        file = base / path
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            if required:
                raise ConfigError(f"{where}: env_file {path}: no such file ({file})") from None
            continue
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{where}: env_file {path}: cannot read it: {e}") from None
        pairs += parse(text, environ, f"{where}: env_file {path}")
    return tuple(pairs)


def _files(value: object, where: str) -> list[tuple[str, bool]]:
    items = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(items, Sequence):
        raise ConfigError(f"{where}: env_file: expected a path or a list of paths")
    found = []
    for item in items:
        if isinstance(item, Mapping):
            if "path" not in item or item.get("format", "") not in ("", "raw", None):
                raise ConfigError(f"{where}: env_file: expected {{path: FILE, required: "
                                  "true|false}} (format: raw is not supported)")
            found.append((str(item["path"]), bool(item.get("required", True))))
        else:
            found.append((str(item), True))
    return found


def environment(value: object, environ: Mapping[str, str], where: str) -> Pairs:
    """A service's `environment` (mapping or KEY=VALUE list); a bare KEY comes from `environ`."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = [(str(k), None if v is None else _scalar(v)) for k, v in value.items()]
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = [(k, v if eq else None) for k, eq, v in (str(i).partition("=") for i in value)]
    else:
        raise ConfigError(f"{where}: environment: expected a mapping or a list of KEY=VALUE")
    return tuple((k, environ[k] if v is None else v) for k, v in items
                 if v is not None or k in environ)


def merged(*layers: Pairs) -> Pairs:
    """Later layers win, each key once, in the order first seen."""
    found: dict[str, str] = {}
    for layer in layers:
        found.update(layer)
    return tuple(found.items())


def docker_env_file(pairs: Pairs) -> tuple[bytes, Pairs]:
    """docker's env-file text for the pairs it can hold, and those it cannot (a newline in
    the value: those go as -e)."""
    plain = [(k, v) for k, v in pairs if "\n" not in v and "\r" not in v]
    rest = tuple((k, v) for k, v in pairs if (k, v) not in plain)
    return "".join(f"{k}={v}\n" for k, v in plain).encode(), rest


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
