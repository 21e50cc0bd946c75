"""Where a compose service may run, as the scheduler needs it: deploy.mode, and the services it
names (`depends_on`, `links`), kept on its board unless the stack opts out (`x-fleet.colocate`).

`deploy.mode: global` runs one replica on every board that passes the
service's checks (its arch, GPU and `deploy.placement.constraints`); with
it, `deploy.replicas` is refused, as compose refuses it. A service and the
services it names are placed on one board, so they reach each other by
name as under `docker compose up`, unless `x-fleet: {colocate: false}` is
set on either of them, or at the top level for the whole stack (a
service's own setting wins). When they do end up on different boards, the
name resolves to the other's board and that service publishes the ports
of its `ports` and `expose` there on the same host port.

A service that joins another's namespace (`network_mode`, `pid` or `ipc`:
`service:NAME`) or mounts its volumes (`volumes_from`) can only run beside
it: that is a constraint of kind "service" (on NAME's board), which no
opt-out lifts, and both must run one replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from fleet.config.yamlfile import Node
from fleet.errors import ConfigError
from fleet.model import Constraint, PortWant, Service

_MODES = ("replicated", "global")
_PROTOCOLS = ("tcp", "udp", "sctp")


def per_board(deploy: Mapping[str, Node]) -> bool:
    """True for `deploy.mode: global`; replicated is the default."""
    node = deploy.get("mode")
    if node is None or node.value == "replicated":
        return False
    if node.value != "global":
        raise node.expected(f"deploy.mode {' or '.join(_MODES)}")
    if "replicas" in deploy:
        raise deploy["replicas"].error("deploy.replicas cannot be set with deploy.mode: global "
                                       "(one replica runs on every board that may run it)")
    return True


def placed(services: Sequence[Service], entries: Sequence[tuple[Node, Node]],
           x_fleet: Node | None) -> tuple[Service, ...]:
    """`services` (in the order of `entries`, the compose file's) with their mode, links,
    co-location and exposed ports; a name no service has is refused."""
    default = _colocate(x_fleet.fields().get("colocate") if x_fleet is not None else None, True)
    names = {s.name for s in services}
    out = []
    for s, (_, body) in zip(services, entries, strict=True):
        f = body.fields()
        x = f["x-fleet"].fields() if "x-fleet" in f else {}
        deploy = f["deploy"].fields() if "deploy" in f else {}
        beside = _beside(f, names)
        out.append(replace(s, per_board=per_board(deploy),
                           links=tuple(dict.fromkeys((*_links(f.get("depends_on"), f.get("links"),
                                                              names), *(c.value for c in beside)))),
                           colocate=_colocate(x.get("colocate"), default),
                           expose=_expose(f["expose"]) if "expose" in f else (),
                           constraints=(*s.constraints, *beside)))
    _check_single(out, entries)
    return tuple(out)


def _beside(f: Mapping[str, Node], names: set[str]) -> tuple[Constraint, ...]:
    """On the board of each service whose namespace it joins or whose volumes it mounts."""
    found: list[tuple[Node, str, str]] = []
    for key in ("network_mode", "pid", "ipc"):
        node = f.get(key)
        if node is not None and isinstance(node.value, str) and node.value.startswith("service:"):
            found.append((node, node.value.removeprefix("service:"), f"{key}: {node.value}"))
    for item in f["volumes_from"].items() if "volumes_from" in f else ():
        text = item.text("a service, or container:NAME")
        if not text.startswith("container:"):
            found.append((item, text.partition(":")[0], f"volumes_from: {text}"))
    return tuple(Constraint("service", "", True, _known(node, name, names), text)
                 for node, name, text in found)


def _check_single(services: Sequence[Service], entries: Sequence[tuple[Node, Node]]) -> None:
    """Both ends of a shared namespace or volumes run one replica: docker joins one container."""
    by_name = {s.name: s for s in services}
    for s, (key, _) in zip(services, entries, strict=True):
        for c in s.constraints:
            for end in (s, by_name[c.value]) if c.kind == "service" else ():
                if end.replicas != 1 or end.per_board:
                    raise key.error(f"{c.text}: {end.name!r} must run one replica (deploy.mode "
                                    "replicated, deploy.replicas 1) to be shared")


def _colocate(node: Node | None, default: bool) -> bool:
    return default if node is None else node.boolean()


def _links(depends_on: Node | None, links: Node | None, names: set[str]) -> tuple[str, ...]:
    """The services named, each once, in the order written; `required: false` ones may be
    missing (compose's own rule)."""
    found: list[str] = []
    if depends_on is not None and isinstance(depends_on.value, dict):
        for key, body in depends_on.entries():
            required = body.fields().get("required") if isinstance(body.value, dict) else None
            name = key.text("a service name")
            if name in names or required is None or required.boolean():
                found.append(_known(key, name, names))
    elif depends_on is not None:
        found += [_known(item, item.text("a service name"), names) for item in depends_on.items()]
    for item in links.items() if links is not None else ():
        name = item.text("a service, or SERVICE:ALIAS").partition(":")[0]
        found.append(_known(item, name, names))
    return tuple(dict.fromkeys(found))


def _known(node: Node, name: str, names: set[str]) -> str:
    if name not in names:
        raise node.error(f"no service {name!r} in the stack to depend on or link to")
    return name


def _expose(node: Node) -> tuple[PortWant, ...]:
    """`expose`: "80", 80, "3000-3005", "53/udp" -> the container ports, unpublished."""
    wants: list[PortWant] = []
    for item in node.items():
        text = item.scalar_text().strip()
        spec, _, protocol = text.partition("/")
        low, _, high = spec.partition("-")
        try:
            first, last = _port(low), _port(high or low)
        except ConfigError as e:
            raise item.error(e.reason) from None
        if (protocol and protocol not in _PROTOCOLS) or first > last:
            raise item.expected("a container port like 80, 3000-3005 or 53/udp")
        wants += [PortWant(p, None, protocol or "tcp") for p in range(first, last + 1)]
    return tuple(wants)


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise ConfigError(f"expected a port number 1-65535, got {text!r}")
    return int(text)
