"""A docker compose file with fleet's `x-fleet` additions -> Services; the only code that knows it.

What fleet reads of each service: `image`, `platform`, `ports`, `runtime`,
`deploy.replicas`, memory and CPU in each form compose has (fleet.config.resources),
GPU device reservations, `deploy.placement.{constraints,max_replicas_per_node}`,
and under `x-fleet`: `disk` (a size, or image/volumes/logs sizes), `gpu`,
`strategy` (pack|spread), `latency_sensitive`, `transfer` (pull|push: how
boards get the image, fleet.deploy.transfer), `ports` (a host-port range to
allocate from), `arch` (what the image is published for) and `mem_estimate`
(the memory to count when the service gives none; at the top level, the
stack's). Everything else is kept, as written, in `Service.extra` for the
deploy step.

Memory is counted at its reservation, else its limit, else the estimate:
Swarm schedules on reservations alone, but memory cannot be squeezed, and a
board that runs out of it swaps onto its SD card or kills containers, so
without a reservation the limit is what a container may really take. CPU is
counted at its reservation only: a CPU limit is a cap on a shared,
compressible resource (136 containers capped at 0.1 CPU share a Pi's 4 cores).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

from fleet.config import build, compose, compose_keys, placement, resources
from fleet.config.build import Build
from fleet.config.compose import DEFAULTS, Options
from fleet.config.resources import cpu_millis as cpu_millis
from fleet.config.resources import shown as _show
from fleet.config.resources import size_mb as size_mb
from fleet.config.yamlfile import Node
from fleet.errors import ConfigError
from fleet.model import Arch, Constraint, PortRange, PortWant, Resources, Service, Strategy

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_STACK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CONSTRAINT = re.compile(r"\s*(node\.[A-Za-z0-9_.\-]+)\s*(==|!=)\s*(\S+)\s*")
_PROTOCOLS = ("tcp", "udp", "sctp")
_X_FLEET_KEYS = ("disk", "gpu", "strategy", "latency_sensitive", "ports", "arch",
                 "mem_estimate", "colocate", "transfer")
_STACK_X_FLEET_KEYS = ("mem_estimate", "colocate")
TRANSFERS = ("pull", "push")  # x-fleet.transfer: fleet.deploy.transfer.Transfer's values
_DISK_KEYS = ("image", "volumes", "logs")


@dataclass(frozen=True, slots=True)
class Stack:
    """A whole compose stack: its name, its services, its config files (name -> path), and
    warnings from loading it (an unset variable read as empty)."""

    name: str
    services: tuple[Service, ...]
    configs: Mapping[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # For the deploy (fleet.deploy.stackcontext): the top-level networks, volumes and
    # secrets as written, and the directory the file's relative paths start from.
    definitions: Mapping[str, Any] = field(default_factory=dict)
    base: Path = Path(".")
    builds: Mapping[str, Build] = field(default_factory=dict)  # service -> its `build:`


def load(path: Path | str, options: Options = DEFAULTS) -> tuple[Service, ...]:
    """The services of the compose file at `path`, in file order."""
    return load_stack(path, options=options).services


def load_stack(*paths: Path | str, options: Options = DEFAULTS) -> Stack:
    """The compose files at `paths` (later ones override earlier ones, as `-f A -f B`).

    Its name is `--project-name` (options.project_name), else $COMPOSE_PROJECT_NAME,
    else `name:`, else the first file's name up to a dot.
    """
    files = [(str(path), compose.read(path)) for path in paths]
    return _stack(compose.resolve(files, options), options)


def loads(text: str, path: str = "<string>",
          options: Options = DEFAULTS) -> tuple[Service, ...]:
    """Parse compose text; `path` is for messages."""
    return loads_stack(text, path, options).services


def loads_stack(text: str, path: str = "<string>", options: Options = DEFAULTS) -> Stack:
    """Parse compose text; `path` names it in messages, and config files are relative to it."""
    return _stack(compose.resolve([(path, text)], options), options)


def _stack(resolved: compose.Resolved, options: Options) -> Stack:
    """The resolved document's services, name and configs."""
    root = resolved.root
    path = root.path
    top = root.fields()
    if "services" not in top:
        raise root.error("required: 'services', a mapping of service name to its settings")
    entries = top["services"].entries()
    if not entries:
        raise top["services"].error("the stack has no services (or none whose profiles "
                                    "are active)")
    name = resolved.project_name or (top["name"].text("a stack name") if "name" in top
                                     else _file_stack_name(path))
    if not _STACK_NAME.fullmatch(name):
        at = top["name"] if "name" in top and not resolved.project_name else root
        raise at.error(f"invalid stack name {name!r}: use a-z, 0-9, '_' and '-', "
                       "starting with a letter or digit")
    configs = _configs(top["configs"], Path(path).parent) if "configs" in top else {}
    estimate = _stack_estimate(top.get("x-fleet"))
    services = placement.placed([_service(key, body, estimate) for key, body in entries],
                                entries, top.get("x-fleet"))
    for key, body in entries:
        _check_config_refs(key, body, configs)
    builds = build.of_services(entries, name, Path(path).parent,
                               os.environ if options.environ is None else options.environ)
    services = tuple(replace(s, image=builds[s.name].image) if s.name in builds else s
                     for s in services)
    unsupported = compose_keys.check(root, options.allow_unsupported)
    definitions = _plain({k: top[k].value for k in ("networks", "volumes", "secrets")
                          if k in top and top[k].value is not None})
    return Stack(name, services, MappingProxyType(configs), (*resolved.warnings, *unsupported),
                 definitions, Path(path).parent, MappingProxyType(builds))


