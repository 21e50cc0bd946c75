"""A service's mounts as `docker run` options: volumes, tmpfs, volumes_from, configs, secrets.

Pure. Named volumes are named as compose names them (`<project>_<key>`
unless `name:` or external); one whose top-level definition sets a driver,
driver_opts or labels is mounted with --mount, which creates it so. A
relative bind (`./data`) is relative to the stack's directory on the board,
STACKS_DIR/<stack>, as it is relative to the compose file's for compose.
Configs and secrets are files fleet copies to the board and mounts read-only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleet.config.resources import size_bytes
from fleet.deploy.stackcontext import StackContext, resource_name
from fleet.errors import ConfigError

STACKS_DIR = "/var/lib/fleet/stacks"
_PROPAGATION = ("shared", "slave", "private", "rshared", "rslave", "rprivate")
_SECRETS_DIR = "/run/secrets"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A file a container mounts: where the board keeps it, its digest, mode and, unless it is
    a top-level config read from the controller at apply time, its content."""

    name: str
    path: str
    sha256: str
    mode: int = 0o444
    content: bytes | None = None


def config_path(stack: str, name: str) -> str:
    return f"{STACKS_DIR}/{stack}/configs/{name}"


def secret_path(stack: str, name: str) -> str:
    # Under configs/, where the board's facts read each file's digest back (status.sh).
    return f"{STACKS_DIR}/{stack}/configs/.fleet-secrets/{name}"


def env_path(stack: str, service: str) -> str:
    return f"{STACKS_DIR}/{stack}/configs/.fleet-env/{service}.env"



def volumes(x: Mapping[str, object], ctx: StackContext, where: str) -> list[str]:
    """`volumes`, `tmpfs` and `volumes_from` -> options."""
    options = []
    for item in _list(x.get("volumes"), f"{where}: volumes"):
        options += _long(item, ctx, where) if isinstance(item, Mapping) \
            else _short(str(item), ctx, where)
    for path in _list(x.get("tmpfs"), f"{where}: tmpfs", scalar_ok=True):
        options += ["--tmpfs", str(path)]
    for source in _list(x.get("volumes_from"), f"{where}: volumes_from"):
        kind, _, name = str(source).partition(":")
        if kind == "container":
            options += ["--volumes-from", str(source).removeprefix("container:")]
        else:
            options += ["--volumes-from", ctx.container(kind, f"{where}: volumes_from")
                        + (f":{name}" if name else "")]
    return options


def _short(text: str, ctx: StackContext, where: str) -> list[str]:
    parts = text.split(":")
    if len(parts) == 1:
        return ["-v", text]  # an anonymous volume
    if len(parts) > 3:
        raise ConfigError(f"{where}: volumes: expected SOURCE:TARGET[:MODE], got {text!r}")
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    tail = f":{mode}" if mode else ""
    if source.startswith(("/", ".", "~")):
        return ["-v", f"{_host_path(source, ctx.project, where)}:{target}{tail}"]
    volume = _volume(source, ctx, where)
    if not _needs_mount(volume):
        return ["-v", f"{resource_name(ctx.project, source, volume)}:{target}{tail}"]
    flags = mode.split(",") if mode else []
    return _mount(source, target, volume, ctx, read_only="ro" in flags,
                  nocopy="nocopy" in flags)


def _long(item: Mapping[str, object], ctx: StackContext, where: str) -> list[str]:
    kind, target = str(item.get("type", "volume")), str(item.get("target", ""))
    if not target:
        raise ConfigError(f"{where}: volumes: a long-syntax volume needs `target`")
    source = str(item.get("source") or "")
    read_only = bool(item.get("read_only"))
    sub = item.get(kind) if isinstance(item.get(kind), Mapping) else {}
    assert isinstance(sub, Mapping)
    if kind == "bind":
        flags = ["ro"] if read_only else []
        if sub.get("propagation"):
            flags.append(str(sub["propagation"]))
        if sub.get("selinux"):
            flags.append(str(sub["selinux"]))
        host = _host_path(source, ctx.project, where)
        if sub.get("create_host_path") is False:  # -v would make a missing source
            return ["--mount", _csv(["type=bind", f"source={host}", f"target={target}",
                                     *(["readonly"] if read_only else []),
                                     *([f"bind-propagation={sub['propagation']}"]
                                       if sub.get("propagation") else [])])]
        return ["-v", f"{host}:{target}" + (f":{','.join(flags)}" if flags else "")]
    if kind == "volume":
        if not source:
            return ["--mount", _csv(["type=volume", f"target={target}",
                                     *(["readonly"] if read_only else [])])]
        return _mount(source, target, _volume(source, ctx, where), ctx, read_only=read_only,
                      nocopy=bool(sub.get("nocopy")), subpath=str(sub.get("subpath") or ""))
    if kind == "tmpfs":
        fields = ["type=tmpfs", f"target={target}"]
        if "size" in sub:
            fields.append(f"tmpfs-size={size_bytes(sub['size'], field=where)}")
        if "mode" in sub:
            mode = sub["mode"]
            fields.append(f"tmpfs-mode={mode:o}" if isinstance(mode, int) else f"tmpfs-mode={mode}")
        return ["--mount", _csv(fields)]
    raise ConfigError(f"{where}: volumes: type {kind!r} is not supported by fleet "
                      "(bind, volume and tmpfs are)")


