"""Feasibility: one checker per rule, each saying why a device cannot take a replica, or None.

Static checkers read only the service and the device, so their answer is
cached per kind of device; dynamic ones read what the plan has put there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fleet.model import Device, PortBinding
from fleet.scheduler.state import Fleet, Need, port_code

Check = Callable[[Need, Fleet, int], "str | None"]


def check_arch(n: Need, fleet: Fleet, i: int) -> str | None:
    archs = n.service.archs
    arch = fleet.states[i].device.arch
    if not archs or arch in archs:
        return None
    return f"arch {arch}, image {'/'.join(sorted(archs))} only"


def check_gpu(n: Need, fleet: Fleet, i: int) -> str | None:
    return "no GPU" if n.service.gpu and fleet.states[i].device.profile.gpu is None else None


def check_mem_limit(n: Need, fleet: Fleet, i: int) -> str | None:
    """A limit past the board's whole budget: the container could never have what it may take."""
    limit, budget = n.service.mem_limit_mb, fleet.states[i].device.budget.mem_mb
    if limit <= budget:
        return None
    return f"memory limit {_mb(limit, 0)} over the whole budget, {_mb(budget, 0)}"


def check_cpu_limit(n: Need, fleet: Fleet, i: int) -> str | None:
    """More CPUs than the board has: docker refuses such a --cpus."""
    limit, cpus = n.service.cpu_limit_millis, fleet.states[i].device.budget.cpu_millis
    if limit <= cpus:
        return None
    return f"CPU limit {limit / 1000:g} over the board's CPUs, {cpus / 1000:g}"


def check_constraints(n: Need, fleet: Fleet, i: int) -> str | None:
    device = fleet.states[i].device
    for c in n.service.constraints:
        if not c.matches(device):
            return f"constraint {c.text}"
    return None


def check_replicas(n: Need, fleet: Fleet, i: int) -> str | None:
    here = fleet.count[i].get(n.name, 0)
    if here < n.service.max_per_device:
        return None
    if n.service.max_per_device == 1:
        return f"replica of {n.name} already here"
    return f"{here} replicas of {n.name} already here"


def check_ports(n: Need, fleet: Fleet, i: int) -> str | None:
    got = allocate(n, fleet, i)
    return got if isinstance(got, str) else None


def check_memory(n: Need, fleet: Fleet, i: int) -> str | None:
    free = fleet.free_mem[i]
    return None if n.mem <= free else f"needs {_mb(n.mem, free)} memory, {_free(n.mem, free)}"


def check_disk(n: Need, fleet: Fleet, i: int) -> str | None:
    free = fleet.free_disk[i]
    return None if n.disk <= free else f"needs {_mb(n.disk, free)} disk, {_free(n.disk, free)}"


def check_cpu(n: Need, fleet: Fleet, i: int) -> str | None:
    free = fleet.free_cpu[i]
    return None if n.cpu <= free else f"needs {n.cpu / 1000:g} CPU, {max(free, 0) / 1000:g} free"


STATIC: tuple[Check, ...] = (check_arch, check_gpu, check_mem_limit, check_cpu_limit,
                              check_constraints)
DYNAMIC: tuple[Check, ...] = (check_replicas, check_ports, check_memory, check_disk, check_cpu)
CHECKS = STATIC + DYNAMIC
# For reasons counted over many devices: the device with the most of this free speaks.
RESOURCE: dict[Check, Callable[[Fleet, int], int]] = {
    check_memory: lambda f, i: f.free_mem[i],
    check_disk: lambda f, i: f.free_disk[i],
    check_cpu: lambda f, i: f.free_cpu[i],
    check_mem_limit: lambda f, i: f.states[i].device.budget.mem_mb,
    check_cpu_limit: lambda f, i: f.states[i].device.budget.cpu_millis,
}


def _mb(need: int, free: int) -> str:
    return f"{need / 1024:.1f} GiB" if need >= 1024 else f"{need} MiB"


def _free(need: int, free: int) -> str:
    free = max(free, 0)
    return f"{free / 1024:.1f} free" if need >= 1024 else f"{free} free"


