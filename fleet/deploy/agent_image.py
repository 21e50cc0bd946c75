"""The agent image's build context: agent_image/Dockerfile, and site/ with fleet and its deps.

The agent needs only paho-mqtt, msgspec and zeroconf (with ifaddr) besides
fleet itself, so the image
carries no pip, no compiler and nothing fetched at build time: the context is
complete, and a build works offline (the lab has no registry and no PyPI).
For this machine's architecture the dependencies are copied from the running
installation; for a board's (arm64, armv7) pip fetches their wheels here, on
the build host, with `--platform`.

    python -m fleet.deploy.agent_image DIR [--platform manylinux2014_aarch64]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from fleet.errors import FleetError

DEPENDENCIES = ("paho-mqtt", "msgspec", "zeroconf", "ifaddr")
# zeroconf's Cython builds of its own modules: it falls back to the .py beside
# each. The agent answers a few mDNS queries a minute, and without them it
# is 2.7 MB smaller resident (measured: +5.5 MB compiled, +2.8 MB pure).
_COMPILED = ("*.so", "*.c", "*.pxd")
PACKAGE = Path(__file__).resolve().parents[1]  # fleet/, copied whole into the image
DOCKERFILE = PACKAGE.parent / "agent_image" / "Dockerfile"
# What both python:3.11-slim-bookworm and Debian bookworm's python3 run; the
# .pyc files are only used if this Python is a 3.11 too.
TARGET_PYTHON = (3, 11)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def context(dest: Path, platform: str | None = None) -> Path:
    """Write a complete build context into `dest` (emptied first) and return it."""
    if not DOCKERFILE.is_file():
        raise FleetError(f"no {DOCKERFILE}: build the agent image from a checkout of fleet")
    if dest.exists():
        shutil.rmtree(dest)
    site = dest / "site"
    site.mkdir(parents=True)
    shutil.copy(DOCKERFILE, dest / "Dockerfile")
    shutil.copytree(PACKAGE, site / "fleet", ignore=_SKIP)
    if platform is None:
        _copy_installed(site)
    else:
        _fetch_wheels(site, platform)
    for pattern in _COMPILED:
        for compiled in (site / "zeroconf").rglob(pattern):
            compiled.unlink()
    # Bytecode made here, not at each start: compiling the sources at import
    # left the agent at 32 MB resident, loading .pyc files at 25 MB (measured).
    compileall.compile_dir(site, quiet=1, workers=1)
    return dest


def _copy_installed(site: Path) -> None:
    """The dependencies as installed here: right only for this architecture and Python."""
    if sys.version_info[:2] != TARGET_PYTHON:
        raise FleetError(f"this is Python {sys.version_info[0]}.{sys.version_info[1]}, the image "
                         "runs 3.11: pass --platform to fetch wheels for it instead")
    for name in DEPENDENCIES:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            if "__pycache__" in file.parts or file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(str(dist.locate_file(file))), target)


def _fetch_wheels(site: Path, platform: str) -> None:
    pins = [f"{n}=={importlib.metadata.version(n)}" for n in DEPENDENCIES]
    version = "".join(map(str, TARGET_PYTHON))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--platform", platform, "--python-version", version,
                    "--target", str(site), *pins], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.deploy.agent_image",
                                     description="Write the agent image's build context.")
    parser.add_argument("dest", type=Path, help="directory to write (emptied first)")
    parser.add_argument("--platform", help="a pip platform tag, e.g. manylinux2014_aarch64; "
                        "default: copy this installation's (same architecture only)")
    args = parser.parse_args(argv)
    try:
        print(context(args.dest, args.platform))
    except (FleetError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
