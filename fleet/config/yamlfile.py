"""YAML that remembers where it came from: parse a user's file, read it with pointed errors."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLFutureWarning, YAMLWarning
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from fleet.errors import ConfigError, close_match

# Deeper than any real file; a pathological one gets a ConfigError, not a RecursionError.
_MAX_DEPTH = 64


def parse(text: str, path: str) -> Node:
    """The one document in `text`; any YAML error becomes a ConfigError with its line."""
    yaml = YAML(typ="rt")
    yaml.max_depth = _MAX_DEPTH
    with yaml_errors(text, path):
        value = yaml.load(text)
    line = getattr(getattr(value, "lc", None), "line", None)
    return Node(value, path, line + 1 if isinstance(line, int) else 1, "")


@contextmanager
def yaml_errors(text: str, path: str) -> Iterator[None]:
    """ruamel's errors (and warnings about legal YAML) -> a ConfigError with the line."""
    try:
        with warnings.catch_warnings():
            # ruamel warns about legal YAML (a re-used anchor, `1e5` under %YAML 1.1).
            warnings.simplefilter("ignore", YAMLWarning)
            warnings.simplefilter("ignore", YAMLFutureWarning)
            yield
    except ConfigError:
        raise
    except MarkedYAMLError as e:
        raise ConfigError(_problem(e), path=path, line=_mark_line(e)) from None
    except ReaderError as e:
        line = text.count("\n", 0, e.position) + 1 if isinstance(e.position, int) else None
        raise ConfigError(f"invalid YAML: {e.reason}", path=path, line=line) from None
    except Exception as e:
        # ruamel's constructors raise bare ValueError, KeyError or AssertionError
        # on a malformed explicit tag (`!!int abc`, `!!bool x`), without a mark.
        raise ConfigError(f"invalid YAML: {type(e).__name__}: {e}", path=path) from e


def _problem(e: MarkedYAMLError) -> str:
    context = str(e.context or "")
    start, end = e.context_mark, e.problem_mark
    if context and start is not None and end is not None and start.line != end.line:
        # The error's line is where ruamel gave up; the mistake is often where this began.
        context += f" (from line {start.line + 1})"
    return "invalid YAML: " + ", ".join(p for p in (context, str(e.problem or "")) if p)


def _mark_line(e: MarkedYAMLError) -> int | None:
    mark = e.problem_mark or e.context_mark
    return None if mark is None else int(mark.line) + 1


class Where:
    """Where a resolved mapping's or list's parts came from: ruamel's line data, and files.

    Compose documents are built from several files (overrides, `extends`), so
    each key or item also says its file. Lines are 0-based, as ruamel's.
    """

    __slots__ = ("data", "file", "files", "line")

    def __init__(self, file: str, line: int) -> None:
        self.file = file
        self.line = line
        self.data: dict[Any, tuple[int, int, int, int]] = {}
        self.files: dict[Any, str] = {}

    def add(self, index: Any, file: str, key_line: int, value_line: int) -> None:
        self.data[index] = (key_line, 0, value_line, 0)
        self.files[index] = file

    def key(self, index: Any) -> tuple[int, int]:
        return self.data[index][:2]

    def value(self, index: Any) -> tuple[int, int]:
        return self.data[index][2:]

    def item(self, index: int) -> tuple[int, int]:
        return self.data[index][:2]


class LocatedMap(dict[str, Any]):
    """A plain mapping that knows where each of its keys came from."""

    __slots__ = ("lc",)

    def __init__(self, where: Where) -> None:
        super().__init__()
        self.lc = where


class LocatedList(list[Any]):
    """A plain list that knows where each of its items came from."""

    __slots__ = ("lc",)

    def __init__(self, where: Where) -> None:
        super().__init__()
        self.lc = where


def _file(container: Any, index: Any, fallback: str) -> str:
    where = getattr(container, "lc", None)
    return where.files.get(index, fallback) if isinstance(where, Where) else fallback


def _line(container: Any, method: str, index: Any, fallback: int | None) -> int | None:
    """1-based line from ruamel's 0-based line data, which merged keys lack."""
    try:
        return int(getattr(container.lc, method)(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return fallback


def describe(value: Any) -> str:
    """A value as the user wrote it, for 'expected ..., got ...'."""
    if value is None:
        return "null"
    if isinstance(value, bool | ScalarBoolean):
        return "true" if value else "false"
    if isinstance(value, str):
        text = str(value)
        return repr(text if len(text) <= 60 else text[:57] + "...")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value} ({type(value).__name__})"


@dataclass(frozen=True, slots=True)
class Node:
    """A value read from YAML, with its file, 1-based line and dotted field."""

    value: Any
    path: str
    line: int | None
    field: str

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, line=self.line, field=self.field)

    def expected(self, what: str) -> ConfigError:
        return self.error(f"expected {what}, got {describe(self.value)}")

    def child(self, name: str, value: Any = None, line: int | None = None) -> Node:
        """A node below this one; by default a missing value at this node's line."""
        field = f"{self.field}.{name}" if self.field else name
        return Node(value, self.path, self.line if line is None else line, field)

    def entries(self, allowed: Collection[str] | None = None) -> list[tuple[Node, Node]]:
        """A mapping's (key, value) nodes; null is empty; string keys, in `allowed` if given."""
        mapping = self.value
        if mapping is None:
            return []
        if not isinstance(mapping, dict):
            raise self.expected("a mapping")
        pairs = []
        for k, v in mapping.items():
            key_line = _line(mapping, "key", k, self.line)
            path = _file(mapping, k, self.path)
            field = f"{self.field}.{k}" if self.field else str(k)
            key = Node(k, path, key_line, field)
            if not isinstance(k, str):
                raise key.expected("a name (quote it to make it a string)")
            if allowed is not None and k not in allowed:
                raise key.error(f"unknown key {k!r}{close_match(k, allowed)}; "
                                f"allowed keys: {', '.join(sorted(allowed))}")
            # ruamel puts a null value on the next token's line: use the key's.
            value_line = key_line if v is None else _line(mapping, "value", k, key_line)
            pairs.append((key, Node(v, path, value_line, key.field)))
        return pairs

    def fields(self, allowed: Collection[str] | None = None) -> dict[str, Node]:
        """A mapping's value nodes by key, as `entries`."""
        return {key.value: value for key, value in self.entries(allowed)}

    def items(self) -> list[Node]:
        """A list's item nodes; null reads as empty."""
        seq = self.value
        if seq is None:
            return []
        if not isinstance(seq, list):
            raise self.expected("a list")
        return [Node(v, _file(seq, i, self.path), _line(seq, "item", i, self.line),
                     f"{self.field}[{i}]") for i, v in enumerate(seq)]

    def text(self, what: str = "a string") -> str:
        """A non-empty string."""
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.expected(what)
        return str(self.value)

    def integer(self, low: int, high: int, what: str = "an integer") -> int:
        value = self.value
        if (not isinstance(value, int) or isinstance(value, bool | ScalarBoolean)
                or not low <= value <= high):
            raise self.expected(f"{what} {low}-{high}")
        return int(value)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool | ScalarBoolean):
            raise self.expected("true or false")
        return bool(self.value)

    def scalar_text(self) -> str:
        """A string, or a number or boolean as its YAML text (true -> 'true')."""
        value = self.value
        if isinstance(value, bool | ScalarBoolean):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise self.expected("a string, number or boolean")
