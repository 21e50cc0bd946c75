"""Compose's variable interpolation (`$VAR`, `${VAR:-default}`, `$$` ...) and its `.env` files.

The forms are the compose specification's: `${VAR}` and `$VAR`; `:-` and `-`
(a default when unset or empty / when unset); `:?` and `?` (an error); `:+`
and `+` (a replacement when set); `$$` for a literal dollar sign. Defaults,
replacements and messages may hold further expansions, evaluated only when
used, as a shell does. A lone `$` is an error, as in docker compose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_ENV_LINE = re.compile(r"\s*(?:export\s+)?([_A-Za-z][_A-Za-z0-9.]*)\s*=\s*(.*?)\s*")


class TemplateError(ValueError):
    """A value that cannot be interpolated; `variable` is the one at fault, if any."""

    def __init__(self, reason: str, variable: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.variable = variable


def interpolate(text: str, env: Mapping[str, str],
                warn: Callable[[str], None] = lambda name: None) -> str:
    """`text` with every variable replaced; `warn(name)` for each unset one without a default."""
    scan = _Scan(text, env, warn)
    value = scan.word(nested=False, live=True)
    return value


@dataclass(slots=True)
class _Scan:
    """A cursor over one template; `live` False parses an unused branch without evaluating it."""

    text: str
    env: Mapping[str, str]
    warn: Callable[[str], None]
    at: int = 0

    def word(self, *, nested: bool, live: bool) -> str:
        """Up to the end (or, nested, up to the `}` that closes the enclosing `${`)."""
        parts: list[str] = []
        text = self.text
        while self.at < len(text):
            stop = text.find("$", self.at)
            close = text.find("}", self.at) if nested else -1
            if close != -1 and (stop == -1 or close < stop):
                parts.append(text[self.at:close])
                self.at = close
                return "".join(parts)
            if stop == -1:
                parts.append(text[self.at:])
                self.at = len(text)
                break
            parts.append(text[self.at:stop])
            self.at = stop + 1
            parts.append(self.dollar(live))
        if nested:
            raise TemplateError("a `${` is never closed by `}`")
        return "".join(parts)

    def dollar(self, live: bool) -> str:
        """What follows a `$`: `$`, a name, or a braced expression."""
        text, at = self.text, self.at
        if text.startswith("$", at):
            self.at += 1
            return "$"
        if text.startswith("{", at):
            self.at += 1
            return self.braced(live)
        name = _NAME.match(text, at)
        if name is None:
            raise TemplateError("a `$` that starts no variable (write `$$` for a dollar sign)")
        self.at = name.end()
        return self.lookup(name[0], live)

    def braced(self, live: bool) -> str:
        text = self.text
        name = _NAME.match(text, self.at)
        if name is None:
            end = text.find("}", self.at)
            shown = text[self.at:end] if end != -1 else text[self.at:]
            raise TemplateError(f"invalid variable name {shown!r} in `${{...}}`")
        var = name[0]
        self.at = name.end()
        if text.startswith("}", self.at):
            self.at += 1
            return self.lookup(var, live)
        op = next((o for o in _OPERATORS if text.startswith(o, self.at)), None)
        if op is None:
            raise TemplateError(f"expected `}}` or one of {' '.join(_OPERATORS)} after "
                                f"`${{{var}`", var)
        self.at += len(op)
        value = self.env.get(var)
        usable = value is not None and (value != "" or not op.startswith(":"))
        used = (not usable) if op[-1] in "-?" else usable
        word = self.word(nested=True, live=live and used)
        self.at += 1  # the closing brace
        if not live:
            return ""
        if op[-1] == "-":
            return word if used else str(value)
        if op[-1] == "+":
            return word if used else ""
        if used:
            how = "unset or empty" if op == ":?" else "unset"
            raise TemplateError(word or f"required variable {var} is {how}", var)
        return str(value)

    def lookup(self, var: str, live: bool) -> str:
        value = self.env.get(var)
        if value is None:
            if live:
                self.warn(var)
            return ""
        return value


def escape(text: str) -> str:
    """`text` as a template that interpolates back to itself."""
    return text.replace("$", "$$")


def parse_env_file(text: str, env: Mapping[str, str]) -> dict[str, str]:
    """`KEY=VALUE` lines as compose reads `.env`; `env` (plus earlier lines) fills `${VAR}`s.

    Blank lines and `#` comments are skipped, `export ` is allowed, a value
    in single quotes is literal, one in double quotes or none is interpolated,
    and an unquoted value ends at ` #`. Raises TemplateError with the line number.
    """
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            raise TemplateError(f"line {number}: expected KEY=VALUE, got {line.strip()!r}")
        key, raw = match.groups()
        try:
            found[key] = _env_value(raw, {**found, **env})
        except TemplateError as e:
            raise TemplateError(f"line {number}: {e.reason}", e.variable or key) from None
    return found


def _env_value(raw: str, env: Mapping[str, str]) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return interpolate(raw[1:-1].replace("\\n", "\n"), env)
    comment = raw.find(" #")
    return interpolate(raw if comment == -1 else raw[:comment].rstrip(), env)
