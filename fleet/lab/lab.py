"""Bring a lab fleet up, report on it, and tear it down leaving nothing behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fleet.deploy import agent_image
from fleet.errors import LabError
from fleet.fanout import QUIET, Progress, fan_out, fan_out_or_raise
from fleet.lab import agents, device, images, junk, registry, users
from fleet.lab import spec as lab
from fleet.lab.broker import wait_listening
from fleet.lab.host import (
    BARE_REQUIRED,
    REQUIRED,
    pids_mentioning,
    preflight,
    run,
    spawn,
    terminate,
)
from fleet.lab.spec import LabDevice, LabSpec

_PARALLEL = 8


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """One lab device's check (a fleet.fanout.Outcome): its sshd, dockerd and agent."""

    id: str
    ip: str
    profile: str
    ssh: bool
    docker: bool
    agent: bool | None  # its container is running; None: no agent here (bare, or --no-agent)
    bare: bool = False  # a stock board, not enrolled: no agent, not in the inventory

    @property
    def device(self) -> str:
        return self.id

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error(self) -> str | None:
        down = [what for what, up in (("ssh", self.ssh), ("docker", self.docker),
                                      ("agent", self.agent is not False)) if not up]
        return f"{', '.join(down)} not answering" if down else None


@dataclass(frozen=True, slots=True)
class LabStatus:
    name: str
    devices: tuple[DeviceStatus, ...]
    broker: str
    inventory: str

    def to_json(self) -> dict[str, Any]:
        return {"lab": self.name, "devices": [asdict(d) for d in self.devices],
                "broker": self.broker, "inventory": self.inventory}


def up(spec: LabSpec, count: int, profile_list: str = "",
       progress: Progress = QUIET, *, agent: bool = True,
       interval: float = 5.0, bare: int = 0, card_mb: int | None = None,
       root_login: bool = False, models: Mapping[str, str] | None = None) -> LabStatus:
    """Create `count` devices, a broker, an inventory and (unless not `agent`) the agents.

    Each device logs in as its profile's user (`pi`, or `nvidia` on a Jetson) with
    passwordless sudo; root may log in too only with `root_login`, for what truly needs it.

    `bare` more devices are stock boards fleet has yet to find: sshd and
    dockerd, their host names on mDNS, no agent, and not in the inventory.
    Each device's device tree names its profile's board, or the model `models` gives it.
    On failure it undoes it all. Every step is taken by all devices together, so
    `progress` hears each device's stage as the lab reaches it."""
    devices = spec.devices(count, profile_list, bare, card_mb, models)

    def stage(text: str, which: Iterable[LabDevice] = devices) -> None:
        for d in which:
            progress.stage(d.id, text)

    enrolled = [d for d in devices if not d.bare]
    preflight(commands={**REQUIRED, **BARE_REQUIRED} if bare else REQUIRED)
    if spec.state_file.exists():
        raise LabError(f"lab {spec.name!r} is already up ({spec.root}); "
                       "run `fleet lab down` first")
    if Path("/sys/class/net", spec.bridge).exists():
        raise LabError(f"bridge {spec.bridge} exists from an earlier lab: run `fleet lab down`")
    stage("building images (cached after the first run)")
    archives = [images.ensure(image) for image in images.LAB_IMAGES]
    spec.root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "name": spec.name, "subnet": str(spec.subnet), "devices": [asdict(d) for d in devices],
        "agents": agent, "root_login": root_login,
        "created_dirs": [d for d in lab.DEVICE_PRIVATE_DIRS if not Path(d).exists()],
    }
    _save(spec, state)
    try:
        _network(spec)
        stage("starting the broker")
        _broker(spec)
        stage("starting the registry and publishing its images")
        registry.start(spec)
        registry.publish(spec)
        stage("starting sshd and dockerd" if not bare else
              f"starting sshd and dockerd ({bare} of the devices bare)")
        for d in devices:
            device.create(spec, d, root_login=root_login)
            device.start(spec, d)
        _each(devices, lambda d: device.wait_ready(spec, d))
        stage("loading images into each device's dockerd")
        _each(devices, lambda d: _load_images(spec, d, archives))
        _write_inventory(spec, devices)
        if agent:
            stage("building the agent image on each device and starting it", enrolled)
            context = agent_image.context(spec.root / "agent-image")
            _each(enrolled, lambda d: agents.build(spec, d, context))
            _each(enrolled, lambda d: agents.start(spec, d, interval))
    except BaseException as failure:
        stage("failed")
        try:
            down(spec)
        except LabError as undo:  # say both: the cause, and what may be left behind
            if isinstance(failure, LabError):
                raise LabError(f"{failure} (then undoing the lab failed too: {undo})") \
                    from failure
        raise
    stage("done")
    return status(spec)


