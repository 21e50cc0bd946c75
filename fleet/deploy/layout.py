"""What a stack asks of each board beside its containers: its networks and its start order.

Pure. Networks are compose's: the top-level `networks:` plus the implicit
`default`, named on the board as compose names them (stackcontext.resource_name);
a service joins those it lists, else `default`, and none under `network_mode`.
`depends_on` (a list, or a mapping with `condition:`) orders the start in
waves: a service starts in the wave after the last of those it depends on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.config.stack import Stack
from fleet.deploy.containers import shared_with
from fleet.deploy.stackcontext import resource_name
from fleet.errors import ConfigError
from fleet.model import Service

DEFAULT_NETWORK = "default"
# depends_on's conditions -> what apply.sh's fleet_await waits for.
CONDITIONS = MappingProxyType({"service_started": "started", "service_healthy": "healthy",
                               "service_completed_successfully": "completed"})


@dataclass(frozen=True, slots=True)
class Network:
    """A stack network as a board must have it before the stack's containers start."""

    key: str  # as the compose file names it
    name: str  # on the board
    external: bool = False
    options: tuple[str, ...] = ()  # `docker network create` options, labels included


@dataclass(frozen=True, slots=True)
class Layout:
    """A stack's networks, which of them each service joins, and what each waits for."""

    networks: Mapping[str, Network] = field(default_factory=dict)  # key -> network
    joins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> keys
    depends: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # svc -> {dep: cond}

    def networks_of(self, services: Iterable[str]) -> tuple[Network, ...]:
        """The networks these services join, in the stack's order."""
        keys = {k for s in services for k in self.joins.get(s, ())}
        return tuple(n for k, n in self.networks.items() if k in keys)


def of_stack(stack: Stack, services: Sequence[Service] | None = None) -> Layout:
    """The layout of a loaded stack (of `services`, if given: the stack's as planned)."""
    return layout(stack.name, stack.services if services is None else services,
                  stack.definitions.get("networks"))


def layout(stack: str, services: Sequence[Service],
           networks: Mapping[str, object] | None = None) -> Layout:
    """The layout of stack `stack`; `networks` is its top-level `networks:` mapping.

    Refuses (ConfigError, naming the service) an undefined network or
    dependency, an unknown condition, and a `depends_on` cycle."""
    top = dict(networks or {})
    top.setdefault(DEFAULT_NETWORK, None)
    built = {key: _network(stack, str(key), body) for key, body in top.items()}
    names = {s.name for s in services}
    joins = {s.name: _joins(s, built) for s in services}
    depends = {s.name: _depends(s, names) for s in services}
    start_waves(depends)  # refuses a cycle now, before any board is touched
    return Layout(MappingProxyType(built), MappingProxyType(joins), MappingProxyType(depends))


def start_waves(depends: Mapping[str, Mapping[str, object]]) -> tuple[tuple[str, ...], ...]:
    """Services -> the waves they start in: each after every one of its dependencies.

    A dependency that is not a key (a service placed on another board) does not
    hold anything back. A cycle is refused, naming the services in it."""
    left = {name: {d for d in deps if d in depends} for name, deps in depends.items()}
    waves: list[tuple[str, ...]] = []
    done: set[str] = set()
    while left:
        ready = tuple(sorted(name for name, deps in left.items() if deps <= done))
        if not ready:
            raise ConfigError(f"depends_on: a cycle: {' -> '.join(_cycle(left))}; "
                              "services cannot each wait for the other to start")
        waves.append(ready)
        done.update(ready)
        for name in ready:
            del left[name]
    return tuple(waves)


def _cycle(left: Mapping[str, set[str]]) -> list[str]:
    """One cycle among services that all wait: follow first dependencies until one repeats."""
    path = [min(left)]
    while True:
        following = min(d for d in left[path[-1]] if d in left)
        if following in path:
            return [*path[path.index(following):], following]
        path.append(following)


