"""`fleet deploy`: read every device, plan, then act on each device in parallel, bounded.

Two phases on one SSH connection per device. `prepare` reads each device's
facts, plans the stack against what runs, and derives each device's steps
(nothing is changed; `--dry-run` stops there). `apply` acts per device, as root
(a login that is not root goes through `sudo -n`, fleet.ssh.sudo):
refuse it before sending anything if an image's architecture or its disk
says no (fleet.deploy.admit), pull or push its images, build its `build:`
images (fleet.deploy.build), write config files, run the apply playbook. A
device that fails is reported; the others go on.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import shlex
import socket
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from fleet import scheduler
from fleet.config.stack import Stack
from fleet.deploy import admit, build, containers, operations, pull, stackcontext
from fleet.deploy.build import Builds
from fleet.deploy.containers import ContainerSpec
from fleet.deploy.facts import Facts, gather
from fleet.deploy.images import Image, ImageSource
from fleet.deploy.layout import of_stack as deploy_layout
from fleet.deploy.operations import Action, Applied, DeviceSteps
from fleet.deploy.push import PushResult, push
from fleet.deploy.registry import Resolved
from fleet.deploy.registry_client import Registry
from fleet.errors import ConfigError, FleetError
from fleet.fanout import QUIET, Progress, fan_out, unexpected
from fleet.model import Device, DeviceState, Placement, Plan, Service
from fleet.ssh import playbooks, sudo
from fleet.ssh.connection import Connection

Connect = Callable[[Device], Connection]


@dataclass
class Prepared:
    """Everything known before acting: facts, the plan, each device's steps."""

    stack: Stack
    plan: Plan
    steps: dict[str, DeviceSteps]
    facts: dict[str, Facts]
    failed: dict[str, str]  # device -> why it could not be read
    images: dict[str, Image]  # ref -> the image in the image source
    connections: dict[str, Connection] = field(default_factory=dict)
    # What the plan was made from, for planning again against the same state (a what-if):
    states: tuple[DeviceState, ...] = ()  # every device, with the ports others hold on it
    services: tuple[Service, ...] = ()  # the stack's, each placed only where its image runs
    running: tuple[Placement, ...] = ()  # the stack's replicas running now
    pulls: dict[str, Resolved] = field(default_factory=dict)  # ref -> the image boards pull
    how: dict[str, str] = field(default_factory=dict)  # ref -> how boards get it, and why
    builds: Builds = field(default_factory=dict)  # ref -> the image boards build, packed

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()
        for _, packed in self.builds.values():
            packed.close()