def status(spec: LabSpec) -> LabStatus:
    """Check each device's sshd (a real login, as its user) and dockerd (the API answers)."""
    state = _load(spec)
    spec = replace(spec, subnet=IPv4Network(state["subnet"]))  # as it was brought up
    devices = _devices(state)
    with_agents = state.get("agents", False)

    def check(d: LabDevice) -> DeviceStatus:
        docker = device.docker_ping(spec.docker_socket(d))
        has_agent = with_agents and not d.bare
        return DeviceStatus(d.id, d.ip, d.profile, ssh=_ssh_login(spec, d), docker=docker,
                            agent=(docker and agents.running(spec, d)) if has_agent else None,
                            bare=d.bare)

    def failed(d: LabDevice, _error: Exception) -> DeviceStatus:
        return DeviceStatus(d.id, d.ip, d.profile, ssh=False, docker=False,
                            agent=False if with_agents and not d.bare else None, bare=d.bare)

    checked = fan_out(devices, check, parallel=_PARALLEL, failed=failed, name="lab")
    return LabStatus(spec.name, tuple(checked), spec.broker, str(spec.inventory))


def plant_junk(spec: LabSpec, device_id: str, *, fill_pct: float | None = None,
               size_mb: int | None = None) -> dict[str, Any]:
    """Fill a device's card to `fill_pct` %, or with `size_mb` MiB, of junk
    (fleet.lab.junk); what was planted."""
    board = _find(spec, device_id)
    if fill_pct is not None and not 0 < fill_pct < 100:
        raise LabError(f"--fill {fill_pct:g}: expected a percentage between 0 and 100")
    if size_mb is not None and size_mb < 1:
        raise LabError(f"--mb {size_mb}: expected at least 1")

    def used_total() -> tuple[int, int]:
        fields = device.shell(spec, board, "df -Pk /var/lib/docker | tail -n 1").split()
        return int(fields[2]) * 1024, int(fields[1]) * 1024

    used, total = used_total()
    planted = junk.spread(size_mb << 20) if size_mb else junk.to_fill(used, total,
                                                                      fill_pct or 92.0)
    device.shell(spec, board, junk.script(planted))
    after, _ = used_total()
    return {"device": device_id, "planted_bytes": planted.planted,
            "disk_before_pct": round(100 * used / total, 1),
            "disk_after_pct": round(100 * after / total, 1)}


def sudo_password(spec: LabSpec, device_id: str, wanted: bool) -> None:
    """Make a device's sudo want its user's password (a board set up without
    NOPASSWD), or not, as every lab device starts."""
    users.sudo_password(spec, _find(spec, device_id), wanted)


def _find(spec: LabSpec, device_id: str) -> LabDevice:
    found = {d.id: d for d in _devices(_load(spec))}
    if device_id not in found:
        raise LabError(f"lab {spec.name!r} has no device {device_id!r}: "
                       f"{', '.join(found) or 'none'}")
    return found[device_id]


