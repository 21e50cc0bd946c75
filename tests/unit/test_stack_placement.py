"""Where a compose service may run, as read from the file: deploy.mode, placement constraints
in Swarm's terms, the services it names (depends_on, links), x-fleet.colocate, expose."""

from __future__ import annotations

import pytest

from fleet.config import stack
from fleet.errors import ConfigError
from fleet.model import Arch, PortWant, Service
from fleet.scheduler import plan
from tests.kit import device


def y(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def two(*web: str, db: tuple[str, ...] = (), top: tuple[str, ...] = ()) -> str:
    """A stack of `web` (with the lines given) and `db`, with `top` lines first."""
    return y(*top, "services:", "  web:", "    image: x/web", *web, "  db:", "    image: x/db",
             *db)


def by_name(text: str) -> dict[str, Service]:
    return {s.name: s for s in stack.loads(text, "stack.yaml")}


@pytest.mark.parametrize(("lines", "per_board"), [
    ((), False),
    (("    deploy: {mode: replicated, replicas: 2}",), False),
    (("    deploy: {mode: global}",), True),
    (("    deploy:", "      mode: global", "      placement:",
      "        constraints: [node.labels.role == sensor]"), True),
])
def test_deploy_mode(lines: tuple[str, ...], per_board: bool) -> None:
    assert by_name(two(*lines))["web"].per_board is per_board


# Swarm's constraint names and values, and what fleet makes of them.
@pytest.mark.parametrize(("text", "kind", "key", "equal", "value"), [
    ("node.platform.arch == x86_64", "arch", "", True, "amd64"),
    ("node.platform.arch == aarch64", "arch", "", True, "arm64"),
    ("node.platform.arch != armv7l", "arch", "", False, "armv7"),
    ("node.platform.arch==arm64", "arch", "", True, "arm64"),
    ("node.hostname != pi-kitchen", "hostname", "", False, "pi-kitchen"),
    ("node.labels.zone.name == north", "label", "zone.name", True, "north"),
])
def test_constraints_in_swarms_terms(text: str, kind: str, key: str, equal: bool,
                                     value: str) -> None:
    (c,) = by_name(two("    deploy:", "      placement:", f"        constraints: ['{text}']"))[
        "web"].constraints
    assert (c.kind, c.key, c.equal, c.value, c.text) == (kind, key, equal, value, text)


@pytest.mark.parametrize(("value", "matches"), [
    ("pi-1", {"pi-1"}),  # the device's id: the board's host name in the lab and when enrolled
    ("pi-2.local", {"pi-2"}),  # its inventory host
    ("10.0.0.3", {"pi-3"}),
    ("pi-4", set()),
])
def test_node_hostname_is_the_devices_id_or_its_host(value: str, matches: set[str]) -> None:
    boards = [device("pi-1"), device("pi-2"), device("pi-3", host="10.0.0.3")]
    (c,) = by_name(two("    deploy:", "      placement:",
                       f"        constraints: ['node.hostname == {value}']"))["web"].constraints
    assert {d.id for d in boards if c.matches(d)} == matches
    assert {d.id for d in boards if not stack.constraint(
        f"node.hostname != {value}").matches(d)} == matches


@pytest.mark.parametrize(("name"), ["node.role", "node.id", "node.platform.os", "engine.labels.x",
                                    "node.labels."])
def test_other_constraints_are_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match="constraint") as e:
        by_name(two("    deploy:", "      placement:", f"        constraints: ['{name} == x']"))
    assert (e.value.line, e.value.field) == (6, "services.web.deploy.placement.constraints[0]")
    if name.startswith("node.") and name != "node.labels.":
        assert f"unsupported constraint {name!r}" in str(e.value)