def _mount(key: str, target: str, volume: Mapping[str, object] | None, ctx: StackContext, *,
           read_only: bool, nocopy: bool, subpath: str = "") -> list[str]:
    settings = volume or {}
    fields = ["type=volume", f"source={resource_name(ctx.project, key, volume)}",
              f"target={target}"]
    if read_only:
        fields.append("readonly")
    if nocopy:
        fields.append("volume-nocopy")
    if subpath:
        fields.append(f"volume-subpath={subpath}")
    if not settings.get("external"):
        if settings.get("driver"):
            fields.append(f"volume-driver={settings['driver']}")
        fields += [f"volume-opt={k}={v}" for k, v in _pairs(settings.get("driver_opts"))]
        fields += [f"volume-label={k}={v}" for k, v in _pairs(settings.get("labels"))]
    return ["--mount", _csv(fields)]


def _needs_mount(volume: Mapping[str, object] | None) -> bool:
    return bool(volume) and not (volume or {}).get("external") and any(
        (volume or {}).get(k) for k in ("driver", "driver_opts", "labels"))


def _volume(key: str, ctx: StackContext, where: str) -> Mapping[str, object] | None:
    if key not in ctx.volumes:
        raise ConfigError(f"{where}: volumes: {key!r} is not a top-level volume (declare it "
                          "under `volumes:`, or write a path for a bind mount)")
    value = ctx.volumes[key]
    return value if isinstance(value, Mapping) else None


def _host_path(source: str, project: str, where: str) -> str:
    if source.startswith("~"):
        raise ConfigError(f"{where}: volumes: {source!r}: whose home is ~ on a board? "
                          "write an absolute path, or one relative to the stack")
    if source.startswith("/"):
        return source
    return posixpath.normpath(posixpath.join(STACKS_DIR, project, source))


def files(x: Mapping[str, object], ctx: StackContext, config_digests: Mapping[str, str],
          where: str) -> tuple[list[str], list[ConfigFile]]:
    """`configs` and `secrets` -> (their read-only mounts, the files the board must have)."""
    options: list[str] = []
    found: list[ConfigFile] = []
    for item in _list(x.get("configs"), f"{where}: configs"):
        name, target = _ref(item, "configs", where)
        file = ConfigFile(name, config_path(ctx.project, name), config_digests[name])
        found.append(file)
        options += ["-v", f"{file.path}:{target or '/' + name}:ro"]
    for item in _list(x.get("secrets"), f"{where}: secrets"):
        name, target = _ref(item, "secrets", where)
        if name not in ctx.secrets:
            raise ConfigError(f"{where}: secret {name!r} is not defined under the top-level "
                              "`secrets:`")
        body = ctx.secrets[name]
        file = ConfigFile(name, secret_path(ctx.project, name),
                          hashlib.sha256(body).hexdigest(), 0o400, body)
        found.append(file)
        target = posixpath.join(_SECRETS_DIR, target or name)
        options += ["-v", f"{file.path}:{target}:ro"]
    return options, found


def _ref(item: object, key: str, where: str) -> tuple[str, str]:
    """A config or secret reference -> (its name, its target or "")."""
    if not isinstance(item, Mapping):
        return str(item), ""
    # uid, gid and mode: refused at load (compose_keys), or allowed and ignored
    return str(item["source"]), str(item.get("target") or "")


def _csv(fields: Sequence[str]) -> str:
    """--mount's value: comma-separated fields, a field with a comma or quote quoted (docker
    reads it as CSV)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def _pairs(value: object) -> list[tuple[str, object]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [(k, v) for k, _, v in (str(i).partition("=") for i in value)]
    return []


def _list(value: object, where: str, scalar_ok: bool = False) -> list[object]:
    if value is None:
        return []
    if scalar_ok and isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(f"{where}: expected a list")
    return list(value)
