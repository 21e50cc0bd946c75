"""Which compose keys fleet honours, and how; a key it does not is refused by name, never dropped.

`SERVICE_KEYS` maps each service key fleet supports to what it does with
it (the README's table is written from it). `check` runs at load, so
`fleet plan` refuses what `fleet deploy` could not run: an unsupported
key is a ConfigError naming the file, line, service and field, or, when
the user allows it (`--allow-unsupported`), a warning naming the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from fleet.config.build import BUILD_KEYS
from fleet.config.yamlfile import Node
from fleet.errors import ConfigError

SERVICE_KEYS: Mapping[str, str] = {
    "image": "the image `docker run` runs (pushed from the controller); with `build`, its name",
    "build": "built on the board the service is placed on, from the context fleet sends: "
             "see BUILD_KEYS",
    "command": "the command after the image (a string is split as a shell would)",
    "entrypoint": "--entrypoint (the rest of a list goes before the command)",
    "environment": "written with env_file's into a 0600 env file: --env-file",
    "env_file": "read on the controller, relative to the compose file: --env-file",
    "ports": "-p [IP:]HOST:CONTAINER/PROTO (host ports allocated by the plan)",
    "expose": "--expose",
    "volumes": "-v (bind, relative binds under the stack's directory on the board), "
               "--mount (named volumes with a driver or driver_opts, tmpfs)",
    "volumes_from": "--volumes-from",
    "tmpfs": "--tmpfs",
    "devices": "--device",
    "device_cgroup_rules": "--device-cgroup-rule",
    "network_mode": "--network (service:NAME -> container:<its container>)",
    "networks": "--network, --network-alias, --ip, --ip6 (one network per service)",
    "links": "planning (kept on one board); an alias: --link",
    "depends_on": "planning and start order",
    "privileged": "--privileged",
    "cap_add": "--cap-add",
    "cap_drop": "--cap-drop",
    "security_opt": "--security-opt",
    "user": "--user",
    "group_add": "--group-add",
    "working_dir": "--workdir",
    "hostname": "--hostname",
    "domainname": "--domainname",
    "mac_address": "--mac-address",
    "dns": "--dns",
    "dns_opt": "--dns-option",
    "dns_search": "--dns-search",
    "extra_hosts": "--add-host",
    "labels": "--label",
    "logging": "--log-driver, --log-opt (default: json-file, 3 x 10 MB)",
    "restart": "--restart (default: unless-stopped)",
    "healthcheck": "--health-cmd, --health-interval, ... or --no-healthcheck",
    "stop_signal": "--stop-signal",
    "stop_grace_period": "--stop-timeout",
    "init": "--init",
    "sysctls": "--sysctl",
    "ulimits": "--ulimit",
    "shm_size": "--shm-size",
    "read_only": "--read-only",
    "runtime": "--runtime (and planning: nvidia needs a GPU board)",
    "gpus": "--gpus",
    "pid": "--pid (service:NAME -> container:<its container>)",
    "ipc": "--ipc (service:NAME -> container:<its container>)",
    "uts": "--uts",
    "userns_mode": "--userns",
    "cgroup": "--cgroupns",
    "cgroup_parent": "--cgroup-parent",
    "storage_opt": "--storage-opt",
    "stdin_open": "--interactive",
    "tty": "--tty",
    "configs": "copied to the board (0444), mounted read-only at the target",
    "secrets": "copied to the board (0400), mounted read-only at /run/secrets/NAME",
    "container_name": "the container's name (one replica only, as compose)",
    "mem_limit": "--memory, and planning",
    "mem_reservation": "--memory-reservation, and planning",
    "memswap_limit": "--memory-swap",
    "mem_swappiness": "--memory-swappiness",
    "oom_kill_disable": "--oom-kill-disable",
    "oom_score_adj": "--oom-score-adj",
    "pids_limit": "--pids-limit",
    "cpus": "--cpus, and planning",
    "cpu_shares": "--cpu-shares",
    "cpu_period": "--cpu-period",
    "cpu_quota": "--cpu-quota",
    "cpu_rt_period": "--cpu-rt-period",
    "cpu_rt_runtime": "--cpu-rt-runtime",
    "cpuset": "--cpuset-cpus",
    "deploy": "see DEPLOY_KEYS",
    "platform": "planning: the boards whose architecture the image runs on",
    "profiles": "loading: a service outside the active profiles is left out",
    "extends": "loading: merged from the service it extends",
    "x-fleet": "fleet's own planning settings",
}

DEPLOY_KEYS: Mapping[str, str] = {
    "mode": "planning: replicated, or global (one on every board that may run it)",
    "replicas": "planning: how many containers",
    "resources.limits.memory": "--memory, and planning",
    "resources.limits.cpus": "--cpus",
    "resources.limits.pids": "--pids-limit",
    "resources.reservations.memory": "--memory-reservation, and planning",
    "resources.reservations.cpus": "planning",
    "resources.reservations.devices": "planning (a GPU) and --runtime nvidia",
    "placement.constraints": "planning",
    "placement.max_replicas_per_node": "planning",
    "restart_policy.condition": "--restart, when `restart` is not given",
    "restart_policy.max_attempts": "--restart on-failure:N",
}

NETWORK_KEYS = ("aliases", "ipv4_address", "ipv6_address", "link_local_ips", "mac_address",
                "priority", "gw_priority")
TOP_KEYS = ("services", "name", "version", "networks", "volumes", "configs", "secrets")


_WHY = {
    "scale": "use deploy.replicas",
    "pull_policy": "fleet pushes the image from the controller",
    "update_config": "fleet replaces a changed container and rolls back on failure",
    "rollback_config": "fleet replaces a changed container and rolls back on failure",
}


def check(root: Node, allow_unsupported: bool = False) -> tuple[str, ...]:
    """Every unsupported key in the compose file at `root`: refused, or, if allowed, warnings."""
    found = _unsupported(root)
    if found and not allow_unsupported:
        raise _unsupported_error(found[0], "; run with --allow-unsupported to go on without it")
    return tuple(str(_unsupported_error(node, "; ignored")) for node in found)


def _unsupported_error(node: Node, then: str) -> ConfigError:
    name = node.field.rsplit(".", 1)[-1]
    why = _WHY.get(name)
    return node.error(f"{name!r} is not supported by fleet"
                      f"{f' ({why})' if why else ''}{then}")


def _unsupported(root: Node) -> list[Node]:
    if not isinstance(root.value, dict):
        return []
    found = []
    base = Path(root.path).parent  # the first file's directory, as compose's project's
    for key, body in root.entries():
        if not _known(key.value, TOP_KEYS):
            found.append(key)
        elif key.value == "services" and isinstance(body.value, dict):
            for _, service in body.entries():
                found += _service(service)
                _files_exist(service.fields().get("env_file"), "path", base)
        elif key.value == "secrets" and isinstance(body.value, dict):
            for _, secret in body.entries():
                _files_exist(secret.fields().get("file") if isinstance(secret.value, dict)
                             else None, "", base)
    return found


def _files_exist(node: Node | None, key: str, base: Path) -> None:
    """Files the deploy reads on the controller (env_file, a secret's file) are there now, so
    `fleet plan` says so too; relative to the compose file, as compose reads them."""
    if node is None:
        return
    items = node.items() if isinstance(node.value, list) else [node]
    for item in items:
        fields = item.fields() if isinstance(item.value, dict) else {}
        if fields.get("required") is not None and fields["required"].value is False:
            continue
        where = fields.get(key, item)
        if not isinstance(where.value, str):
            raise where.expected("a file path")
        if not (base / where.value).is_file():
            raise where.error(f"no such file: {where.value} (relative to the compose file)")


def _service(body: Node) -> list[Node]:
    if not isinstance(body.value, dict):
        return []
    found = [key for key, _ in body.entries() if not _known(key.value, SERVICE_KEYS)]
    fields = body.fields()
    if "deploy" in fields:
        found += _nested(fields["deploy"], "")
    health = fields.get("healthcheck")
    if health is not None and isinstance(health.value, dict):
        # docker 20.10, on the boards, has no --health-start-interval
        found += [k for k, _ in health.entries() if k.value == "start_interval"]
    for key in ("configs", "secrets"):
        for item in fields[key].items() if key in fields else ():
            if isinstance(item.value, dict):
                found += [k for k, _ in item.entries() if k.value in ("uid", "gid", "mode")]
    if "networks" in fields:
        found += _networks(fields["networks"])
    build = fields.get("build")
    if build is not None and isinstance(build.value, dict):
        found += [k for k, _ in build.entries() if not _known(k.value, BUILD_KEYS)]
    return found


def _networks(node: Node) -> list[Node]:
    """A service on several networks is refused: docker 20.10 joins one at creation."""
    entries = node.entries() if isinstance(node.value, dict) else []
    if len(entries or node.items()) > 1:
        raise node.error("fleet joins a service to one network (the boards' docker 20.10 "
                         "cannot join several when it creates a container)")
    found = []
    for _, body in entries:
        if isinstance(body.value, dict):
            found += [k for k, _ in body.entries() if k.value not in NETWORK_KEYS]
    return found


def _nested(node: Node, prefix: str) -> list[Node]:
    """Keys under `deploy` not in DEPLOY_KEYS (by their dotted path below `deploy`)."""
    if not isinstance(node.value, dict):
        return []
    found = []
    for key, body in node.entries():
        path = f"{prefix}{key.value}"
        if path in DEPLOY_KEYS or _known(key.value, ()):
            continue
        if any(k.startswith(path + ".") for k in DEPLOY_KEYS):
            found += _nested(body, path + ".")
        else:
            found.append(key)
    return found



def _known(key: object, keys: Collection[str]) -> bool:
    """A key in `keys`, or an extension (x-...), which compose itself ignores."""
    return isinstance(key, str) and (key.startswith("x-") or key in keys)