# make_room(conn, device, short_mb) -> (MB it freed, what it did): reclaims short_mb of
# what is safe to (fleet.cleanup.rules's policy) on a device too full for its images.
MakeRoom = Callable[[Connection, str, int], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """One device's deploy (a fleet.fanout.Outcome): its steps, what was sent and applied."""

    device: str
    ok: bool
    error: str = ""
    steps: DeviceSteps | None = None
    applied: Applied | None = None
    pushed: tuple[PushResult, ...] = ()
    pulled: tuple[pull.PullResult, ...] = ()
    seconds: float = 0.0
    room: str = ""  # what was reclaimed to make room for its images, if anything

    @property
    def changed(self) -> int:
        return len(self.steps.changes) if self.steps else 0


def board_address(host: str) -> str:
    """An inventory host as an IPv4 or IPv6 address: as written if it is one, else resolved
    here (pi-2.local through mDNS, where the system resolver speaks it).

    Another board is told to reach it there, so a loopback address (a gateway that manages
    itself as `localhost`) is refused: on that board it would be the board itself."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(
                socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
        except (OSError, IndexError) as e:
            raise FleetError(f"cannot resolve {host}, the board a service it reaches runs on: "
                             f"{e}; give that board's address as its host in the inventory"
                             ) from None
    if address.is_loopback:
        raise FleetError(f"{host} is {address}, which another board cannot reach: give the "
                         "board its LAN address as its host in the inventory (ansible_host)")
    return str(address)


def with_addresses(placement: Placement, resolve: Callable[[str], str]) -> Placement:
    """`placement` with each peer's board host (its --add-host) resolved to an address."""
    if not placement.hosts:
        return placement
    return replace(placement, hosts=tuple((name, resolve(host))
                                          for name, host in placement.hosts))


def prepare(stack: Stack, devices: Sequence[Device], connect: Connect,
            source: ImageSource | None, *, parallel: int = 8, seed: int = 0,
            now: float = 0.0, progress: Progress = QUIET,
            resolve: Callable[[str], str] = board_address,
            registry: Registry | None = None) -> Prepared:
    """Read every device and plan; the connections stay open in the result for `apply`.

    Each image is pushed from `source` or pulled by the boards from its registry
    (fleet.deploy.pull), whose manifest `registry` reads first, so a service is placed
    only where its image has a variant. `resolve` turns a board's inventory host into the
    address a service on another board is told to reach it at (docker's --add-host takes
    addresses only)."""
    read = _reader(connect, progress)
    connections: dict[str, Connection] = {}
    failed: dict[str, str] = {}
    facts: dict[str, Facts] = {}
    for device, (conn, found, error) in zip(devices, fan_out(
            devices, read, parallel=parallel, failed=lambda _d, e: (None, None, unexpected(e))),
            strict=True):
        if conn is not None:
            connections[device.id] = conn
        if error is not None:
            failed[device.id] = error
        elif found is not None:
            facts[device.id] = found
    built = {spec.image for spec in stack.builds.values()}  # neither pulled nor pushed
    by_way = pull.sort([s for s in stack.services if s.image not in built], source, registry,
                       on_boards=[ref for f in facts.values() for ref in f.images])
    images, pulls = dict(by_way.pushed), dict(by_way.pulled)
    services = tuple(pull.placed_where(_with_image_arch(s, images.get(s.image)),
                                       pulls.get(s.image)) for s in stack.services)
    reachable = [d for d in devices if d.id in facts]
    # An unreachable device stays in the plan, as if empty: the replicas it gets wait for it
    # (it is reported failed) rather than crowding onto the others or stopping the deploy.
    states = [DeviceState(d, ports_taken=facts[d.id].ports_taken(besides=stack.name)
                          if d.id in facts else frozenset()) for d in devices]
    running = [p for d in reachable for p in _running(facts[d.id], stack.name)]
    plan = scheduler.plan(states, services, running=running, now=now, seed=seed)
    ids = _image_ids([s for s in services if s.image not in pulls and s.image not in built],
                     images, facts.values())
    builds = build.pack_all(stack.builds)  # closed with the connections, by Prepared.close
    ids |= {ref: want.image_id for ref, (want, _) in builds.items()}
    digests = {name: _sha256(path.read_bytes()) for name, path in stack.configs.items()}
    context = stackcontext.read(stack, os.environ)  # env files, secrets: read here, once
    by_service = {s.name: s for s in services}
    wanted: dict[str, list[ContainerSpec]] = {d.id: [] for d in reachable}
    for p in plan.placements:
        if p.device not in wanted:
            continue
        try:
            p = with_addresses(p, resolve)
        except FleetError as e:  # that board cannot be told where its peer is: it waits
            failed[p.device] = f"{p.service}: {e}"
            del wanted[p.device]
            continue
        service = by_service[p.service]
        image_id = _image_id(service.image, facts[p.device], source, images, ids, pulls)
        wanted[p.device].append(
            containers.spec(stack.name, service, p, image_id, digests, context))
    layout = deploy_layout(stack, services)
    wants = {ref: want for ref, (want, _) in builds.items()}
    steps = {d: operations.steps(facts[d], stack.name, specs, layout, pulls={
        ref: pull.step_detail(r, facts[d].arch, facts[d].layers) for ref, r in pulls.items()},
        builds=wants) for d, specs in wanted.items()}
    return Prepared(stack, plan, steps, facts, failed, images, connections,
                    tuple(states), services, tuple(running), pulls, dict(by_way.how), builds)


def apply(prepared: Prepared, source: ImageSource | None, *, parallel: int = 4,
          keep_free_pct: Mapping[str, int] | None = None,
          make_room: MakeRoom | None = None, progress: Progress = QUIET,
          clock: Callable[[], float] = time.monotonic) -> list[DeviceResult]:
    """Act on every reachable device with changes, `parallel` at a time; a result for each.

    `keep_free_pct` is the share of each device's disk a push must leave free, of
    the disk it really has (a board's card may be bigger or smaller than its
    profile's). With `make_room`, a device whose disk is too full for its images
    is first cleaned of just enough (see `MakeRoom`), and refused only if that
    is not enough."""

    def act(device: str) -> DeviceResult:
        started = clock()
        try:
            result = _apply_device(prepared, device, source,
                                   (keep_free_pct or {}).get(device, 0), make_room, progress)
        except FleetError as e:
            result = DeviceResult(device, False, str(e), prepared.steps[device])
        progress.stage(device, "done" if result.ok else "failed")
        return replace(result, seconds=clock() - started)

    def failed(device: str, error: Exception) -> DeviceResult:
        progress.stage(device, "failed")
        return DeviceResult(device, False, f"{device}: {unexpected(error)}",
                            prepared.steps[device])

    acted = fan_out(list(prepared.steps), act, parallel=parallel, failed=failed, name="deploy")
    return [*acted, *(DeviceResult(d, False, why) for d, why in prepared.failed.items())]


def _reader(connect: Connect, progress: Progress) -> Callable[
        [Device], tuple[Connection | None, Facts | None, str | None]]:
    """Read one device: (its open connection, its facts, why they could not be read)."""

    def read(device: Device) -> tuple[Connection | None, Facts | None, str | None]:
        progress.stage(device.id, "reading facts")
        try:
            conn = connect(device)
        except FleetError as e:
            progress.stage(device.id, "unreachable")
            return None, None, str(e)
        try:
            facts = gather(conn)
        except FleetError as e:
            return conn, None, str(e)
        if facts.docker is None:
            return conn, None, f"{device.id}: {facts.docker_problem}"
        progress.stage(device.id, "planning")
        return conn, facts, None

    return read


def _apply_device(prepared: Prepared, device: str, source: ImageSource | None,
                  keep_free_pct: int, make_room: MakeRoom | None,
                  progress: Progress) -> DeviceResult:
    steps = prepared.steps[device]
    if steps.blocked:
        return DeviceResult(device, False, f"{device}: {steps.blocked}", steps)
    if not steps.changes:
        return DeviceResult(device, True, steps=steps)
    conn = prepared.connections[device]
    facts = prepared.facts[device]
    pushes = [prepared.images.get(s.target) for s in steps.of(Action.PUSH)]
    if None in pushes or (pushes and source is None):
        missing = [s.target for s in steps.of(Action.PUSH) if s.target not in prepared.images]
        return DeviceResult(device, False, f"{device}: image {missing[0]} is neither on the "
                            "device nor in the image source (--images DIR, or a local docker "
                            "engine that has it)", steps)
    images = [i if source is None or facts.arch is None else source.for_arch(i, facts.arch)
              for i in pushes if i is not None]
    keep_free_mb = facts.disk_total_mb * keep_free_pct // 100
    pulls = {s.target: prepared.pulls[s.target] for s in steps.of(Action.PULL)}
    built = [s.target for s in steps.of(Action.BUILD)]
    short_mb = keep_free_mb + admit.incoming_mb(images, pulls, facts) - facts.disk_free_mb \
        + build.disk_mb(prepared.builds, built, facts.builds)
    room = ""
    # Only for images this device can run: a wrong architecture is refused as it is.
    if make_room is not None and short_mb > 0 and facts.arch is not None \
            and all(image.arch is facts.arch for image in images) \
            and not any(r.lacks(facts.arch) for r in pulls.values()):
        progress.stage(device, f"making room: {short_mb} MB short")
        freed_mb, room = make_room(conn, device, short_mb)
        facts = replace(facts, disk_free_mb=facts.disk_free_mb + freed_mb)
    return replace(_push_and_apply(prepared, device, conn, facts, images, source,
                                   keep_free_mb, progress, pulls), room=room)


def _push_and_apply(prepared: Prepared, device: str, conn: Connection, facts: Facts,
                    images: Sequence[Image], source: ImageSource | None, keep_free_mb: int,
                    progress: Progress, pulls: Mapping[str, Resolved]) -> DeviceResult:
    steps = prepared.steps[device]
    why = admit.refused(images, facts, keep_free_mb, pulls)
    if why:
        return DeviceResult(device, False, f"{device}: refused, nothing sent: {why}", steps)
    pulled = pull.pull_all(conn, facts, pulls, progress)
    if pulled and not pulled[-1].ok:
        return DeviceResult(device, False, f"{device}: {pulled[-1].error}", steps,
                            pulled=pulled)
    pushed = []
    for image in images:
        assert source is not None and facts.arch is not None  # else refused above
        progress.stage(device, f"pushing {image.ref}")
        pushed.append(push(conn, image, source, facts.layers, free_mb=facts.disk_free_mb,
                           keep_free_mb=keep_free_mb, device_arch=facts.arch,
                           sent=lambda n: progress.sent(device, n)))
        if pushed[-1].refused:
            return DeviceResult(device, False, f"{device}: refused: {pushed[-1].refused}",
                                steps, pushed=tuple(pushed), pulled=pulled)
    free_mb = facts.disk_free_mb - admit.incoming_mb(images, pulls, facts)  # once they are in
    refused = build.build_steps(conn, prepared.builds, [s.target for s in steps.of(Action.BUILD)],
                                facts.builds, free_mb, keep_free_mb, progress)
    if refused:
        return DeviceResult(device, False, f"{device}: {refused}", steps, pushed=tuple(pushed),
                            pulled=pulled)
    files = steps.files()
    if files:
        progress.stage(device, f"writing {len(files)} config file(s)")
        _write_files(conn, files, prepared.stack.configs)
    script = operations.apply_script(steps)
    if not script:
        return DeviceResult(device, True, steps=steps, pushed=tuple(pushed), pulled=pulled)
    progress.stage(device, f"applying {len(steps.changes)} change(s)")
    result = playbooks.run(conn, "apply", then=script, timeout=1800)
    applied = operations.parse_applied(result.text)
    if applied.ok and not result.ok:
        return DeviceResult(device, False, f"{device}: apply failed: {result.why()}", steps,
                            applied, tuple(pushed), pulled)
    error = "; ".join(f"{name}: {why}" for name, why in applied.failures.items())
    return DeviceResult(device, applied.ok, error, steps, applied, tuple(pushed), pulled)


def _write_files(conn: Connection, files: Iterable[containers.ConfigFile],
                 sources: Mapping[str, Path]) -> None:
    """Every config file in one tar, unpacked at / (paths are absolute, under STACKS_DIR)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for f in files:
            body = f.content if f.content is not None else sources[f.name].read_bytes()
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(body), f.mode, int(time.time())
            tar.addfile(info, io.BytesIO(body))
    result = sudo.run(conn, f"mkdir -p {shlex.quote(containers.STACKS_DIR)} && tar -xf - -C /",
                      stdin=data.getvalue())
    if not result.ok:
        raise FleetError(f"{conn.device}: writing config files: {result.why()}")


def _with_image_arch(service: Service, image: Image | None) -> Service:
    """The service, placed only where its image runs (the image's config says where)."""
    runs_on = frozenset(image.platforms or (image.arch,)) if image is not None else frozenset()
    if image is None or service.archs:
        if image is not None and not runs_on & service.archs:
            raise ConfigError(f"service {service.name!r}: x-fleet arch / platform says "
                              f"{', '.join(sorted(service.archs))} but image {image.ref} is "
                              f"{', '.join(sorted(runs_on))}")
        return service
    return replace(service, archs=runs_on)


def _image_ids(services: Iterable[Service], images: Mapping[str, Image],
               facts: Iterable[Facts]) -> dict[str, str]:
    """Each service image's id: from the image source, else from a device that has it."""
    ids = {ref: image.id for ref, image in images.items()}
    for f in facts:
        for ref, image_id in f.images.items():
            ids.setdefault(ref, image_id)
    missing = [s.image for s in services if s.image not in ids]
    if missing:
        raise ConfigError(f"image {missing[0]} is not in the image source and no device has "
                          "it: build it, then point --images at its `docker save` archive "
                          "(or run fleet where a docker engine has it)")
    return ids


def _image_id(ref: str, facts: Facts, source: ImageSource | None, images: Mapping[str, Image],
              ids: Mapping[str, str], pulls: Mapping[str, Resolved]) -> str:
    """The id of the image a device runs: its own platform's variant, pulled or pushed."""
    if ref in pulls:
        return pull.image_id(pulls[ref], facts.arch)
    if source is None or ref not in images or facts.arch is None:
        return ids.get(ref, "")
    return source.for_arch(images[ref], facts.arch).id


def _running(facts: Facts, stack: str) -> list[Placement]:
    return [Placement(c.service, c.replica, facts.device, c.ports)
            for c in facts.stack(stack) if not c.is_previous and c.service and c.replica >= 0]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


