"""`fleet bench stack`: the 136-service example on one lab board, by fleet and by docker-compose.

Three deploys each: a first one on a board that runs nothing, a redeploy
with nothing changed, and a redeploy with one service changed (its
environment). fleet's are `fleet deploy` run whole from the controller (this
machine), over SSH; the baseline's are `docker-compose up -d` (Debian's
docker-compose, v1) run on the board itself with the same file, as a user
would by hand: with `--compatibility`, so that it applies the same memory and
CPU limits, and without the file's top-level `name:`, which v1 refuses (the
project is named with `-p` instead). v1 deadlocks bringing up more services
than its parallel limit (64 by default: docker/compose#6705, #7486), so
COMPOSE_PARALLEL_LIMIT is raised past the stack's size, as its users do.
Both stop a replaced container as the file says (no stop_grace_period:
docker's 10 s, which busybox's httpd as PID 1 takes in full). The board is
emptied between the tools, and the whole is done twice, the second time
compose first; each phase's figure is the better of its two. Every run's
exit code is checked and what it left running counted, so no failed run is
timed. Ratios are fleet's time over compose's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleet.lab import device, lab
from fleet.lab.spec import LabDevice, LabSpec
from fleet.ssh.hostkeys import HostKey, KnownHosts

LAB_NAME, LAB_SUBNET = "benchst", "10.235.0.0/24"
PROFILE = "pi4b-8g"
EXAMPLE = Path(__file__).parents[2] / "examples" / "pi4b-136.compose.yaml"
PROJECT = "pi4b-136"
SERVICES = 136
CHANGED = ("SERVICE_NAME: sensor-ingest-001\n", "SERVICE_NAME: sensor-ingest-001-v2\n")
TARGETS = {"ratio_first": 1.0, "ratio_nochange": 0.5, "ratio_one_change": 1.0}
TIMEOUT_S = 900.0
COMPOSE_PARALLEL_LIMIT = 1024
PHASES = ("first", "nochange", "one_change")
ROUNDS = 2  # each phase's best of these, so a busy moment on a shared machine counts less


class BenchRunError(RuntimeError):
    """A tool's run failed or did not leave the stack running: its time would be worthless."""


def run(seed: int = 1) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object (`seed` is unused: nothing is random)."""
    del seed
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as root:
        spec = LabSpec.create(LAB_NAME, root=Path(root) / LAB_NAME, subnet=LAB_SUBNET)
        try:
            lab.up(spec, 1, PROFILE, agent=False)
            figures = measure(spec, spec.devices(1, PROFILE)[0])
        finally:
            lab.down(spec)
    return {"benchmark": "stack", "stack": figures, "met": all(figures["met"].values())}


def measure(spec: LabSpec, board: LabDevice) -> dict[str, Any]:
    """Each tool's three deploys on a lab that is up; the figures, ratios and targets."""
    load_before = os.getloadavg()[0]
    work = spec.root / "bench-stack"  # under the lab's root, which the board sees too
    work.mkdir()
    files = _write_files(work)
    known_hosts = KnownHosts(work / "known_hosts")
    known_hosts.pin(board.id, HostKey.parse(
        (spec.ssh_dir(board) / "ssh_host_ed25519_key.pub").read_text()))
    tools = {
        "fleet": (lambda phase: _fleet_deploy(spec, work, files[phase]),
                  lambda: _running(spec, board, "fleet.stack", PROJECT)),
        "compose": (lambda phase: _compose_up(spec, board, files[f"compose_{phase}"]),
                    lambda: _running(spec, board, "com.docker.compose.project", PROJECT))}
    samples: dict[str, list[dict[str, float]]] = {"fleet": [], "compose": []}
    for n in range(ROUNDS):
        # Each round in the other order, so neither tool always runs in the other's wake.
        for tool in sorted(tools, reverse=n % 2 == 1):
            samples[tool].append(_timed_phases(*tools[tool]))
            _empty(spec, board)
    fleet, compose = ({p: min(s[p] for s in samples[tool]) for p in PHASES}
                      for tool in ("fleet", "compose"))
    ratios = {f"ratio_{p}": round(fleet[p] / compose[p], 3) for p in PHASES}
    return {"services": SERVICES, "board": PROFILE,
            "fleet_s": fleet, "compose_s": compose, **ratios,
            "rounds": ROUNDS, "samples_s": samples,
            "host_cpus": os.cpu_count(),
            # The machine may be shared: its load says how much the times are worth.
            "host_load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "targets": {k: f"<= {v}" for k, v in TARGETS.items()},
            "met": {k: ratios[k] <= v for k, v in TARGETS.items()}}


def _write_files(work: Path) -> dict[str, Path]:
    """The example, and it with one service's environment changed; each also as compose v1
    reads it (no top-level `name:`)."""
    text = EXAMPLE.read_text()
    if text.count(CHANGED[0]) != 1:
        raise BenchRunError(f"{EXAMPLE}: expected one {CHANGED[0].strip()!r} to change")
    changed = text.replace(*CHANGED)
    files = {}
    for phase, body in (("first", text), ("nochange", text), ("one_change", changed)):
        fleet_file = work / f"{phase}.yaml"
        fleet_file.write_text(body)
        compose_file = work / f"compose-{phase}.yaml"
        compose_file.write_text("".join(line for line in body.splitlines(keepends=True)
                                        if not line.startswith("name:")))
        files[phase], files[f"compose_{phase}"] = fleet_file, compose_file
    return files


def _timed_phases(deploy: Callable[[str], None], running: Callable[[], int]
                  ) -> dict[str, float]:
    times = {}
    for phase in PHASES:
        started = time.monotonic()
        deploy(phase)
        times[phase] = round(time.monotonic() - started, 2)
        count = running()
        if count != SERVICES:
            raise BenchRunError(f"after the {phase} deploy {count} of {SERVICES} containers "
                                "run")
    return times


def _fleet_deploy(spec: LabSpec, work: Path, stack: Path) -> None:
    images = work / "images"  # empty: the board has the example's image already
    images.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "--inventory", str(spec.inventory), "deploy",
         str(stack), "--json", "--images", str(images), "--known-hosts",
         str(work / "known_hosts"), "--store", str(work / "fleet.db")],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchRunError(f"fleet deploy exited {done.returncode}: "
                            f"{(done.stderr or done.stdout)[-2000:]}")


def _compose_up(spec: LabSpec, board: LabDevice, stack: Path) -> None:
    device.shell(spec, board, f"cd {stack.parent} && DOCKER_HOST=unix:///run/docker.sock "
                              f"COMPOSE_PARALLEL_LIMIT={COMPOSE_PARALLEL_LIMIT} "
                              f"docker-compose --compatibility -p {PROJECT} -f {stack.name} "
                              "up -d", timeout=TIMEOUT_S)


def _running(spec: LabSpec, board: LabDevice, label: str, value: str) -> int:
    out = device.shell(spec, board, f"docker ps -q --filter status=running "
                                    f"--filter label={label}={value}")
    return len(out.split())


def _empty(spec: LabSpec, board: LabDevice) -> None:
    """Every container and unused network off the board: it runs nothing, as at first."""
    device.shell(spec, board, "ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids "
                              ">/dev/null; docker network prune -f >/dev/null",
                 timeout=TIMEOUT_S)


__all__ = ["run"]
