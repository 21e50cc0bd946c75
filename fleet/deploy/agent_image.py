"""The agent image's build context: agent_image/Dockerfile, site/ with fleet and its deps, build/.

The agent needs only paho-mqtt, msgspec and zeroconf (with ifaddr) besides
fleet itself, so the final image carries no pip, no compiler and nothing
fetched at build time. For this machine's architecture the dependencies are
copied from the running installation; for a board's (arm64, armv7) pip
fetches their wheels here, on the build host, with `--platform`, each checked
against the hashes in requirements/runtime.txt. A dependency that publishes no
wheel for the board (msgspec on armv7) comes as its sdist, hash-checked the
same way, in build/: the Dockerfile's builder stage compiles it there with
fleet/deploy/agent_compile.py, and the final stage copies only the result.

    python -m fleet.deploy.agent_image DIR [--arch armv7]
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import FleetError
from fleet.model import Arch

DEPENDENCIES = ("paho-mqtt", "msgspec", "zeroconf", "ifaddr")
# What publishes no wheel for an architecture: the builder stage compiles its sdist.
FROM_SOURCE = {Arch.ARMV7: ("msgspec",)}
# pip's platform tags for a board whose architecture is not this machine's.
PIP_PLATFORMS = {Arch.ARM64: "manylinux2014_aarch64", Arch.ARMV7: "manylinux2014_armv7l",
                 Arch.AMD64: "manylinux2014_x86_64"}
# zeroconf's Cython builds of its own modules: it falls back to the .py beside
# each. The agent answers a few mDNS queries a minute, and without them it
# is 2.7 MB smaller resident (measured: +5.5 MB compiled, +2.8 MB pure).
_COMPILED = ("*.so", "*.c", "*.pxd")
PACKAGE = Path(__file__).resolve().parents[1]  # fleet/, copied whole into the image
DOCKERFILE = PACKAGE.parent / "agent_image" / "Dockerfile"
COMPILER = Path(__file__).with_name("agent_compile.py")  # runs in the builder stage
LOCK = PACKAGE.parent / "requirements" / "runtime.txt"
# What both python:3.11-slim-bookworm and Debian bookworm's python3 run; the
# .pyc files are only used if this Python is a 3.11 too.
TARGET_PYTHON = (3, 11)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class Pin:
    """A release the lock pins, and the sha256 of every file of it that the lock accepts."""

    name: str
    version: str
    hashes: frozenset[str]

    def requirement(self) -> str:
        """The pin as a line of a pip requirements file in --require-hashes mode."""
        return " ".join([f"{self.name}=={self.version}",
                         *(f"--hash=sha256:{h}" for h in sorted(self.hashes))])


# fetch(pins, pip platform tag or None for sdists, directory): wheels installed
# into the directory, or sdists saved in it. Tests pass their own.
Fetch = Callable[[list[Pin], str | None, Path], None]


def locked(names: Iterable[str], lock: Path = LOCK) -> dict[str, Pin]:
    """The lock's pins of `names`, each the version installed here (the image's tag says so)."""
    if not lock.is_file():
        raise FleetError(f"no {lock}: build the agent image from a checkout of fleet")
    found: dict[str, tuple[str, set[str]]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        if pin := _PIN.match(line):
            name = _normal(pin[1])
            found[name] = (pin[2], set())
        elif name and (digest := _HASH.search(line)):
            found[name][1].add(digest[1])
    wanted = {}
    for name in map(_normal, names):
        version, hashes = found.get(name, ("", set()))
        if not hashes:
            raise FleetError(f"{lock} pins no {name} with hashes: run `make lock`")
        if version != (installed := importlib.metadata.version(name)):
            raise FleetError(f"{lock} pins {name}=={version}, this installation has "
                             f"{installed}: run `make setup`")
        wanted[name] = Pin(name, version, frozenset(hashes))
    return wanted


def context(dest: Path, arch: Arch | None = None, fetch: Fetch | None = None,
            lock: Path = LOCK) -> Path:
    """Write a complete build context into `dest` (emptied first) and return it.

    `arch` None copies this installation's dependencies (this architecture only).
    """
    if not DOCKERFILE.is_file():
        raise FleetError(f"no {DOCKERFILE}: build the agent image from a checkout of fleet")
    if dest.exists():
        shutil.rmtree(dest)
    site = dest / "site"
    site.mkdir(parents=True)
    shutil.copytree(PACKAGE, site / "fleet", ignore=_SKIP)
    sources = FROM_SOURCE.get(arch, ()) if arch else ()
    dockerfile = DOCKERFILE.read_text()
    (dest / "Dockerfile").write_text(dockerfile if sources else one_stage(dockerfile))
    if arch is None:
        _copy_installed(site)
    else:
        fetch = fetch or pip_fetch
        pins = locked(DEPENDENCIES, lock)
        fetch([pins[n] for n in pins if n not in sources], PIP_PLATFORMS[arch], site)
        if sources:
            build = dest / "build"
            build.mkdir()
            shutil.copy(COMPILER, build / COMPILER.name)
            fetch([pins[n] for n in sources], None, build)
            _check_sdists(build, [pins[n] for n in sources])
    for pattern in _COMPILED:
        for compiled in (site / "zeroconf").rglob(pattern):
            compiled.unlink()
    # Bytecode made here, not at each start: compiling the sources at import
    # left the agent at 32 MB resident, loading .pyc files at 25 MB (measured).
    compileall.compile_dir(site, quiet=1, workers=1)
    return dest


def one_stage(dockerfile: str) -> str:
    """The Dockerfile without its builder stage, its ARG and its COPY: nothing to compile.

    A stage builds even when nothing uses it (docker's legacy builder), and
    leaves an untagged image on the board that `fleet cleanup` would list.
    """
    kept, in_builder = [], False
    for line in dockerfile.splitlines(keepends=True):
        words = line.split()
        if words[:1] == ["FROM"]:
            in_builder = words[-2:] == ["AS", "builder"]
        if not (in_builder or line.startswith(("ARG BUILDER=", "COPY --from=builder "))):
            kept.append(line)
    return "".join(kept)


def pip_fetch(pins: list[Pin], platform: str | None, into: Path) -> None:
    """pip, on this host, in --require-hashes mode: wheels for `platform`, or sdists."""
    if not pins:
        return
    version = "".join(map(str, TARGET_PYTHON))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="fleet-agent-") as reqs:
        reqs.write("".join(f"{pin.requirement()}\n" for pin in pins))
        reqs.flush()
        common = ["--quiet", "--no-deps", "--require-hashes", "-r", reqs.name]
        if platform is None:  # pip runs the sdist's build backend for its metadata
            command = ["download", *common, "--no-binary=:all:", "--dest", str(into)]
        else:
            command = ["install", *common, "--only-binary=:all:", "--platform", platform,
                       "--python-version", version, "--target", str(into)]
        subprocess.run([sys.executable, "-m", "pip", *command], check=True)


def _check_sdists(build: Path, pins: list[Pin]) -> None:
    """Each pin's sdist is in `build`, and its sha256 is one the lock pins."""
    for pin in pins:
        path = build / f"{pin.name.replace('-', '_')}-{pin.version}.tar.gz"
        if not path.is_file():
            path = build / f"{pin.name}-{pin.version}.tar.gz"
        if not path.is_file():
            raise FleetError(f"fetching {pin.name}=={pin.version}'s sdist left none in {build}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in pin.hashes:
            raise FleetError(f"{path.name} has sha256 {digest}, which the lock does not pin")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _copy_installed(site: Path) -> None:
    """The dependencies as installed here: right only for this architecture and Python."""
    if sys.version_info[:2] != TARGET_PYTHON:
        raise FleetError(f"this is Python {sys.version_info[0]}.{sys.version_info[1]}, the image "
                         "runs 3.11: pass --arch to fetch wheels for it instead")
    for name in DEPENDENCIES:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            if "__pycache__" in file.parts or file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(str(dist.locate_file(file))), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.deploy.agent_image",
                                     description="Write the agent image's build context.")
    parser.add_argument("dest", type=Path, help="directory to write (emptied first)")
    parser.add_argument("--arch", type=Arch.parse, help="the board's architecture (arm64, "
                        "armv7, amd64; uname -m names too): fetch its wheels, and armv7's "
                        "msgspec source; default: copy this installation's (same architecture)")
    parser.add_argument("--platform", choices=sorted(PIP_PLATFORMS.values()),
                        help="the pip platform tag of --arch (an older spelling of it)")
    args = parser.parse_args(argv)
    by_tag = {tag: arch for arch, tag in PIP_PLATFORMS.items()}
    arch = args.arch or (by_tag[args.platform] if args.platform else None)
    try:
        print(context(args.dest, arch))
    except (FleetError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
