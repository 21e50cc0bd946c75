"""A service's compose keys -> `docker run` options (mounts and files are fleet.deploy.mounts).

Pure. Each key means what the compose specification says; the table of
keys and flags is fleet.config.compose_keys.SERVICE_KEYS. Where compose
has two spellings of one setting (mem_limit and deploy.resources.limits.
memory) either is read; the loader has refused them when they disagree.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TypeGuard

from fleet.deploy.sizes import seconds, size_option
from fleet.deploy.stackcontext import StackContext, resource_name
from fleet.errors import ConfigError

# Logs cannot fill an SD card: docker's json-file driver, rotated, unless the service says.
DEFAULT_LOGGING = ("--log-driver", "json-file", "--log-opt", "max-size=10m",
                   "--log-opt", "max-file=3")
DEFAULT_RESTART = "unless-stopped"
DEFAULT_NETWORK = "default"

SCALAR_FLAGS = {
    "user": "--user", "working_dir": "--workdir", "hostname": "--hostname",
    "domainname": "--domainname", "mac_address": "--mac-address",
    "stop_signal": "--stop-signal", "uts": "--uts", "userns_mode": "--userns",
    "cgroup": "--cgroupns", "cgroup_parent": "--cgroup-parent", "cpu_shares": "--cpu-shares",
    "cpu_period": "--cpu-period", "cpu_quota": "--cpu-quota", "cpuset": "--cpuset-cpus",
    "mem_swappiness": "--memory-swappiness", "oom_score_adj": "--oom-score-adj",
    "gpus": "--gpus",
}
MICROSECOND_FLAGS = {"cpu_rt_period": "--cpu-rt-period", "cpu_rt_runtime": "--cpu-rt-runtime"}
BOOL_FLAGS = {"privileged": "--privileged", "read_only": "--read-only", "init": "--init",
              "oom_kill_disable": "--oom-kill-disable", "tty": "--tty",
              "stdin_open": "--interactive"}
LIST_FLAGS = {"cap_add": "--cap-add", "cap_drop": "--cap-drop",
              "security_opt": "--security-opt", "group_add": "--group-add", "dns": "--dns",
              "dns_search": "--dns-search", "dns_opt": "--dns-option",
              "device_cgroup_rules": "--device-cgroup-rule", "expose": "--expose"}
PAIR_FLAGS = {"sysctls": "--sysctl", "storage_opt": "--storage-opt", "labels": "--label"}
# A resource's two spellings: deploy.resources' is read, else the service's key (0 there is not
# given), as docker compose reads them and as fleet.config.resources plans them; a file that
# gives both with different values was refused at load.
RESOURCES = (("mem_limit", ("limits", "memory"), "--memory"),
             ("mem_reservation", ("reservations", "memory"), "--memory-reservation"),
             ("memswap_limit", None, "--memory-swap"),
             ("cpus", ("limits", "cpus"), "--cpus"),
             ("pids_limit", ("limits", "pids"), "--pids-limit"))
# What docker refuses beside another container's network namespace.
SHARED_NETWORK_CLASHES = ("ports", "expose", "hostname", "dns", "dns_search", "dns_opt",
                          "extra_hosts", "mac_address", "links")
_RESTART_CONDITIONS = {"none": "no", "on-failure": "on-failure", "any": "always"}


def simple(x: Mapping[str, object], where: str) -> list[str]:
    """Keys that are one flag each: scalars, switches, lists and KEY=VALUE pairs."""
    options: list[str] = []
    for key, flag in SCALAR_FLAGS.items():
        if x.get(key) is not None:
            options += [flag, _scalar(x[key])]
    for key, flag in MICROSECOND_FLAGS.items():
        if x.get(key) is not None:
            options += [flag, str(round(seconds(x[key], f"{where}: {key}") * 1e6))]
    options += [flag for key, flag in BOOL_FLAGS.items() if x.get(key) is True]
    for key, flag in LIST_FLAGS.items():
        for item in _strings(x.get(key), f"{where}: {key}"):
            options += [flag, item]
    for key, flag in PAIR_FLAGS.items():
        for name, value in _pairs(x.get(key), f"{where}: {key}"):
            options += [flag, f"{name}={'' if value is None else _scalar(value)}"]
    return options


def devices(x: Mapping[str, object], where: str) -> list[str]:
    options = []
    for item in _list(x.get("devices"), f"{where}: devices"):
        if isinstance(item, Mapping):
            item = ":".join(str(item[k]) for k in ("source", "target", "permissions")
                            if item.get(k))
        options += ["--device", str(item)]
    return options


def namespaces(x: Mapping[str, object], ctx: StackContext, where: str) -> list[str]:
    """pid and ipc, a `service:NAME` among them naming that service's container."""
    return [a for key in ("pid", "ipc") if x.get(key) is not None
            for a in (f"--{key}", _mode(str(x[key]), key, where, ctx))]


