"""A placed replica -> the container that runs it: its name, `docker run` options and revision.

Pure. What is read of a compose service besides what the scheduler reads:
`environment`, `command`, `entrypoint`, `restart`, `logging`, `healthcheck`,
`stop_grace_period`, `user`, `working_dir`, `labels`, `volumes` (short form),
`configs`, and `deploy.resources` (limits.memory -> --memory, limits.cpus ->
--cpus, reservations.memory -> --memory-reservation). Other keys are left out.

The revision is a digest of everything that makes the container what it is
(the image's id, every option, the contents of its config files), so an
unchanged service keeps its container and any change replaces it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from fleet.config.stack import cpu_millis, size_mb
from fleet.errors import ConfigError
from fleet.model import Placement, Service

STACKS_DIR = "/var/lib/fleet/stacks"
# Logs cannot fill an SD card: docker's json-file driver, rotated, unless the service says.
DEFAULT_LOGGING = ("--log-driver", "json-file", "--log-opt", "max-size=10m",
                   "--log-opt", "max-file=3")
DEFAULT_RESTART = "unless-stopped"
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|ms|m|s|us))")


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A stack config file a container mounts: where the board keeps it, and its digest."""

    name: str
    path: str
    sha256: str


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

    @property
    def revision(self) -> str:
        parts = [self.image_id, *self.options, "--", *self.command,
                 *(f"{f.path}={f.sha256}" for f in self.files)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]

    def run_args(self) -> tuple[str, ...]:
        """Everything after `docker run -d --name NAME`: options, fleet's labels, image, command."""
        labels = {"fleet.stack": self.stack, "fleet.service": self.service,
                  "fleet.replica": str(self.replica), "fleet.revision": self.revision}
        return (*self.options, *(a for k, v in labels.items() for a in ("--label", f"{k}={v}")),
                self.image, *self.command)


def container_name(stack: str, service: str, replica: int) -> str:
    """`STACK-SERVICE-N`, N from 1, as docker compose names them."""
    return f"{stack}-{service}-{replica + 1}"


def network_name(stack: str, key: str, network: Mapping[str, object] | None = None) -> str:
    """A stack network's name on the board, as compose names it: `name:`, else an external
    one's key, else `<stack>_<key>` (the implicit network's key is `default`)."""
    settings = network or {}
    if settings.get("name"):
        return str(settings["name"])
    return key if settings.get("external") else f"{stack}_{key}"


def config_path(stack: str, name: str) -> str:
    return f"{STACKS_DIR}/{stack}/configs/{name}"


def spec(stack: str, service: Service, placement: Placement, image_id: str,
         config_digests: Mapping[str, str]) -> ContainerSpec:
    """The container for one placed replica; `config_digests` maps config name -> sha256."""
    x = service.extra
    where = f"service {service.name!r}"
    options: list[str] = []
    for binding in placement.ports:
        options += ["-p", f"{binding.host}:{binding.container}/{binding.protocol}"]
    for want in service.ports:
        if want.host is None and want.range is None and service.port_range is None:
            options += ["-p", f"{want.container}/{want.protocol}"]  # docker picks the host port
    options += _resources(x, where)
    options += ["--restart", str(x.get("restart", DEFAULT_RESTART))]
    options += _logging(x.get("logging"), where)
    options += _environment(x.get("environment"), where)
    options += _healthcheck(x.get("healthcheck"), where)
    if "stop_grace_period" in x:
        options += ["--stop-timeout", str(max(1, round(_seconds(x["stop_grace_period"], where))))]
    for key, flag in (("user", "--user"), ("working_dir", "--workdir")):
        if key in x:
            options += [flag, str(x[key])]
    for key, value in _pairs(x.get("labels"), f"{where} labels"):
        options += ["--label", f"{key}={value}"]
    for volume in _list(x.get("volumes"), f"{where} volumes"):
        options += ["-v", str(volume)]
    if service.gpu:
        options += ["--runtime", "nvidia"]
    files = []
    for item in _list(x.get("configs"), f"{where} configs"):
        name, target = _config_ref(item)
        file = ConfigFile(name, config_path(stack, name), config_digests[name])
        files.append(file)
        options += ["-v", f"{file.path}:{target}:ro"]
    command, entry = _command(x.get("command"), where), _command(x.get("entrypoint"), where)
    if entry:
        options += ["--entrypoint", entry[0]]
        command = (*entry[1:], *command)
    return ContainerSpec(container_name(stack, service.name, placement.replica), stack,
                         service.name, placement.replica, service.image, image_id,
                         tuple(options), command, tuple(files))


