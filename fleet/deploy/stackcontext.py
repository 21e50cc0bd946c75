"""What one container's options need of the rest of its stack, read once on the controller.

`read` is the only part that touches the controller's disk and environment:
env files and file-based secrets are read here, relative to the compose
file, so that turning a service into `docker run` options stays pure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.config.stack import Stack
from fleet.deploy import envfiles
from fleet.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StackContext:
    """A stack's project name, container names, top-level definitions, environment, secrets."""

    project: str
    names: Mapping[str, str] = field(default_factory=dict)  # service -> its container's name
    networks: Mapping[str, object] = field(default_factory=dict)  # top-level, as written
    volumes: Mapping[str, object] = field(default_factory=dict)  # top-level, as written
    secrets: Mapping[str, bytes] = field(default_factory=dict)  # name -> content
    env: Mapping[str, envfiles.Pairs] = field(default_factory=dict)  # service -> environment
    digests: Mapping[str, str] = field(default_factory=dict)  # service -> its settings' digest

    def container(self, service: str, where: str) -> str:
        """The container of `service` (a `service:NAME` reference), as it is named on a board."""
        if service not in self.names:
            raise ConfigError(f"{where}: service:{service} names no service of the stack")
        return self.names[service]


def container_name(stack: str, service: str, replica: int,
                   extra: Mapping[str, object] | None = None) -> str:
    """`container_name:` if the service sets it, else `STACK-SERVICE-N`, N from 1, as docker
    compose names them."""
    if extra and extra.get("container_name"):
        return str(extra["container_name"])
    return f"{stack}-{service}-{replica + 1}"


def read(stack: Stack, environ: Mapping[str, str]) -> StackContext:
    """The stack's context: its env files and secrets read, relative to the compose file.

    `environ` is the controller's environment: compose takes a bare `KEY`
    (in `environment`, an env file, or a secret's `environment:`) from it."""
    definitions = stack.definitions
    env = {}
    for service in stack.services:
        where = f"service {service.name!r}"
        from_files = envfiles.read(service.extra["env_file"], stack.base, environ, where) \
            if service.extra.get("env_file") is not None else ()
        env[service.name] = envfiles.merged(
            from_files, envfiles.environment(service.extra.get("environment"), environ, where))
    names = {s.name: container_name(stack.name, s.name, 0, s.extra) for s in stack.services}
    return StackContext(
        stack.name, MappingProxyType(names), _mapping(definitions.get("networks")),
        _mapping(definitions.get("volumes")),
        MappingProxyType(_secrets(stack, _mapping(definitions.get("secrets")), environ)),
        MappingProxyType(env), MappingProxyType({
            s.name: _digest([s.image, s.extra, env[s.name]]) for s in stack.services}))


def _secrets(stack: Stack, secrets: Mapping[str, object],
             environ: Mapping[str, str]) -> dict[str, bytes]:
    found = {}
    for name, body in secrets.items():
        where = f"secrets.{name}"
        spec = body if isinstance(body, Mapping) else {}
        if "file" in spec:
            file = stack.base / str(spec["file"])
            try:
                found[name] = file.read_bytes()
            except OSError as e:
                raise ConfigError(f"{where}: cannot read {file}: {e.strerror}") from None
        elif "environment" in spec:
            variable = str(spec["environment"])
            if variable not in environ:
                raise ConfigError(f"{where}: environment variable {variable} is not set")
            found[name] = environ[variable].encode()
        else:
            raise ConfigError(f"{where}: fleet supports secrets from `file:` or "
                              "`environment:` (external secrets are swarm's)")
    return found


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=_plain, sort_keys=True).encode()).hexdigest()


def _plain(value: object) -> object:
    """Read-only mappings (the loader's) as dicts, for json."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def _mapping(value: object) -> Mapping[str, object]:
    return MappingProxyType({str(k): v for k, v in value.items()}) \
        if isinstance(value, Mapping) else MappingProxyType({})


def resource_name(project: str, key: str, settings: Mapping[str, object] | None = None) -> str:
    """A stack's network's or volume's name on the board, as compose names them: an external
    one's `name:`, else its `name:`, else an external one's key, else `<project>_<key>` (the
    implicit network's key is `default`)."""
    given = settings or {}
    external = given.get("external")
    if isinstance(external, Mapping) and external.get("name"):
        return str(external["name"])
    if given.get("name"):
        return str(given["name"])
    return key if external else f"{project}_{key}"