def _file_stack_name(path: str) -> str:
    """As compose names a project after its directory: here the file, lowercased and cleaned."""
    name = re.sub(r"[^a-z0-9_-]+", "-", Path(path).name.split(".")[0].lower()).strip("-_")
    return name or "stack"


def _configs(node: Node, base: Path) -> dict[str, Path]:
    """Top-level `configs:` -> {name: the file, relative to the stack file}."""
    found = {}
    for key, body in node.entries():
        fields = body.fields(("file",))
        if "file" not in fields:
            raise key.error("a config needs `file:`, a path relative to the stack file "
                            "(fleet copies it to each device that runs a service using it)")
        file = base / fields["file"].text("a file path")
        if not file.is_file():
            raise fields["file"].error(f"no such file: {file}")
        found[key.text("a config name")] = file
    return found


def _check_config_refs(key: Node, body: Node, configs: Mapping[str, Path]) -> None:
    node = body.fields().get("configs")
    for item in node.items() if node is not None else ():
        source = item.fields().get("source") if isinstance(item.value, dict) else item
        name = source.text("a config name") if source is not None else ""
        if name not in configs:
            raise item.error(f"service {key.value!r} uses config {name!r}, which the file's "
                             "top-level `configs:` does not define")


# -- values that stand alone (public so they can be tested on their own) ----------

