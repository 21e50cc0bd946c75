"""A service's environment: `env_file`s read on the controller, `environment` over them.

compose's env-file syntax (read as the loader reads `.env`, plus a bare `KEY`
taken from the controller's environment) becomes docker's plain `KEY=VALUE`
lines, which fleet writes to a 0600 file on the board: values stay out of
process lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleet.config.interpolate import TemplateError, parse_env_file
from fleet.errors import ConfigError

_BARE = re.compile(r"\s*(?:export\s+)?([_A-Za-z][_A-Za-z0-9.]*)\s*")

Pairs = tuple[tuple[str, str], ...]


def parse(text: str, environ: Mapping[str, str], where: str) -> Pairs:
    """An env file's text -> (key, value) pairs, as compose reads it (fleet.config.interpolate:
    quotes, comments, `${VAR}` from `environ`); a bare KEY line takes KEY from `environ`, and
    is left out if it is unset there, as compose leaves it out."""
    lines = text.splitlines()
    bare = [_BARE.fullmatch(line) for line in lines]
    try:
        # bare lines blanked, not dropped: an error's line number stays the file's
        found = parse_env_file("\n".join("" if b else line for b, line in zip(bare, lines,
                                                                             strict=True)),
                               environ)
    except TemplateError as e:
        raise ConfigError(f"{where} {e.reason}") from None
    for match in bare:
        if match and match[1] in environ:
            found.setdefault(match[1], environ[match[1]])
    return tuple(found.items())


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
