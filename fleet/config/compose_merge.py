"""How compose merges one service (or file) over another: for overrides and `extends`.

The compose specification's rules, as far as fleet reads services: mappings
merge key by key (the later file wins), `environment`, `labels` and `sysctls`
merge as mappings whichever syntax each side uses, `command` and
`entrypoint` are replaced, `volumes` and `devices` are keyed by their path in
the container, and the other lists are appended without duplicates.
"""

from __future__ import annotations

from typing import Any

from fleet.config.yamlfile import LocatedList, LocatedMap, Where

_AS_MAPPING = frozenset({"environment", "labels", "sysctls"})
_REPLACED = frozenset({"command", "entrypoint"})
_BY_TARGET = frozenset({"volumes", "devices"})


def merge_files(base: LocatedMap, over: LocatedMap) -> LocatedMap:
    """One whole compose file over another: services by name, the rest by key."""
    def top(key: str, old: Any, new: Any) -> Any:
        if key == "services" and isinstance(old, LocatedMap) and isinstance(new, LocatedMap):
            return union(old, new, lambda _, a, b: merge_service(a, b))
        return _deep(key, old, new)

    return union(base, over, top)


def merge_service(base: Any, over: Any) -> Any:
    """A service's settings over another's (a later file's, or `extends`' base)."""
    if not (isinstance(base, LocatedMap) and isinstance(over, LocatedMap)):
        return over
    return union(base, over, _service_key)


def union(base: LocatedMap, over: LocatedMap, rule: Any) -> LocatedMap:
    """base's keys, then over's; `rule(key, old, new)` for a key in both. Positions follow."""
    out = LocatedMap(Where(base.lc.file, base.lc.line))
    for source in (base, over):
        for key, value in source.items():
            out[key] = rule(key, out[key], value) if source is over and key in base else value
            _copy_position(source, key, out, key)
    return out


def as_mapping(value: Any) -> Any:
    """`[A=1, B]` -> {A: '1', B: None}; a mapping (or anything else) as it is."""
    if not isinstance(value, LocatedList):
        return value
    out = LocatedMap(Where(value.lc.file, value.lc.line))
    for index, item in enumerate(value):
        key, sep, rest = str(item).partition("=")
        out[key] = rest if sep else None
        _copy_position(value, index, out, key)
    return out


def _service_key(key: str, old: Any, new: Any) -> Any:
    if key in _REPLACED:
        return new
    if key in _AS_MAPPING:
        old, new = as_mapping(old), as_mapping(new)
    if isinstance(old, LocatedList) and isinstance(new, LocatedList):
        return _appended(old, new, _target if key in _BY_TARGET else _same)
    return _deep(key, old, new)


def _deep(key: str, old: Any, new: Any) -> Any:
    if isinstance(old, LocatedMap) and isinstance(new, LocatedMap):
        return union(old, new, _deep)
    return new


def _appended(old: LocatedList, new: LocatedList, identity: Any) -> LocatedList:
    """old's items then new's; an item of new with the identity of one of old's replaces it."""
    out = LocatedList(Where(old.lc.file, old.lc.line))
    slots: dict[Any, int] = {}
    for source in (old, new):
        for index, item in enumerate(source):
            ident = identity(item)
            if ident in slots:
                out[slots[ident]] = item
                _copy_position(source, index, out, slots[ident])
                continue
            slots[ident] = len(out)
            out.append(item)
            _copy_position(source, index, out, len(out) - 1)
    return out


def _same(item: Any) -> Any:
    return repr(item)


def _target(item: Any) -> Any:
    """A volume's or device's path in the container: its identity when merging."""
    if isinstance(item, dict):
        return item.get("target", repr(item))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _copy_position(source: Any, key: Any, target: Any, new_key: Any) -> None:
    where = source.lc
    if key in where.data:
        key_line, _, value_line, _ = where.data[key]
        target.lc.add(new_key, where.files.get(key, where.file), key_line, value_line)
