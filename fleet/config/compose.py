"""Compose files -> one resolved document, as docker compose resolves them before it runs anything.

In order: each file is parsed (YAML anchors, aliases and `<<` merge keys
included) and its values interpolated from the environment; later files are
merged over the first (`-f base.yml -f override.yml`); `extends` is applied;
services whose `profiles` are all inactive are left out. Every mapping and list
of the result remembers the file and line each part came from, so errors
about the resolved document still point into the user's files.

The environment is the `.env` file beside the first compose file (or the
`--env-file`s given instead), overridden by the process's environment, as
compose does; `COMPOSE_PROFILES` and `COMPOSE_PROJECT_NAME` are read from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.config import yamltree
from fleet.config.compose_merge import merge_files, merge_service
from fleet.config.interpolate import TemplateError, interpolate, parse_env_file
from fleet.config.yamlfile import LocatedList, LocatedMap, Node, Where, describe
from fleet.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Options:
    """What docker compose takes on its command line besides the files."""

    env_files: tuple[Path, ...] | None = None  # None: the `.env` beside the first file, if any
    environ: Mapping[str, str] | None = None  # None: this process's environment
    profiles: tuple[str, ...] = ()
    project_name: str | None = None
    allow_unsupported: bool = False  # fleet's: warn about keys it ignores, not refuse them


DEFAULTS = Options()


@dataclass(frozen=True, slots=True)
class Resolved:
    """The resolved document, the project name asked for (if any), and warnings to show."""

    root: Node
    project_name: str | None
    warnings: tuple[str, ...] = ()


def read(path: Path | str, what: str = "stack file") -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such {what}", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the {what}: {e}", path=str(path)) from None


def resolve(files: Sequence[tuple[str, str]], options: Options = DEFAULTS) -> Resolved:
    """The (path, text) compose files, resolved as `docker compose -f A -f B config` would."""
    if not files:
        raise ConfigError("no stack file given")
    env = environment(files[0][0], options)
    loader = _Loader(env)
    documents = [loader.document(path, text) for path, text in files]
    root = documents[0]
    for later in documents[1:]:
        root = merge_files(root, later)
    first = files[0][0]
    services = root.get("services")
    if isinstance(services, LocatedMap):
        services = loader.extend_all(services, first)
        active = set(options.profiles) | _split(env.get("COMPOSE_PROFILES", ""))
        root["services"] = _enabled(services, active, first)
        _no_reference_to_disabled(root["services"], services, first)
    name = options.project_name or env.get("COMPOSE_PROJECT_NAME") or None
    return Resolved(Node(root, first, root.lc.line + 1, ""), name, tuple(loader.warnings))


def environment(first: str, options: Options) -> dict[str, str]:
    """The variables interpolation sees: env files, then the process's environment over them."""
    environ = os.environ if options.environ is None else options.environ
    if options.env_files is None:
        beside = Path(first).parent / ".env"
        env_files: tuple[Path, ...] = (beside,) if Path(first).is_file() and beside.is_file() \
            else ()
    else:
        env_files = options.env_files
    found: dict[str, str] = {}
    for env_file in env_files:
        try:
            found.update(parse_env_file(read(env_file, "env file"), {**found, **environ}))
        except TemplateError as e:
            raise ConfigError(e.reason, path=str(env_file), field=e.variable) from None
    return {**found, **environ}


def _split(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}


@dataclass(slots=True)
class _Loader:
    """Reads compose files into located trees, interpolating as it goes."""

    env: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    unset: set[str] = field(default_factory=set)
    cache: dict[str, LocatedMap] = field(default_factory=dict)

    def document(self, path: str, text: str) -> LocatedMap:
        def strings(value: str, line: int, field: str) -> str:
            return self.interpolated(value, path, line, field)

        tree = yamltree.load(text, path, strings)
        if not isinstance(tree, LocatedMap):
            raise ConfigError(f"expected a compose file: a mapping with 'services', got "
                              f"{describe(tree)}", path=path, line=1)
        return tree

    def interpolated(self, text: str, path: str, line: int, field: str) -> str:
        if "$" not in text:
            return text
        where = f"{path}:{line + 1}: {field}"
        try:
            return interpolate(text, self.env, lambda name: self.warn(name, where))
        except TemplateError as e:
            variable = f"variable {e.variable}: " if e.variable else ""
            raise ConfigError(f"{variable}{e.reason} (in {text!r})", path=path,
                              line=line + 1, field=field) from None

    def file(self, path: Path) -> LocatedMap:
        key = str(path)
        if key not in self.cache:
            self.cache[key] = self.document(key, read(path, "file to extend"))
        return self.cache[key]

    def warn(self, name: str, where: str) -> None:
        if name not in self.unset:
            self.unset.add(name)
            self.warnings.append(f"{where}: the variable {name} is not set; it reads as an "
                                 "empty string")

    def extend_all(self, services: LocatedMap, path: str) -> LocatedMap:
        out = LocatedMap(services.lc)
        for name in services:
            out[name] = self.extended(name, services, path, ())
        return out

    def extended(self, name: str, services: LocatedMap, path: str,
                 chain: tuple[tuple[str, str], ...]) -> Any:
        """A service with its `extends` applied (and its base's, and so on)."""
        body = services.get(name)
        if not isinstance(body, LocatedMap) or "extends" not in body:
            return body
        at = _at(body, "extends", f"services.{name}.extends", path)
        if (path, name) in chain:
            raise at.error(f"service {name!r} extends itself (through "
                           f"{' -> '.join(n for _, n in chain)})")
        spec = body["extends"]
        if isinstance(spec, str):
            spec = {"service": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("service"), str):
            raise at.expected("extends: {service: NAME} or {service: NAME, file: PATH}")
        base_path, base_services = path, services
        if "file" in spec:
            other = Path(path).parent / str(spec["file"])
            base_path = str(other)
            base_services = self.file(other).get("services") or LocatedMap(Where(base_path, 0))
        base_name = spec["service"]
        if base_name not in base_services:
            raise at.error(f"service {name!r} extends {base_name!r}, which "
                           f"{base_path} does not define")
        base = self.extended(base_name, base_services, base_path, (*chain, (path, name)))
        if isinstance(base, LocatedMap) and Path(base_path).parent != Path(path).parent:
            base = _rebased(base, Path(base_path).parent, Path(path).parent)
        own = LocatedMap(body.lc)
        own.update((k, v) for k, v in body.items() if k != "extends")
        return merge_service(base, own) if isinstance(base, LocatedMap) else own


