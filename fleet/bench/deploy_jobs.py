"""The deploy bench's job as fleet, pyinfra and ansible-core each express it; its checks. Pure.

The job: a directory, a 1 MB data file and a config file under the devices'
private directories, a check that docker answers, and one container with a
32 MB memory limit, started if absent and left alone if running. Everything
here is text in, text out: the files each tool reads, the script that reads
a device's state back, and the parser and checks of what that script says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

JOB_DIR = "/var/lib/fleet/benchjob"
DATA_PATH = f"{JOB_DIR}/data.bin"
CONF_PATH = "/etc/fleet/benchjob.conf"
CONTAINER = "benchjob"
IMAGE = "fleet/workload:latest"
MEMORY_BYTES = 32 * 1024 * 1024
DATA_BYTES = 1024 * 1024
CONF_TEXT = "# written by fleet bench deploy\nmode = bench\nlisten = 8080\nreplicas = 8\n"
STACK_FILE = "benchjob.yaml"
# fleet keeps a stack's config files here on the device and mounts them into the container.
FLEET_STACK_DIR = "/var/lib/fleet/stacks/benchjob"


def stack_yaml() -> str:
    """The compose file `fleet deploy` reads; its configs sit beside it."""
    return f"""\
configs:
  data:
    file: ./data.bin
  conf:
    file: ./benchjob.conf
services:
  {CONTAINER}:
    image: {IMAGE}
    deploy:
      replicas: 8
      resources:
        limits:
          memory: 32M
      placement:
        max_replicas_per_node: 1
    x-fleet:
      strategy: spread
    configs:
      - source: data
        target: {DATA_PATH}
      - source: conf
        target: {CONF_PATH}
