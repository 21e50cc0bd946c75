"""`build:` services: built on the board they are placed on, by its own dockerd, from the
context sent over SSH as `docker build`'s stdin (nothing is left on the board's disk).

The board builds for its own architecture with its own build cache; no registry
and no emulation. The built image carries the digest of what it was built
from (label fleet.build, fleet.deploy.buildcontext), which the board's facts
report with the image's size, so an unchanged context builds nothing and the
disk a build needs is counted at the size it last had there, or, before the
first build, at an estimate from the context (said so in the step).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.config.build import Build
from fleet.deploy import buildcontext
from fleet.deploy.buildcontext import Packed
from fleet.deploy.images import normalize_ref
from fleet.errors import FleetError
from fleet.fanout import Progress
from fleet.ssh import sudo
from fleet.ssh.connection import Connection, Sent

MB = 1 << 20
LABEL = "fleet.build"
ID_PREFIX = "build:"  # a built image's id in a container's revision, before it exists
ESTIMATE_FACTOR = 2  # the context unpacked by the daemon, then its COPY'd layers
OUTPUT_LINES = 12  # of docker's output, in a failed build's message


@dataclass(frozen=True, slots=True)
class BuildWant:
    """An image to build on the boards that run its service, and what it is built from."""

    service: str
    build: Build
    digest: str
    context_bytes: int

    @property
    def image_id(self) -> str:
        """What stands for its id in a container's revision: a change rebuilds and replaces."""
        return ID_PREFIX + self.digest

    @property
    def estimate_mb(self) -> int:
        return max(1, math.ceil(ESTIMATE_FACTOR * self.context_bytes / MB))

    def built_on(self, builds: Mapping[str, tuple[str, int]]) -> tuple[str, int] | None:
        """What a board's facts say it built under this image's name (digest, bytes)."""
        return builds.get(normalize_ref(self.build.image))

    def disk_mb(self, built: tuple[str, int] | None) -> int:
        """Disk the build takes: its last built size on the board, else the estimate."""
        return math.ceil(built[1] / MB) if built is not None else self.estimate_mb

    def describe(self, built: tuple[str, int] | None) -> str:
        """The step's detail: the service, the context, and how its disk is counted."""
        size = f"{self.context_bytes / MB:.1f} MB" if self.context_bytes >= MB \
            else f"{math.ceil(self.context_bytes / 1024)} KB"
        disk = (f"disk {self.disk_mb(built)} MB, its built size" if built is not None
                else f"disk {self.estimate_mb} MB, an estimate before its first build")
        return f"{self.service}: context {size}, {self.digest[:12]}; {disk}"


Builds = dict[str, tuple[BuildWant, Packed]]  # image ref -> what it is built from, packed


def pack_all(builds: Mapping[str, Build]) -> Builds:
    """Each service's context (`builds`: service -> Build), packed once for every board that
    builds it, by image ref; the caller closes them."""
    found: Builds = {}
    try:
        for service, spec in builds.items():
            packed = buildcontext.pack(spec)
            found[spec.image] = (BuildWant(service, spec, packed.digest, packed.size), packed)
    except BaseException:
        for _, packed in found.values():
            packed.close()
        raise
    return found


def disk_mb(builds: Builds, refs: Iterable[str], built: Mapping[str, tuple[str, int]]) -> int:
    """The disk the builds of `refs` take on a board, given what its facts say it built."""
    wants = [builds[ref][0] for ref in refs]
    return sum(want.disk_mb(want.built_on(built)) for want in wants)


def build_steps(conn: Connection, builds: Builds, refs: Iterable[str],
                built: Mapping[str, tuple[str, int]], free_mb: int, keep_free_mb: int,
                progress: Progress) -> str:
    """Build the images of `refs` on the board (its build steps), with `free_mb` left once
    its pulls and pushes are in; why one was refused before building ("" if none was)."""
    wanted = [builds[ref] for ref in refs]
    return build_all(conn, [(w, w[0].built_on(built)) for w in wanted], free_mb, keep_free_mb,
                     progress)


def build_all(conn: Connection, wanted: Sequence[tuple[tuple[BuildWant, Packed],
                                                        tuple[str, int] | None]],
              free_mb: int, keep_free_mb: int, progress: Progress) -> str:
    """Build each (want, packed) on the board, given what the board has built of it;
    why one was refused before building ("" if none was). A failed build raises."""
    for (want, packed), built in wanted:
        needs = want.disk_mb(built)
        if free_mb - needs < keep_free_mb:
            return (f"refused, not built: {want.build.image} ({want.describe(built)}): "
                    f"{free_mb} MB free, {keep_free_mb} MB kept free")
        progress.stage(conn.device, f"building {want.build.image}")
        run(conn, want, packed, sent=lambda n: progress.sent(conn.device, n))
        free_mb -= needs
    return ""


def command(wanted: BuildWant) -> str:
    """The `docker build` that reads the context tar from stdin; every value quoted."""
    build = wanted.build
    argv = ["docker", "build", "--tag", build.image, "--file", build.dockerfile,
            "--label", f"{LABEL}={wanted.digest}"]
    argv += [a for name, value in build.args for a in ("--build-arg", f"{name}={value}")]
    argv += [a for name, value in build.labels for a in ("--label", f"{name}={value}")]
    if build.target:
        argv += ["--target", build.target]
    # The classic builder: docker 20.10's default, and on a later engine the one that needs
    # no buildx plugin; it reads the tar on stdin and caches in the engine itself.
    return "DOCKER_BUILDKIT=0 " + shlex.join([*argv, "-"]) + " 2>&1"


def run(conn: Connection, wanted: BuildWant, packed: Packed, *,
        sent: Sent | None = None, timeout: float = 3600) -> None:
    """Build on the board (as root, fleet.ssh.sudo); FleetError naming the service, the board
    and the last lines of docker's output if it fails."""
    with packed.open() as context:
        result = sudo.run(conn, command(wanted), stdin=context, sent=sent, timeout=timeout)
    if not result.ok:
        text = (result.stdout or result.stderr).decode("utf-8", errors="replace")
        output = text.strip().splitlines()[-OUTPUT_LINES:]
        raise FleetError(f"{conn.device}: building {wanted.build.image} for service "
                         f"{wanted.service!r} failed (exit {result.exit_code}):\n  "
                         + "\n  ".join(output or [result.why()]))