def _rebased(service: LocatedMap, base_dir: Path, own_dir: Path) -> LocatedMap:
    """A service from a file in another directory, its relative paths (env files, bind
    sources) made relative to the extending file's directory, as compose resolves them
    against the file that wrote them."""
    def moved(text: str) -> str:
        return os.path.relpath(os.path.normpath(base_dir / text), own_dir)

    out = LocatedMap(service.lc)
    out.update(service)
    env_file = service.get("env_file")
    if isinstance(env_file, str):
        out["env_file"] = moved(env_file)
    elif isinstance(env_file, list):
        out["env_file"] = _each(env_file, lambda item: moved(item) if isinstance(item, str)
                                else _with(item, "path", moved))
    volumes = service.get("volumes")
    if isinstance(volumes, list):
        out["volumes"] = _each(volumes, lambda item: _bind(item, moved))
    return out


def _bind(item: Any, moved: Callable[[str], str]) -> Any:
    """A volume whose source is a relative host path (`./data:/data`, or type bind), moved."""
    if isinstance(item, str):
        source, colon, rest = item.partition(":")
        return moved(source) + colon + rest if colon and source.startswith(".") else item
    if isinstance(item, dict) and str(item.get("source", "")).startswith("."):
        return _with(item, "source", moved)
    return item


def _each(items: list[Any], change: Callable[[Any], Any]) -> LocatedList:
    out = LocatedList(getattr(items, "lc", Where("", 0)))
    out.extend(change(item) for item in items)
    return out


def _with(mapping: Any, key: str, change: Callable[[str], str]) -> Any:
    if not isinstance(mapping, dict) or not isinstance(mapping.get(key), str):
        return mapping
    out = LocatedMap(mapping.lc) if isinstance(mapping, LocatedMap) else {}
    out.update(mapping)
    out[key] = change(mapping[key])
    return out


def _at(body: LocatedMap, key: str, field: str, path: str) -> Node:
    where = body.lc
    line = where.data[key][2] + 1 if key in where.data else where.line + 1
    return Node(body.get(key), where.files.get(key, path), line, field)


def _enabled(services: LocatedMap, active: set[str], path: str) -> LocatedMap:
    """The services compose would run: those with no `profiles`, or one of them active."""
    out = LocatedMap(services.lc)
    for name, body in services.items():
        profiles = body.get("profiles") if isinstance(body, LocatedMap) else None
        if profiles is None:
            out[name] = body
            continue
        if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
            raise _at(body, "profiles", f"services.{name}.profiles", path).expected(
                "a list of profile names")
        if "*" in active or active & set(profiles):
            out[name] = body
    return out


def _no_reference_to_disabled(enabled: LocatedMap, defined: LocatedMap, path: str) -> None:
    """A service the active profiles leave out cannot be needed by one they keep: compose
    refuses the file rather than enable it (a `depends_on` marked `required: false` may)."""
    for name, body in enabled.items():
        if not isinstance(body, LocatedMap):
            continue
        for key, target in _references(body):
            if target in defined and target not in enabled:
                raise _at(body, key, f"services.{name}.{key}", path).error(
                    f"service {name!r} needs {target!r}, which no active profile enables: "
                    f"enable one of its profiles (--profile) or give {name!r} a profile too")


def _references(body: LocatedMap) -> list[tuple[str, str]]:
    """(key, service) for each other service this one needs to run."""
    found: list[tuple[str, str]] = []
    depends = body.get("depends_on")
    if isinstance(depends, list):
        found += [("depends_on", str(d)) for d in depends]
    elif isinstance(depends, dict):
        found += [("depends_on", str(d)) for d, how in depends.items()
                  if not (isinstance(how, dict) and how.get("required") is False)]
    links = body.get("links")
    if isinstance(links, list):
        found += [("links", str(link).partition(":")[0]) for link in links]
    for key in ("network_mode", "pid", "ipc"):
        value = body.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            found.append((key, value.removeprefix("service:")))
    froms = body.get("volumes_from")
    if isinstance(froms, list):
        found += [("volumes_from", str(v).partition(":")[0]) for v in froms
                  if not str(v).startswith("container:")]
    return found