def allocate(n: Need, fleet: Fleet, i: int) -> tuple[PortBinding, ...] | str:
    """The replica's host ports on device i: fixed ones if free, the lowest free of each range."""
    if not n.fixed and not n.alloc:
        return ()
    taken = fleet.ports[i]
    chosen: set[int] = set()
    out: list[PortBinding] = []
    for code, binding in n.fixed:
        if code in taken or code in chosen:
            return f"port {binding.host} taken"
        chosen.add(code)
        out.append(binding)
    for want, rng in n.alloc:
        for port in range(rng.low, rng.high + 1):
            code = port_code(port, want.protocol)
            if code not in taken and code not in chosen:
                chosen.add(code)
                out.append(PortBinding(port, want.container, want.protocol))
                break
        else:
            return f"no free port in {rng}"
    return tuple(out)


def first_failure(n: Need, fleet: Fleet, i: int,
                  checks: Sequence[Check] = CHECKS) -> tuple[Check, str] | None:
    for check in checks:
        reason = check(n, fleet, i)
        if reason is not None:
            return check, reason
    return None


def dynamic_ok(n: Need, fleet: Fleet, i: int) -> tuple[PortBinding, ...] | None:
    """The ports to bind if device i can take the replica now (static checks aside), else None."""
    if (n.mem > fleet.free_mem[i] or n.disk > fleet.free_disk[i] or n.cpu > fleet.free_cpu[i]
            or fleet.count[i].get(n.name, 0) >= n.service.max_per_device):
        return None
    got = allocate(n, fleet, i)
    return None if isinstance(got, str) else got


class StaticCache:
    """Static feasibility per device, computed once per kind of service and kind of device."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._kinds = [_device_kind(s.device) for s in fleet.states]
        self._masks: dict[tuple[object, ...], bytearray] = {}
        self._named: dict[str, set[int]] = {}  # what node.hostname may name: id, host
        for i, s in enumerate(fleet.states):
            for name in (s.device.id, s.device.host):
                self._named.setdefault(name, set()).add(i)

    def mask(self, n: Need) -> bytearray:
        """1 where device i passes every static check for this service."""
        found = self._masks.get(n.static)
        if found is None:
            verdicts: dict[object, int] = {}
            found = bytearray(len(self._kinds))
            hostname = any(c.kind == "hostname" for c in n.service.constraints)
            # Only the boards a `node.hostname ==` names can pass: a global service's
            # replicas are each pinned so, and looking at every board for each is quadratic.
            named = [self._named.get(c.value, set()) for c in n.service.constraints
                     if c.kind == "hostname" and c.equal]
            candidates = sorted(set.intersection(*named)) if named else range(len(self._kinds))
            for i in candidates:
                kind = self._kinds[i]
                k = (kind, i) if hostname else kind
                if k not in verdicts:
                    verdicts[k] = first_failure(n, self.fleet, i, STATIC) is None
                found[i] = verdicts[k]
            self._masks[n.static] = found
        return found


def _device_kind(device: Device) -> object:
    return (device.arch, device.profile.gpu is not None, device.site,
            tuple(sorted(device.labels.items())), device.budget)


def reasons(n: Need, fleet: Fleet) -> dict[str, int]:
    """Why no device takes the replica: each reason with the number of devices it ruled out."""
    counts: dict[str, int] = {}
    best: dict[Check, int] = {}
    for i in range(len(fleet.states)):
        failed = first_failure(n, fleet, i)
        if failed is None:
            continue
        check, reason = failed
        free_of = RESOURCE.get(check)
        if free_of is None:
            counts[reason] = counts.get(reason, 0) + 1
        elif check not in best or free_of(fleet, i) > free_of(fleet, best[check]):
            best[check] = i
        if free_of is not None:
            counts[f"\0{check.__name__}"] = counts.get(f"\0{check.__name__}", 0) + 1
    for check, i in best.items():
        total = counts.pop(f"\0{check.__name__}")
        message = check(n, fleet, i) or ""
        if total > 1:
            message = message.replace(", ", ", at most ", 1)
        counts[message] = total
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