def port_range(value: object, field: str = "ports") -> PortRange:
    """'3067-3200' (or one port) -> PortRange."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    low, _, high = text.strip().partition("-")
    first, last = _port(low, field), _port(high or low, field)
    if first > last:
        raise ConfigError(f"expected a port range low-high, got {_show(value)}", field=field)
    return PortRange(first, last)


def ports(value: object, field: str = "ports") -> tuple[PortWant, ...]:
    """A `ports` entry in short syntax: [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ConfigError(f"expected a port like 3067:80, got {_show(value)}", field=field)
    spec, _, protocol = value.strip().partition("/")
    parts = spec.rsplit(":", 2)
    host = parts[-2] if len(parts) >= 2 else ""
    return _bind(host, parts[-1], protocol or "tcp", field)


def constraint(text: str, field: str = "constraints") -> Constraint:
    """`node.labels.KEY == V`, `node.platform.arch != armv7`, `node.hostname == pi-1`."""
    match = _CONSTRAINT.fullmatch(text)
    if match is None:
        raise ConfigError(f"expected a constraint like node.labels.site == shed, got "
                          f"{_show(text)}", field=field)
    name, op, value = match.groups()
    equal = op == "=="
    if name.startswith("node.labels.") and len(name) > len("node.labels."):
        return Constraint("label", name.removeprefix("node.labels."), equal, value, text.strip())
    if name == "node.hostname":
        return Constraint("hostname", "", equal, value, text.strip())
    if name == "node.platform.arch":
        try:
            return Constraint("arch", "", equal, str(Arch.parse(value)), text.strip())
        except ValueError as e:
            raise ConfigError(str(e), field=field) from None
    raise ConfigError(f"unsupported constraint {name!r}; fleet knows node.labels.KEY, "
                      "node.hostname and node.platform.arch", field=field)


def _port(text: str, field: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise ConfigError(f"expected a port number 1-65535, got {_show(text)}", field=field)
    return int(text)


def _bind(host: str, container: str, protocol: str, field: str) -> tuple[PortWant, ...]:
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"expected protocol tcp, udp or sctp, got {_show(protocol)}",
                          field=field)
    inner = port_range(container, field)
    count = inner.high - inner.low + 1
    if not host.strip():
        return tuple(PortWant(p, None, protocol) for p in range(inner.low, inner.high + 1))
    outer = port_range(host, field)
    if count == 1 and outer.high > outer.low:
        # docker's "3067-3200:80": any one free host port of the range.
        return (PortWant(inner.low, None, protocol, outer),)
    if outer.high - outer.low + 1 != count:
        raise ConfigError(f"host range {outer} and container range {inner} differ in size",
                          field=field)
    return tuple(PortWant(inner.low + i, outer.low + i, protocol) for i in range(count))


# -- a service ----------------------------------------------------------------------

def _checked(node: Node, parse_value: Any, *args: Any) -> Any:
    """Run a standalone parser on a node's value; its error gets the node's file and line."""
    try:
        return parse_value(node.value, *args, field=node.field)
    except ConfigError as e:
        raise node.error(e.reason) from None


def _stack_estimate(x_fleet: Node | None) -> int:
    """The stack's memory estimate for services with no figure: `x-fleet.mem_estimate`."""
    fields = x_fleet.fields(_STACK_X_FLEET_KEYS) if x_fleet is not None else {}
    return resources.estimate(fields.get("mem_estimate"), resources.DEFAULT_MEM_ESTIMATE_MB)


def _service(key: Node, body: Node,
             estimate: int = resources.DEFAULT_MEM_ESTIMATE_MB) -> Service:
    name = key.text("a service name")
    if not _NAME.fullmatch(name):
        raise key.error(f"invalid service name {name!r}: use letters, digits, '_', '.', '-'")
    if not isinstance(body.value, dict):
        raise body.expected("a mapping of the service's settings")
    f = body.fields()
    if "image" not in f and "build" not in f:
        raise key.child("image").error("required: an image, e.g. fleet/workload:latest, "
                                       "or a `build:` context")
    x = f["x-fleet"].fields(_X_FLEET_KEYS) if "x-fleet" in f else {}
    deploy = f["deploy"].fields() if "deploy" in f else {}
    asks = deploy["resources"].fields() if "resources" in deploy else {}
    figures = resources.figures(f, asks, own_estimate=x.get("mem_estimate"),
                                default_estimate=estimate)
    reserve = asks["reservations"].fields() if "reservations" in asks else {}
    placement = deploy["placement"].fields() if "placement" in deploy else {}
    return Service(
        name=name,
        image=f["image"].text("an image name") if "image" in f else "",
        replicas=deploy["replicas"].integer(0, 10_000) if "replicas" in deploy else 1,
        request=Resources(
            mem_mb=figures.mem_mb,
            disk_mb=_disk(x["disk"]) if "disk" in x else 0,
            cpu_millis=figures.cpu_millis),
        archs=_archs(x.get("arch"), f.get("platform")),
        ports=_ports(f["ports"]) if "ports" in f else (),
        port_range=_checked(x["ports"], port_range) if "ports" in x else None,
        gpu=_gpu(x.get("gpu"), f.get("runtime"), reserve.get("devices")),
        strategy=_strategy(x["strategy"]) if "strategy" in x else Strategy.PACK,
        latency_sensitive=x["latency_sensitive"].boolean() if "latency_sensitive" in x else False,
        constraints=_constraints(placement.get("constraints")),
        max_per_device=(placement["max_replicas_per_node"].integer(1, 10_000)
                        if "max_replicas_per_node" in placement else 1),
        mem_limit_mb=figures.mem_limit_mb,
        cpu_limit_millis=figures.cpu_limit_millis,
        mem_assumed=figures.mem_assumed,
        transfer=_transfer(x["transfer"]) if "transfer" in x else "",
        extra=_plain({k: v for k, v in body.value.items() if k != "x-fleet"}),
    )


def _transfer(node: Node) -> str:
    text = node.text("pull or push")
    if text not in TRANSFERS:
        raise node.error(f"x-fleet.transfer {text!r}: expected pull (the board pulls from the "
                         "image's registry) or push (fleet sends its layers over SSH)")
    return text


def _disk(node: Node) -> int:
    if not isinstance(node.value, dict):
        return int(_checked(node, size_mb))
    return sum(int(_checked(part, size_mb)) for part in node.fields(_DISK_KEYS).values())


def _archs(x_arch: Node | None, platform: Node | None) -> frozenset[Arch]:
    if x_arch is not None:
        items = [x_arch] if isinstance(x_arch.value, str) else x_arch.items()
        return frozenset(_arch(item, item.text("an architecture")) for item in items)
    if platform is None:
        return frozenset()
    text = platform.text("a platform like linux/arm64")
    os_name, _, arch = text.partition("/")
    if os_name != "linux" or not arch:
        raise platform.expected("a platform like linux/arm64 or linux/arm/v7")
    return frozenset({_arch(platform, arch)})


def _arch(node: Node, text: str) -> Arch:
    try:
        return Arch.parse(text)
    except ValueError as e:
        raise node.error(str(e)) from None


def _ports(node: Node) -> tuple[PortWant, ...]:
    wants: list[PortWant] = []
    for item in node.items():
        if isinstance(item.value, dict):
            wants.extend(_long_port(item))
        else:
            wants.extend(_checked(item, ports))
    return tuple(wants)


def _long_port(item: Node) -> tuple[PortWant, ...]:
    f = item.fields()
    if "target" not in f:
        raise item.child("target").error("required: the container port")
    target = f["target"].integer(1, 65535, "a port")
    protocol = f["protocol"].text("tcp, udp or sctp") if "protocol" in f else "tcp"
    published = "" if "published" not in f else f["published"].scalar_text()
    node = f.get("published", item)
    try:
        return _bind(published, str(target), protocol, node.field)
    except ConfigError as e:
        raise node.error(e.reason) from None


def _gpu(x_gpu: Node | None, runtime: Node | None, devices: Node | None) -> bool:
    if x_gpu is not None:
        return x_gpu.boolean()
    if runtime is not None and runtime.value == "nvidia":
        return True
    for device in devices.items() if devices is not None else ():
        caps = device.fields().get("capabilities")
        if caps is not None and any(c.value == "gpu" for c in caps.items()):
            return True
    return False


def _strategy(node: Node) -> Strategy:
    try:
        return Strategy(node.value)
    except ValueError:
        raise node.expected("pack or spread") from None


def _constraints(node: Node | None) -> tuple[Constraint, ...]:
    if node is None:
        return ()
    return tuple(_checked(item, constraint) for item in node.items()
                 if item.text("a constraint like node.labels.site == shed"))


def _plain(value: Any) -> Any:
    """ruamel's round-trip types -> plain, read-only Python values."""
    if isinstance(value, dict):
        return MappingProxyType({str(k): _plain(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
