"""The layout's rules, from the sources (ast): one-way imports, short modules, a true map."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
FLEET = ROOT / "fleet"
TUI = ROOT / "tui"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 400

# The import rule's one source of truth: a module may import only packages ranked
# below its own (or its own package). docs/architecture.md lists them in this order.
RANKS = (
    "errors", "model", "profiles", "wire", "fanout", "scheduler", "config", "lan", "health",
    "agent", "bus", "ssh", "deploy", "cleanup", "render", "actions", "daemon", "lab", "bench",
    "tui", "cli",
)
# `python -m fleet` is the CLI's entry point, and ranks with it.
ENTRY_POINTS = {"__main__": "cli"}
# fleet/__init__.py holds only a docstring: anyone may import it, and it may import nothing.
PACKAGE_ROOT = "fleet"


@dataclass(frozen=True, slots=True)
class Import:
    source: Path
    line: int
    module: str  # absolute, dotted
    package: str  # the ranked package it belongs to


def _sources() -> list[Path]:
    return sorted([*FLEET.rglob("*.py"), *TUI.rglob("*.py")])


def _relative(source: Path) -> str:
    return source.relative_to(ROOT).as_posix()


def _module_name(source: Path) -> str:
    parts = source.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_fleet_child(name: str) -> bool:
    return (FLEET / f"{name}.py").is_file() or (FLEET / name / "__init__.py").is_file()


def _package_of(module: str) -> str | None:
    """The ranked package a dotted module belongs to; None outside fleet and tui."""
    parts = module.split(".")
    if parts[0] == "tui":
        return "tui"
    if parts[0] != "fleet":
        return None
    if len(parts) == 1:
        return PACKAGE_ROOT
    return ENTRY_POINTS.get(parts[1], parts[1])


def _absolute(node: ast.ImportFrom, source: Path) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(source).split(".")
    if source.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported(node: ast.AST, source: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        module = _absolute(node, source)
        if module == "fleet":  # `from fleet import model` names a module, not a value
            yield from (f"fleet.{a.name}" if _is_fleet_child(a.name) else "fleet"
                        for a in node.names)
        else:
            yield module


def _imports(source: Path, text: str | None = None) -> Iterator[Import]:
    """Every fleet or tui import in a file: in functions and `if TYPE_CHECKING:` too."""
    code = source.read_text() if text is None else text
    for node in ast.walk(ast.parse(code, str(source))):
        for module in _imported(node, source):
            package = _package_of(module)
            if package is not None:
                yield Import(source, getattr(node, "lineno", 0), module, package)


def _rank(package: str) -> int:
    return -1 if package == PACKAGE_ROOT else RANKS.index(package)


def _rank_violation(found: Import) -> str | None:
    importer = _package_of(_module_name(found.source))
    assert importer is not None
    if found.package == importer or found.package == PACKAGE_ROOT:
        return None
    if found.package not in RANKS or importer not in RANKS:
        return f"{_relative(found.source)}:{found.line}: {found.module}: package has no rank"
    if _rank(found.package) < _rank(importer):
        return None
    return (f"{_relative(found.source)}:{found.line} imports {found.module}: "
            f"{importer} (rank {_rank(importer)}) may not import {found.package} "
            f"(rank {_rank(found.package)})")


def _existing_packages() -> set[str]:
    names = {p.stem for p in FLEET.glob("*.py")} | {
        p.parent.name for p in FLEET.glob("*/__init__.py")}
    return {ENTRY_POINTS.get(n, n) for n in names} - {"__init__"} | {"tui"}


def test_every_package_has_a_rank_and_every_rank_a_package() -> None:
    existing = _existing_packages()
    unranked, absent = existing - set(RANKS), set(RANKS) - existing
    assert (unranked, absent) == (set(), set())


def test_imports_point_only_to_lower_ranked_packages() -> None:
    found = [_rank_violation(i) for s in _sources() for i in _imports(s)]
    violations = [v for v in found if v]
    assert violations == [], "\n" + "\n".join(violations)


def test_only_the_cli_imports_the_tui() -> None:
    violations = [
        f"{_relative(i.source)}:{i.line} imports {i.module}"
        for s in _sources() if s.is_relative_to(FLEET)
        for i in _imports(s)
        if i.package == "tui" and _package_of(_module_name(s)) != "cli"
    ]
    assert violations == [], "\n" + "\n".join(violations)


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {_relative(s): n for s in _sources()
                if (n := len(s.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}


# The rule itself, on made-up sources, so a checker that finds nothing is known to be able to.

def _violations_in(relative: str, code: str) -> list[str]:
    found = (_rank_violation(i) for i in _imports(ROOT / relative, code))
    return [v for v in found if v]


def test_the_rule_sees_upward_imports_in_functions_and_type_checking() -> None:
    code = ("from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from fleet.deploy.apply import Rollout\n"
            "def f() -> None:\n    import fleet.render.plan\n")
    assert _violations_in("fleet/ssh/trust.py", code) == [
        "fleet/ssh/trust.py:3 imports fleet.deploy.apply: ssh (rank 11) may not import "
        "deploy (rank 12)",
        "fleet/ssh/trust.py:5 imports fleet.render.plan: ssh (rank 11) may not import "
        "render (rank 14)",
    ]


def test_the_rule_resolves_relative_imports() -> None:
    code = "from ..render import plan\nfrom . import facts\nfrom .. import model\n"
    assert _violations_in("fleet/deploy/apply.py", code) == [
        "fleet/deploy/apply.py:1 imports fleet.render: deploy (rank 12) may not import "
        "render (rank 14)",
    ]


def test_the_rule_reads_from_fleet_import_as_modules() -> None:
    code = "from fleet import daemon, model\n"
    assert _violations_in("fleet/health/view.py", code) == [
        "fleet/health/view.py:1 imports fleet.daemon: health (rank 8) may not import "
        "daemon (rank 16)",
    ]


def test_the_entry_point_ranks_with_the_cli() -> None:
    assert _package_of(_module_name(FLEET / "__main__.py")) == "cli"


# docs/architecture.md's package table: `| rank | `path` | what it holds |`, in rank order.

def _documented() -> list[tuple[int, str]]:
    section = ARCHITECTURE.read_text().split("\n## Packages", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`([^`]+)`", section, flags=re.MULTILINE)
    return [(int(rank), path) for rank, path in rows]


def _path_package(path: str) -> str:
    name = path.removeprefix("fleet/").removesuffix("/").removesuffix(".py")
    return ENTRY_POINTS.get(name, name)


def _existing_paths() -> set[str]:
    modules = {f"fleet/{p.name}" for p in FLEET.glob("*.py") if p.name != "__init__.py"}
    packages = {f"fleet/{p.parent.name}/" for p in FLEET.glob("*/__init__.py")}
    return modules | packages | {"tui/"}


def test_the_architecture_lists_exactly_the_packages_that_exist() -> None:
    assert sorted(path for _, path in _documented()) == sorted(_existing_paths())


def test_the_architecture_ranks_each_package_as_the_rule_does() -> None:
    documented = {path: rank for rank, path in _documented()}
    assert documented == {path: _rank(_path_package(path)) for path in documented}


def _links(markdown: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", markdown.read_text())


def test_the_readme_and_the_architecture_link_only_into_the_repository() -> None:
    outside = [
        f"{_relative(page)}: {target}"
        for page in (ROOT / "README.md", ARCHITECTURE)
        for target in _links(page)
        if not (page.parent / target.split("#")[0]).resolve().is_relative_to(ROOT)
        or not (page.parent / target.split("#")[0]).resolve().exists()
        or "://" in target
    ]
    assert outside == []


def test_the_readme_links_the_architecture() -> None:
    assert "docs/architecture.md" in _links(ROOT / "README.md")