def _network(stack: str, key: str, body: object) -> Network:
    where = f"networks.{key}"
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}: expected a mapping of the network's settings")
    external = body.get("external")
    if isinstance(external, Mapping):  # the old form, external: {name: ...}
        body = {**body, "name": external.get("name", body.get("name"))}
    name = resource_name(stack, key, {**body, "external": bool(external)})
    if external:
        return Network(key, name, external=True)
    labels = {"fleet.stack": stack, "com.docker.compose.project": stack,
              "com.docker.compose.network": key}
    return Network(key, name, options=(*_create_options(body, where),
                                       *_labelled(labels, body.get("labels"), where)))


def _create_options(body: Mapping[str, object], where: str) -> list[str]:
    options = ["--driver", str(body.get("driver", "bridge"))]
    for key, value in _mapping(body.get("driver_opts"), f"{where}.driver_opts").items():
        options += ["--opt", f"{key}={value}"]
    for key, flag in (("internal", "--internal"), ("attachable", "--attachable"),
                      ("enable_ipv6", "--ipv6")):
        if body.get(key):
            options.append(flag)
    ipam = _mapping(body.get("ipam"), f"{where}.ipam")
    if "driver" in ipam:
        options += ["--ipam-driver", str(ipam["driver"])]
    for key, value in _mapping(ipam.get("options"), f"{where}.ipam.options").items():
        options += ["--ipam-opt", f"{key}={value}"]
    for pool in _sequence(ipam.get("config"), f"{where}.ipam.config"):
        pool = _mapping(pool, f"{where}.ipam.config[]")
        for key, flag in (("subnet", "--subnet"), ("ip_range", "--ip-range"),
                          ("gateway", "--gateway")):
            if key in pool:
                options += [flag, str(pool[key])]
        aux = _mapping(pool.get("aux_addresses"), f"{where}.ipam.config[].aux_addresses")
        for host, address in aux.items():
            options += ["--aux-address", f"{host}={address}"]
    return options


def _labelled(ours: Mapping[str, str], theirs: object, where: str) -> list[str]:
    if isinstance(theirs, Sequence) and not isinstance(theirs, str):
        theirs = dict(str(item).partition("=")[::2] for item in theirs)
    labels = {**_mapping(theirs, f"{where}.labels"), **ours}
    return [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]


def _joins(service: Service, networks: Mapping[str, Network]) -> tuple[str, ...]:
    x = service.extra
    if "network_mode" in x:
        return ()
    listed = x.get("networks")
    keys = [DEFAULT_NETWORK] if listed is None else [str(k) for k in (
        listed if isinstance(listed, Mapping) else _sequence(listed, "networks"))]
    for key in keys:
        if key not in networks:
            raise ConfigError(f"service {service.name!r}: networks: {key!r} is not one of the "
                              f"stack's networks ({', '.join(networks)}); declare it under "
                              "the top-level networks:")
    return tuple(keys)


def _depends(service: Service, names: set[str]) -> Mapping[str, str]:
    value = service.extra.get("depends_on")
    where = f"service {service.name!r}: depends_on"
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        found = {str(dep): _condition(body, f"{where}.{dep}") for dep, body in value.items()}
    elif value is not None:
        found = {str(dep): "service_started" for dep in _sequence(value, where)}
    for dep in shared_with(service.extra):  # network_mode: service:X and the like wait for X
        found.setdefault(dep, "service_started")
    for dep in found:
        if dep not in names:
            raise ConfigError(f"{where}: {dep!r} is not a service of the stack")
    return MappingProxyType(found)


def _condition(body: object, where: str) -> str:
    condition = str(_mapping(body, where).get("condition", "service_started"))
    if condition not in CONDITIONS:
        raise ConfigError(f"{where}.condition: {condition!r} is not one of "
                          f"{', '.join(CONDITIONS)}")
    return condition


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    return {str(k): v for k, v in value.items()}


def _sequence(value: object, where: str) -> Sequence[object]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{where}: expected a list")
    return value