def _resources(x: Mapping[str, object], where: str) -> list[str]:
    deploy = x.get("deploy")
    resources = deploy.get("resources", {}) if isinstance(deploy, Mapping) else {}
    limits = resources.get("limits", {}) or {}
    reserve = resources.get("reservations", {}) or {}
    options = []
    if "memory" in limits:
        options += ["--memory", f"{size_mb(limits['memory'], f'{where} limits.memory')}m"]
    if "memory" in reserve:
        mb = size_mb(reserve["memory"], f"{where} reservations.memory")
        options += ["--memory-reservation", f"{mb}m"]
    if "cpus" in limits:
        millis = cpu_millis(limits["cpus"], f"{where} limits.cpus")
        options += ["--cpus", f"{millis / 1000:g}"]
    return options


def _logging(value: object, where: str) -> list[str]:
    if value is None:
        return list(DEFAULT_LOGGING)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: logging: expected a mapping with driver and options")
    options = ["--log-driver", str(value.get("driver", "json-file"))]
    for key, opt in _pairs(value.get("options"), f"{where} logging.options"):
        options += ["--log-opt", f"{key}={opt}"]
    return options


def _environment(value: object, where: str) -> list[str]:
    options = []
    if _is_list(value):
        for item in value:
            options += ["-e", str(item)]
        return options
    for key, item in _pairs(value, f"{where} environment"):
        options += ["-e", key if item is None else f"{key}={_scalar(item)}"]
    return options


def _healthcheck(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: healthcheck: expected a mapping")
    if value.get("disable"):
        return ["--no-healthcheck"]
    test = value.get("test")
    options = []
    if isinstance(test, str):
        options += ["--health-cmd", test]
    elif _is_list(test) and test and test[0] in ("CMD", "CMD-SHELL"):
        args = [str(a) for a in test[1:]]
        options += ["--health-cmd", args[0] if test[0] == "CMD-SHELL" else shlex.join(args)]
    elif test is not None:
        raise ConfigError(f"{where}: healthcheck.test: expected a string or "
                          "[CMD, ...] / [CMD-SHELL, ...]")
    for key, flag in (("interval", "--health-interval"), ("timeout", "--health-timeout"),
                      ("start_period", "--health-start-period")):
        if key in value:
            options += [flag, f"{_seconds(value[key], where):g}s"]
    if "retries" in value:
        options += ["--health-retries", str(int(str(value["retries"])))]
    return options


def _command(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if _is_list(value):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{where}: command: expected a string or a list")


def _config_ref(item: object) -> tuple[str, str]:
    if isinstance(item, Mapping):
        name = str(item["source"])
        return name, str(item.get("target", f"/{name}"))
    return str(item), f"/{item}"


def _seconds(value: object, where: str) -> float:
    """A compose duration ("1m30s", "500ms", or a number of seconds) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{where}: {value!r} is not a duration like 10s, 1m30s or 500ms")
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    return sum(float(n) * scale[u] for n, u in parts)


def _pairs(value: object, where: str) -> list[tuple[str, object]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if _is_list(value):
        return [(k, v) for k, _, v in (str(item).partition("=") for item in value)]
    raise ConfigError(f"{where}: expected a mapping or a list of KEY=VALUE")


def _list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if not _is_list(value):
        raise ConfigError(f"{where}: expected a list")
    return list(value)


def _is_list(value: object) -> TypeGuard[Sequence[object]]:
    """A YAML sequence, as the stack reader keeps it (a tuple) or as written (a list)."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
