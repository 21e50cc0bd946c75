"""A placed replica -> the container that runs it: its name, `docker run` options and revision.

Pure. Every compose key fleet supports reaches `docker run` here (the table
is fleet.config.compose_keys.SERVICE_KEYS; the loader refuses the others):
simple flags, resources, healthcheck and networks in fleet.deploy.run_options,
mounts, configs and secrets in fleet.deploy.mounts. The environment
(env_file's, then `environment`) goes in a 0600 env file on the board, out of
process lists. What a service needs of its stack (top-level volumes,
networks and secrets, env files read, other services' container names) is
a StackContext (fleet.deploy.stackcontext.read).

The revision is a digest of everything that makes the container what it is
(the image's id, every option, the contents of its files), so an unchanged
service keeps its container and any change replaces it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.deploy import envfiles, mounts, run_options
from fleet.deploy.mounts import STACKS_DIR as STACKS_DIR
from fleet.deploy.mounts import ConfigFile as ConfigFile
from fleet.deploy.mounts import config_path as config_path
from fleet.deploy.mounts import env_path as env_path
from fleet.deploy.run_options import DEFAULT_LOGGING as DEFAULT_LOGGING
from fleet.deploy.run_options import DEFAULT_RESTART as DEFAULT_RESTART
from fleet.deploy.stackcontext import StackContext
from fleet.deploy.stackcontext import container_name as _named
from fleet.errors import ConfigError
from fleet.model import Placement, PortBinding, Service


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One replica's container, as `docker run` will create it (labels added by `run_args`)."""

    name: str
    stack: str
    service: str
    replica: int
    image: str
    image_id: str
    options: tuple[str, ...]
    command: tuple[str, ...] = ()
    files: tuple[ConfigFile, ...] = ()
    # The settings' digests of the services whose namespaces or volumes it joins (service:X):
    # when one of them is replaced, this one must be too, as compose recreates it.
    follows: tuple[str, ...] = ()

    @property
    def revision(self) -> str:
        parts = [self.image_id, *self.options, "--", *self.command,
                 *(f"{f.path}={f.sha256}" for f in self.files)]
        if self.follows:
            parts += ["follows", *self.follows]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]

    def run_args(self) -> tuple[str, ...]:
        """Everything after `docker run -d --name NAME`: options, fleet's labels, image, command."""
        labels = {"fleet.stack": self.stack, "fleet.service": self.service,
                  "fleet.replica": str(self.replica), "fleet.revision": self.revision}
        return (*self.options, *(a for k, v in labels.items() for a in ("--label", f"{k}={v}")),
                self.image, *self.command)


def container_name(stack: str, service: str, replica: int,
                   extra: Mapping[str, object] | None = None) -> str:
    """`container_name:` if the service sets it, else `STACK-SERVICE-N`, N from 1, as docker
    compose names them."""
    return _named(stack, service, replica, extra)


def spec(stack: str, service: Service, placement: Placement, image_id: str,
         config_digests: Mapping[str, str],
         context: StackContext | None = None) -> ContainerSpec:
    """The container for one placed replica; `config_digests` maps config name -> sha256.

    Without `context` (a stack's, from stackcontext.read) the service stands
    alone: no env_file, no other service's names, no top-level definitions."""
    x = service.extra
    where = f"service {service.name!r}"
    ctx = context or _alone(stack, service, where)
    if x.get("container_name") and service.replicas > 1:
        raise ConfigError(f"{where}: container_name names one container; it cannot have "
                          f"{service.replicas} replicas")
    options = _ports(service, placement, x, where)
    options += run_options.resources(x, where)
    options += run_options.restart(x, where)
    options += run_options.logging(x.get("logging"), where)
    env_options, files = _environment(stack, service.name, ctx)
    options += env_options
    options += run_options.healthcheck(x.get("healthcheck"), where)
    options += run_options.stop_timeout(x, where)
    options += run_options.simple(x, where)
    options += run_options.devices(x, where)
    options += run_options.namespaces(x, ctx, where)
    options += run_options.network(x, service.name, ctx, where)
    options += run_options.links(x, ctx, where)
    options += run_options.extra_hosts(x, where)
    if not str(x.get("network_mode", "")).startswith(("service:", "container:")):
        options += [a for name, address in placement.hosts
                    for a in ("--add-host", f"{name}:{address}")]
    options += run_options.ulimits(x, where)
    options += mounts.volumes(x, ctx, where)
    if x.get("runtime") is not None:
        options += ["--runtime", str(x["runtime"])]
    elif service.gpu:
        options += ["--runtime", "nvidia"]
    mounted, config_files = mounts.files(x, ctx, config_digests, where)
    options += mounted
    entrypoint, command = _entrypoint(x, where)
    options += entrypoint
    return ContainerSpec(container_name(stack, service.name, placement.replica, x), stack,
                         service.name, placement.replica, service.image, image_id,
                         tuple(options), command, (*files, *config_files),
                         tuple(ctx.digests.get(name, "") for name in shared_with(x)))