@pytest.mark.parametrize(("lines", "line", "field", "message"), [
    (("    deploy: {mode: global, replicas: 3}",), 4, "services.web.deploy.replicas",
     "cannot be set with deploy.mode: global"),
    (("    deploy: {mode: dynamic}",), 4, "services.web.deploy.mode", "replicated or global"),
    (("    depends_on: [cache]",), 4, "services.web.depends_on[0]", "no service 'cache'"),
    (("    depends_on: {cache: {condition: service_started}}",), 4,
     "services.web.depends_on.cache", "no service 'cache'"),
    (("    links: ['cache:c']",), 4, "services.web.links[0]", "no service 'cache'"),
    (("    x-fleet: {colocate: maybe}",), 4, "services.web.x-fleet.colocate", "true or false"),
    (("    expose: ['80/http']",), 4, "services.web.expose[0]", "a container port like"),
    (("    expose: ['0']",), 4, "services.web.expose[0]", "port number 1-65535"),
    (("    expose: ['90-80']",), 4, "services.web.expose[0]", "a container port like"),
])
def test_errors_name_the_line_and_field(lines: tuple[str, ...], line: int, field: str,
                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        by_name(two(*lines))
    assert (e.value.path, e.value.line, e.value.field) == ("stack.yaml", line, field)


@pytest.mark.parametrize(("lines", "links"), [
    ((), ()),
    (("    depends_on: [db]",), ("db",)),
    (("    depends_on:", "      db: {condition: service_healthy}"), ("db",)),
    (("    links: ['db:database']",), ("db",)),
    (("    depends_on: [db]", "    links: [db]"), ("db",)),
    (("    depends_on:", "      db: {condition: service_started}",
      "      cache: {condition: service_started, required: false}"), ("db",)),
])
def test_the_services_it_names(lines: tuple[str, ...], links: tuple[str, ...]) -> None:
    assert by_name(two(*lines))["web"].links == links


@pytest.mark.parametrize(("web", "db", "top", "colocate"), [
    ((), (), (), {"web": True, "db": True}),
    (("    x-fleet: {colocate: false}",), (), (), {"web": False, "db": True}),
    ((), (), ("x-fleet: {colocate: false}",), {"web": False, "db": False}),
    (("    x-fleet: {colocate: true}",), (), ("x-fleet: {colocate: false}",),
     {"web": True, "db": False}),
])
def test_colocate_per_service_or_for_the_stack(web: tuple[str, ...], db: tuple[str, ...],
                                                top: tuple[str, ...],
                                                colocate: dict[str, bool]) -> None:
    found = by_name(two("    depends_on: [db]", *web, db=db, top=top))
    assert {name: s.colocate for name, s in found.items()} == colocate


def test_expose_lists_container_ports_unpublished() -> None:
    s = by_name(two("    expose: ['80', 8080, '3000-3002', '53/udp']"))["web"]
    assert s.expose == (PortWant(80), PortWant(8080), PortWant(3000), PortWant(3001),
                        PortWant(3002), PortWant(53, protocol="udp"))
    assert s.ports == ()


def test_a_global_service_with_a_constraint_plans_where_it_may() -> None:
    services = stack.loads(two(
        "    deploy:", "      mode: global", "      placement:",
        "        constraints: [node.platform.arch == aarch64]", db=("    depends_on: [web]",)))
    boards = [device("pi-1"), device("pi-2"), device("nuc", arch=Arch.AMD64)]
    p = plan(boards, services)
    assert sorted(x.device for x in p.placements if x.service == "web") == ["pi-1", "pi-2"]
    assert [x.device for x in p.placements if x.service == "db"] in (["pi-1"], ["pi-2"],
                                                                     ["nuc"])
    db = next(x for x in p.placements if x.service == "db")
    assert db.hosts == ((("web", "pi-1.local"),) if db.device == "nuc" else ())


@pytest.mark.parametrize(("line", "text"), [
    ("    network_mode: service:db", "network_mode: service:db"),
    ("    pid: 'service:db'", "pid: service:db"),
    ("    ipc: 'service:db'", "ipc: service:db"),
    ("    volumes_from: ['db:ro']", "volumes_from: db:ro"),
])
def test_sharing_a_namespace_or_volumes_means_the_other_services_board(line: str,
                                                                       text: str) -> None:
    web = by_name(two(line, "    x-fleet: {colocate: false}"))["web"]
    assert web.links == ("db",)
    assert [(c.kind, c.value, c.equal, c.text) for c in web.constraints] == [
        ("service", "db", True, text)]


def test_another_containers_volumes_are_no_service_to_be_beside() -> None:
    web = by_name(two("    volumes_from: ['container:legacy']"))["web"]
    assert web.constraints == () and web.links == ()


@pytest.mark.parametrize(("lines", "db", "line", "message"), [
    (("    network_mode: service:cache",), (), 4, "no service 'cache'"),
    (("    volumes_from: [cache]",), (), 4, "no service 'cache'"),
    (("    network_mode: service:db",), ("    deploy: {replicas: 2}",), 2,
     "network_mode: service:db: 'db' must run one replica"),
    (("    network_mode: service:db", "    deploy: {mode: global}"), (), 2,
     "'web' must run one replica"),
])
def test_sharing_is_refused_with_what_docker_cannot_join(
        lines: tuple[str, ...], db: tuple[str, ...], line: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        by_name(two(*lines, db=db))
    assert e.value.line == line