def network(x: Mapping[str, object], service: str, ctx: StackContext, where: str) -> list[str]:
    """network_mode, or the one network the service joins (its own `default` if it names
    none), with the service's name and aliases and any static address on it."""
    if x.get("network_mode") is not None:
        if x.get("networks"):
            raise ConfigError(f"{where}: network_mode and networks cannot both be set")
        if str(x["network_mode"]).startswith(("service:", "container:")):
            clash = [k for k in SHARED_NETWORK_CLASHES if x.get(k)]
            if clash:
                raise ConfigError(f"{where}: {clash[0]} cannot be set with network_mode "
                                  f"{x['network_mode']}: the container uses the other's network")
        return ["--network", _mode(str(x["network_mode"]), "network_mode", where, ctx)]
    joins = _joins(x.get("networks"), where)
    if len(joins) > 1:  # the loader refuses it (compose_keys); a Service made by hand may not
        raise ConfigError(f"{where}: networks: fleet joins one network per service; got "
                          f"{', '.join(joins)}")
    key, settings = next(iter(joins.items())) if joins else (DEFAULT_NETWORK, {})
    if key != DEFAULT_NETWORK and key not in ctx.networks:
        raise ConfigError(f"{where}: networks: {key!r} is not a top-level network")
    definition = ctx.networks.get(key)
    options = ["--network", resource_name(ctx.project, key, definition
                                         if isinstance(definition, Mapping) else None)]
    for alias in dict.fromkeys([service, *_strings(settings.get("aliases"), where)]):
        options += ["--network-alias", alias]
    for name, flag in (("ipv4_address", "--ip"), ("ipv6_address", "--ip6"),
                       ("mac_address", "--mac-address")):
        if settings.get(name):
            options += [flag, str(settings[name])]
    for address in _strings(settings.get("link_local_ips"), where):
        options += ["--link-local-ip", address]
    return options



def links(x: Mapping[str, object], ctx: StackContext, where: str) -> list[str]:
    """`links: [SERVICE:ALIAS]` -> --link; a plain SERVICE is reached by its network alias."""
    options = []
    for item in _strings(x.get("links"), f"{where}: links"):
        service, _, alias = item.partition(":")
        if alias and alias != service:
            options += ["--link", f"{ctx.container(service, where + ': links')}:{alias}"]
    return options


def extra_hosts(x: Mapping[str, object], where: str) -> list[str]:
    value = x.get("extra_hosts")
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for host, ips in value.items():
            pairs += [(str(host), ip) for ip in _strings(ips, where, scalar_ok=True)]
    else:
        for item in _strings(value, f"{where}: extra_hosts"):
            sep = "=" if "=" in item else ":"
            host, _, ip = item.partition(sep)
            pairs.append((host, ip))
    return [a for host, ip in pairs for a in ("--add-host", f"{host}:{ip.strip('[]')}")]