def shared_with(x: Mapping[str, object]) -> list[str]:
    """The services whose network, pid or ipc namespace or volumes a service (its compose
    settings `x`) shares: compose starts it after them, and recreates it with them."""
    refs = [str(x[k]) for k in ("network_mode", "pid", "ipc") if x.get(k) is not None]
    found = [r.removeprefix("service:") for r in refs if r.startswith("service:")]
    shares = x.get("volumes_from")
    if isinstance(shares, Sequence) and not isinstance(shares, str):
        found += [str(s).partition(":")[0] for s in shares
                  if not str(s).startswith("container:")]
    return sorted(set(found))


def _environment(stack: str, service: str,
                 ctx: StackContext) -> tuple[list[str], list[ConfigFile]]:
    """The service's environment: a 0600 env file on the board, and -e for what it cannot hold."""
    env, rest = envfiles.docker_env_file(ctx.env.get(service, ()))
    options = [a for k, v in rest for a in ("-e", f"{k}={v}")]
    if not env:
        return options, []
    path = env_path(stack, service)
    return (["--env-file", path, *options],
            [ConfigFile(f"{service}.env", path, hashlib.sha256(env).hexdigest(), 0o600, env)])


def _entrypoint(x: Mapping[str, object], where: str) -> tuple[list[str], tuple[str, ...]]:
    """(--entrypoint, the command): the rest of an entrypoint list goes before the command;
    an empty one clears the image's."""
    command, entry = _command(x.get("command"), where), _command(x.get("entrypoint"), where)
    if entry is None:
        return [], command or ()
    return ["--entrypoint", entry[0] if entry else ""], (*entry[1:], *(command or ()))


def _alone(stack: str, service: Service, where: str) -> StackContext:
    if service.extra.get("env_file") is not None:
        raise ConfigError(f"{where}: env_file is read with the stack (stackcontext.read)")
    env = envfiles.environment(service.extra.get("environment"), {}, where)
    return StackContext(stack, {service.name: container_name(stack, service.name, 0,
                                                             service.extra)},
                        env={service.name: env})


def _ports(service: Service, placement: Placement, x: Mapping[str, object],
           where: str) -> list[str]:
    """-p for each published port, on the host address the compose file gives, if any."""
    ips = _host_ips(x.get("ports"))
    options = []
    for binding in placement.ports:
        options += ["-p", _publish(ips.get((binding.container, binding.protocol), ""),
                                   str(binding.host), binding)]
    for want in service.ports:
        if want.host is None and want.range is None and service.port_range is None:
            # docker picks the host port
            binding = PortBinding(0, want.container, want.protocol)
            options += ["-p", _publish(ips.get((want.container, want.protocol), ""), "",
                                       binding)]
    return options


def _publish(ip: str, host: str, binding: PortBinding) -> str:
    inner = f"{binding.container}/{binding.protocol}"
    if not ip:
        return f"{host}:{inner}" if host else inner
    shown = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
    return f"{shown}:{host}:{inner}"


def _host_ips(value: object) -> dict[tuple[int, str], str]:
    """(container port, protocol) -> the host address it is published on, where one is given."""
    found: dict[tuple[int, str], str] = {}
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else ()
    for item in items:
        if isinstance(item, Mapping):
            if item.get("host_ip") and item.get("target"):
                found[(int(str(item["target"])), str(item.get("protocol", "tcp")))] = \
                    str(item["host_ip"])
            continue
        text, _, protocol = str(item).partition("/")
        parts = text.rsplit(":", 2)
        if len(parts) == 3 and parts[0]:
            low, _, high = parts[2].partition("-")
            for port in range(int(low), int(high or low) + 1):
                found[(port, protocol or "tcp")] = parts[0].strip("[]")
    return found


def _command(value: object, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{where}: command: expected a string or a list")