"""


def pyinfra_inventory(hosts: list[tuple[str, str]], key: Path, known_hosts: Path) -> str:
    """An inventory.py: each (address, user) with the lab key, checked against the lab's keys,
    root through sudo (pyinfra's `_sudo` global argument, from host data as `--sudo` sets it)."""
    hosts_text = ",\n".join(
        f"    ({ip!r}, {_pyinfra_data(user, key, known_hosts)!r})" for ip, user in hosts)
    return f"devices = [\n{hosts_text},\n]\n"


def _pyinfra_data(user: str, key: Path, known_hosts: Path) -> dict[str, object]:
    # pyinfra takes a known_hosts file; "yes" refuses a host that is not in it.
    return {"ssh_user": user, "ssh_key": str(key), "ssh_known_hosts_file": str(known_hosts),
            "ssh_strict_host_key_checking": "yes", "_sudo": True}


def pyinfra_deploy(data: Path, conf: Path) -> str:
    """A deploy file using pyinfra's own operations, docker.container for the container."""
    return f"""\
from pyinfra.operations import docker, files, server

files.directory(name="job directory", path={JOB_DIR!r}, mode="755")
files.put(name="data file", src={str(data)!r}, dest={DATA_PATH!r}, mode="644")
files.put(name="config file", src={str(conf)!r}, dest={CONF_PATH!r}, mode="644")
server.shell(name="docker answers", commands=["docker version"])
docker.container(name="the container", container={CONTAINER!r}, image={IMAGE!r},
                 memory="32m", present=True, start=True)
"""


def ansible_cfg(work: Path) -> str:
    """ansible-core's settings: its defaults, with its scratch directories kept in `work`."""
    return f"""\
[defaults]
# forks: -f on the command line, one per device.
local_tmp = {work / "ansible-local"}
retry_files_enabled = False
# gathering stays at its default (implicit: facts are gathered), and so does pipelining (off).

[ssh_connection]
# Only where the ControlPersist sockets go; ssh_args stay at their default
# (-C -o ControlMaster=auto -o ControlPersist=60s).
control_path_dir = {work / "ansible-cp"}
"""


def ansible_inventory(hosts: list[tuple[str, str]], key: Path, known_hosts: Path) -> str:
    """An INI inventory: each (address, user) with the lab key, checked against the lab's keys;
    the playbook becomes root (sudo, ansible's default become method)."""
    ssh_args = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    return "\n".join([
        "[devices]", *(f"{ip} ansible_user={user}" for ip, user in hosts), "",
        "[devices:vars]",
        f"ansible_ssh_private_key_file={key}",
        f"ansible_ssh_common_args='{ssh_args}'",
        # The devices share the host's Python: naming it skips interpreter discovery.
        "ansible_python_interpreter=/usr/bin/python3",
        "",
    ])


def ansible_playbook(data: Path, conf: Path) -> str:
    """The job with ansible.builtin modules only; the container behind a check."""
    return f"""\
- name: benchjob
  hosts: devices
  # Logged in as the board's user, as fleet is: root through sudo.
  become: true
  # gather_facts is left at its default: facts are gathered.
  tasks:
    - name: job directory
      ansible.builtin.file:
        path: {JOB_DIR}
        state: directory
        mode: "0755"
    - name: data file
      ansible.builtin.copy:
        src: {data}
        dest: {DATA_PATH}
        mode: "0644"
    - name: config file
      ansible.builtin.copy:
        src: {conf}
        dest: {CONF_PATH}
        mode: "0644"
    - name: docker answers
      ansible.builtin.command: docker version
      changed_when: false
    - name: is the container running
      ansible.builtin.command: docker ps -q --filter name=^{CONTAINER}$ --filter status=running
      register: running
      changed_when: false
    - name: start the container
      ansible.builtin.shell: >-
        docker start {CONTAINER} 2>/dev/null ||
        docker run -d --name {CONTAINER} -m 32m {IMAGE}
      when: running.stdout == ""
"""


RESET_SCRIPT = f"""\
set -eu
for c in $(docker ps -aq --filter name={CONTAINER}); do docker rm -f "$c" >/dev/null; done
rm -rf {JOB_DIR} {CONF_PATH} {FLEET_STACK_DIR}
"""

# A first container on a fresh engine costs more (its bridge network, its cgroups): pay that
# once before any tool runs, so the first tool is not the one that pays it.
WARM_SCRIPT = f"""\
set -eu
docker run -d --name benchwarm -m 32m {IMAGE} >/dev/null
docker rm -f benchwarm >/dev/null
"""

# What is on a device: the job's files, and each container named like the job's with the
# checksums of the files mounted into it. One fact per line; the parser below reads it.
STATE_SCRIPT = f"""\
set -u
for f in {DATA_PATH} {CONF_PATH}; do
  if [ -f "$f" ]; then echo "file $f $(sha256sum "$f" | cut -d' ' -f1)"; fi
done
if [ -d {JOB_DIR} ]; then echo "dir {JOB_DIR} $(stat -c %a {JOB_DIR})"; fi
for c in $(docker ps -aq --filter name={CONTAINER}); do
  docker inspect -f 'container {{{{.Name}}}} {{{{.Id}}}} {{{{.State.Running}}}} \
{{{{.State.StartedAt}}}} {{{{.HostConfig.Memory}}}}' "$c"
  docker inspect -f '{{{{range .Mounts}}}}{{{{.Source}}}} {{{{.Destination}}}}
{{{{end}}}}' "$c" | while read -r src dst; do
    if [ -f "$src" ]; then echo "mount $dst $(sha256sum "$src" | cut -d' ' -f1)"; fi
  done
done
echo end
"""


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    id: str
    running: bool
    started_at: str
    memory: int
    mounts: dict[str, str] = field(default_factory=dict)  # destination -> sha256 of its source


@dataclass(frozen=True, slots=True)
class DeviceState:
    files: dict[str, str]  # path -> sha256
    dirs: dict[str, str]  # path -> octal mode
    containers: tuple[Container, ...]


def parse_state(text: str) -> DeviceState:
    """What STATE_SCRIPT printed; ValueError if it did not finish or printed something else."""
    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    containers: list[Container] = []
    lines = text.splitlines()
    if not lines or lines[-1] != "end":
        raise ValueError(f"the state script did not finish: {text[-200:]!r}")
    for line in lines[:-1]:
        kind, *rest = line.split()
        if kind == "file" and len(rest) == 2:
            files[rest[0]] = rest[1]
        elif kind == "dir" and len(rest) == 2:
            dirs[rest[0]] = rest[1]
        elif kind == "container" and len(rest) == 5:
            name, cid, running, started, memory = rest
            containers.append(Container(name.lstrip("/"), cid, running == "true", started,
                                        int(memory)))
        elif kind == "mount" and len(rest) == 2 and containers:
            containers[-1].mounts[rest[0]] = rest[1]
        else:
            raise ValueError(f"unexpected line from the state script: {line!r}")
    return DeviceState(files, dirs, tuple(containers))


def first_run_problems(state: DeviceState, data_sha: str, conf_sha: str) -> list[str]:
    """Why the job's effect is not all there on a device; empty when it is.

    A file counts where the job puts it on the device (pyinfra, ansible), or mounted at that
    path into the container (fleet keeps configs in its stack directory and mounts them).
    """
    problems = []
    if len(state.containers) != 1:
        names = [c.name for c in state.containers]
        return [f"expected one {CONTAINER} container, found {names}"]
    container = state.containers[0]
    if not container.running:
        problems.append(f"container {container.name} is not running")
    if container.memory != MEMORY_BYTES:
        problems.append(f"container {container.name} has memory limit {container.memory}, "
                        f"expected {MEMORY_BYTES}")
    for path, want in ((DATA_PATH, data_sha), (CONF_PATH, conf_sha)):
        got = state.files.get(path) or container.mounts.get(path)
        if got != want:
            problems.append(f"{path}: sha256 {got or 'missing'}, expected {want}")
    if DATA_PATH in state.files and state.dirs.get(JOB_DIR) != "755":
        problems.append(f"{JOB_DIR}: mode {state.dirs.get(JOB_DIR, 'missing')}, expected 755")
    return problems


def second_run_problems(before: DeviceState, after: DeviceState, data_sha: str,
                        conf_sha: str) -> list[str]:
    """Why a no-change run changed something (or broke the job); empty when it did not."""
    problems = first_run_problems(after, data_sha, conf_sha)
    if problems or not before.containers:
        return problems
    old, new = before.containers[0], after.containers[0]
    if (old.id, old.started_at) != (new.id, new.started_at):
        problems.append(f"the container was replaced or restarted: {old.id[:12]} started "
                        f"{old.started_at}, now {new.id[:12]} started {new.started_at}")
    return problems


def ratio(fleet_s: float | None, other_s: float | None) -> float | None:
    """fleet's time over another tool's, or None if either is unknown."""
    if fleet_s is None or not other_s:
        return None
    return round(fleet_s / other_s, 3)


TARGETS = {"ratio_vs_pyinfra": 0.5, "ratio_vs_ansible": 0.2}


def figures(times: dict[str, tuple[float | None, float | None]],
            note: str | None = None) -> dict[str, object]:
    """The bench's figures from each tool's (first, second) run seconds, with targets and met."""
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    out: dict[str, object] = {}
    for tool in ("fleet", "pyinfra", "ansible"):
        first, second = times.get(tool, (None, None))
        out[f"{tool}_s"] = rounded(first)
        out[f"{tool}_second_s"] = rounded(second)
    fleet_first = times.get("fleet", (None, None))[0]
    for tool in ("pyinfra", "ansible"):
        out[f"ratio_vs_{tool}"] = ratio(fleet_first, times.get(tool, (None, None))[0])
    if note:
        out["note"] = note
    out["targets"] = {k: f"<= {v}" for k, v in TARGETS.items()}
    out["met"] = {k: isinstance(r, float) and r <= v
                  for k, v in TARGETS.items() for r in [out[k]]}
    return out