def ulimits(x: Mapping[str, object], where: str) -> list[str]:
    options = []
    for name, value in _pairs(x.get("ulimits"), f"{where}: ulimits"):
        if isinstance(value, Mapping):
            if "soft" not in value or "hard" not in value:
                raise ConfigError(f"{where}: ulimits.{name}: expected a number or "
                                  "{soft: N, hard: N}")
            value = f"{value['soft']}:{value['hard']}"
        options += ["--ulimit", f"{name}={value}"]
    return options


def resources(x: Mapping[str, object], where: str) -> list[str]:
    deploy = x.get("deploy")
    given = deploy.get("resources") if isinstance(deploy, Mapping) else None
    res = given if isinstance(given, Mapping) else {}
    options = []
    for key, path, flag in RESOURCES:
        section = res.get(path[0]) if path is not None else None
        value = section.get(path[1]) if isinstance(section, Mapping) and path else None
        if value is None and x.get(key) not in (None, 0, "0"):
            value = x[key]
        if value is None:
            continue
        if flag == "--cpus":
            options += [flag, f"{float(str(value)):g}"]
        elif flag == "--pids-limit" or str(value) == "-1":
            options += [flag, str(value)]
        else:
            options += [flag, size_option(value, f"{where}: {key}")]
    if x.get("shm_size") is not None:
        options += ["--shm-size", size_option(x["shm_size"], f"{where}: shm_size")]
    return options


def restart(x: Mapping[str, object], where: str) -> list[str]:
    if x.get("restart") is not None:
        return ["--restart", str(x["restart"])]
    deploy = x.get("deploy")
    policy = deploy.get("restart_policy") if isinstance(deploy, Mapping) else None
    if not isinstance(policy, Mapping):
        return ["--restart", DEFAULT_RESTART]
    condition = str(policy.get("condition", "any"))
    if condition not in _RESTART_CONDITIONS:
        raise ConfigError(f"{where}: deploy.restart_policy.condition: expected none, "
                          f"on-failure or any, got {condition!r}")
    value = _RESTART_CONDITIONS[condition]
    if value == "on-failure" and policy.get("max_attempts") is not None:
        value += f":{policy['max_attempts']}"
    return ["--restart", value]


def logging(value: object, where: str) -> list[str]:
    if value is None:
        return list(DEFAULT_LOGGING)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: logging: expected a mapping with driver and options")
    options = ["--log-driver", str(value.get("driver", "json-file"))]
    for key, opt in _pairs(value.get("options"), f"{where}: logging.options"):
        options += ["--log-opt", f"{key}={opt}"]
    return options


def healthcheck(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: healthcheck: expected a mapping")
    test = value.get("test")
    if value.get("disable") or test == "NONE" or (_is_list(test) and test[:1] == ("NONE",)):
        return ["--no-healthcheck"]
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
            options += [flag, f"{seconds(value[key], where):g}s"]
    if "retries" in value:
        options += ["--health-retries", str(int(str(value["retries"])))]
    return options


def stop_timeout(x: Mapping[str, object], where: str) -> list[str]:
    if x.get("stop_grace_period") is None:
        return []
    return ["--stop-timeout", str(max(1, round(seconds(x["stop_grace_period"], where))))]


def _mode(value: str, key: str, where: str, ctx: StackContext) -> str:
    """`service:NAME` -> `container:<NAME's container>`; anything else as written."""
    kind, _, name = value.partition(":")
    if kind != "service":
        return value
    return f"container:{ctx.container(name, f'{where}: {key}')}"


def _joins(value: object, where: str) -> dict[str, Mapping[str, object]]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v if isinstance(v, Mapping) else {} for k, v in value.items()}
    return {s: {} for s in _strings(value, f"{where}: networks")}


def _strings(value: object, where: str, scalar_ok: bool = True) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float) and scalar_ok:
        return [_scalar(value)]
    return [_scalar(v) for v in _list(value, where)]


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