def down(spec: LabSpec) -> list[str]:
    """Remove every device, the broker, the bridge and the lab's files. Safe to repeat."""
    removed = []
    state = _load(spec, missing_ok=True)
    known = {d.id: d for d in _devices(state)}
    prefix = f"fleet-{spec.name}-"
    for netns in run(["ip", "netns", "list"], check=False).split():
        if netns.startswith(prefix) and netns.removeprefix(prefix) not in known:
            stray = netns.removeprefix(prefix)
            known[stray] = LabDevice(0, stray, "", "")
    _each(known.values(), lambda d: device.destroy(spec, d))
    removed += [f"device {i}" for i in known]
    terminate(pids_mentioning(str(spec.root) + "/"))
    # A broker left by a same-named lab whose files are gone would hold the bridge's port.
    terminate(pids_mentioning(f"/{spec.name}/broker/mosquitto.conf"))
    bridge = Path("/sys/class/net", spec.bridge)
    if bridge.exists():
        run(["ip", "link", "del", spec.bridge], check=False)  # gone already is as good
        if bridge.exists():
            raise LabError(f"could not remove the bridge {spec.bridge}")
        removed.append(f"bridge {spec.bridge}")
    _unmount_under(spec.root)
    if spec.root.exists():
        shutil.rmtree(spec.root)
        removed.append(str(spec.root))
    others = [n for n in run(["ip", "netns", "list"], check=False).split()
              if n.startswith("fleet-")]
    if not others:  # no other lab's devices have these as mount points
        for d in [*state.get("created_dirs", []), spec.root.parent]:
            if Path(d).is_dir() and not any(Path(d).iterdir()):
                Path(d).rmdir()
    return removed


def _network(spec: LabSpec) -> None:
    run(["ip", "link", "add", spec.bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{spec.bridge_ip}/{spec.subnet.prefixlen}", "dev", spec.bridge])
    run(["ip", "link", "set", spec.bridge, "up"])
    # The namespace files must sit on a private mount, as `ip netns` arranges for its own.
    spec.ns_dir.mkdir(exist_ok=True)
    run(["mount", "--bind", str(spec.ns_dir), str(spec.ns_dir)])
    run(["mount", "--make-private", str(spec.ns_dir)])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fleet-lab-{spec.name}",
         "-f", str(spec.client_key)])


def _broker(spec: LabSpec) -> None:
    directory = spec.root / "broker"
    directory.mkdir(exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text(lab.mosquitto_config(spec))
    spawn(["mosquitto", "-c", str(conf)], directory / "stdout.log")
    host, port = spec.broker.split(":")
    wait_listening(host, int(port), directory / "mosquitto.log")


def _load_images(spec: LabSpec, d: LabDevice, archives: Iterable[Path]) -> None:
    import docker

    client = docker.DockerClient(base_url=f"unix://{spec.docker_socket(d)}", timeout=300)
    try:
        for archive in archives:
            with archive.open("rb") as f:
                client.images.load(f)
    except docker.errors.DockerException as e:
        raise LabError(f"{d.id}: loading {archive.name}: {e}") from e
    finally:
        client.close()


def _ssh_login(spec: LabSpec, d: LabDevice) -> bool:
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(spec.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(d.ip, username=lab.login_user(d), key_filename=str(spec.client_key),
                       timeout=5,
                       allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command("true", timeout=5)
        return stdout.channel.recv_exit_status() == 0
    except (OSError, paramiko.SSHException):
        return False
    finally:
        client.close()


def _write_inventory(spec: LabSpec, devices: list[LabDevice]) -> None:
    """The inventory of the enrolled devices; known_hosts, for the lab's own logins, of all."""
    spec.known_hosts.write_text("".join(f"{d.ip} {device.host_key(spec, d)}\n"
                                        for d in devices))
    yaml = YAML()
    with spec.inventory.open("w") as f:
        f.write(f"# The fleet lab {spec.name!r}, written by `fleet lab up`.\n")
        yaml.dump(lab.inventory(spec, devices, lab.host_arch()), f)


def _unmount_under(root: Path) -> None:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(str(root) + "/")), reverse=True):
        run(["umount", "-l", point], check=False)


def _each(items: Iterable[LabDevice], work: Callable[[LabDevice], object]) -> None:
    """`work` on every device, a few at a time; then the first failure is raised."""
    fan_out_or_raise(items, work, parallel=_PARALLEL, name="lab")


def _devices(state: dict[str, Any]) -> list[LabDevice]:
    return [LabDevice(**d) for d in state.get("devices", [])]


def _save(spec: LabSpec, state: dict[str, Any]) -> None:
    partial = spec.state_file.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(spec.state_file)


def _load(spec: LabSpec, missing_ok: bool = False) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(spec.state_file.read_text())
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise LabError(f"no lab {spec.name!r} is up (no {spec.state_file}); "
                       "start one with `fleet lab up`") from None
    return state
