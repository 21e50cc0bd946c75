"""YAML straight into located plain containers: the fast path for compose files.

ruamel's round-trip loader keeps comments (which compose files do not need
back) at most of its cost; its safe composer gives the same nodes, with their
lines, in about half the time. Mappings and lists are built here, with `<<`
merge keys applied as YAML defines them (the mapping's own keys first, then
each merged mapping's in order, an earlier one winning), duplicate keys
refused, and every string value passed through a hook (compose's
interpolation). Other scalars are built by ruamel's safe constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.config.yamlfile import LocatedList, LocatedMap, Where, yaml_errors
from fleet.errors import ConfigError

_MAX_DEPTH = 64
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")

# A string value, its 0-based line and its dotted field -> the value to keep.
StringHook = Callable[[str, int, str], Any]


def load(text: str, path: str, strings: StringHook = lambda s, line, field: s) -> Any:
    """The one document in `text` (None if empty); YAML errors become ConfigErrors."""
    yaml = YAML(typ="safe", pure=True)
    yaml.max_depth = _MAX_DEPTH
    with yaml_errors(text, path):
        root = yaml.compose(text)
        return None if root is None else _Build(yaml.constructor, path, strings).node(
            root, "", 0)


@dataclass(frozen=True, slots=True)
class _Build:
    constructor: SafeConstructor
    path: str
    strings: StringHook

    def node(self, node: Node, field: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ConfigError("nested too deeply (a recursive alias?)", path=self.path,
                              line=node.start_mark.line + 1, field=field)
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _COLLECTIONS:
            # compose v2's `!reset` and `!override` change how files merge: not silently plain
            raise ConfigError(f"unsupported tag {node.tag}", path=self.path,
                              line=node.start_mark.line + 1, field=field)
        if isinstance(node, MappingNode):
            return self.mapping(node, field, depth)
        if isinstance(node, SequenceNode):
            out = LocatedList(Where(self.path, node.start_mark.line))
            for index, item in enumerate(node.value):
                out.append(self.node(item, f"{field}[{index}]", depth + 1))
                out.lc.add(index, self.path, item.start_mark.line, item.start_mark.line)
            return out
        if node.tag == _STR:
            return self.strings(node.value, node.start_mark.line, field)
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: MappingNode, field: str, depth: int) -> LocatedMap:
        out = LocatedMap(Where(self.path, node.start_mark.line))
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self.key(key_node, field)
            key_line = key_node.start_mark.line
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", path=self.path, line=key_line + 1,
                                  field=field)
            name = f"{field}.{key}" if field else str(key)
            value = self.node(value_node, name, depth + 1)
            out[key] = value
            out.lc.add(key, self.path, key_line,
                       key_line if value is None else value_node.start_mark.line)
        for merge in merges:
            self.merge(out, merge, field, depth)
        return out

    def merge(self, out: LocatedMap, merge: Node, field: str, depth: int) -> None:
        """`<<: *a` or `<<: [*a, *b]`: keys `out` lacks, from each in order."""
        for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
            if not isinstance(source, MappingNode):
                raise ConfigError("expected a mapping (or a list of them) to merge with `<<`",
                                  path=self.path, line=source.start_mark.line + 1, field=field)
            merged = self.mapping(source, field, depth + 1)
            for key, value in merged.items():
                if key not in out:
                    out[key] = value
                    key_line, _, value_line, _ = merged.lc.data[key]
                    out.lc.add(key, self.path, key_line, value_line)

    def key(self, node: Node, field: str) -> Any:
        if not isinstance(node, ScalarNode):
            raise ConfigError("expected a name as a key, got a mapping or list", path=self.path,
                              line=node.start_mark.line + 1, field=field)
        return node.value if node.tag == _STR else self.constructor.construct_object(node)
