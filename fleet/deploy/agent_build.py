"""The agent image `fleet enroll` installs: its tag, from the agent's own code, and its context.

The tag is fleet/agent:VERSION-HASH, the hash over the Dockerfile, the base
image, the dependencies' versions and only the fleet modules the agent
imports, so a board keeps its image (and its running agent) through a fleet
upgrade that changed only the controller. The build context is made only when
some board lacks the image, once per architecture, as a .tar.gz that
`docker build -` reads.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import io
import platform
import re
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

from fleet import __version__
from fleet.deploy import agent_image
from fleet.errors import FleetError
from fleet.model import Arch

REPOSITORY = "fleet/agent"
_PACKAGE = agent_image.PACKAGE


def agent_modules(package: Path = _PACKAGE) -> list[Path]:
    """The files of fleet the agent can import: fleet.agent and, transitively, what it imports.

    Only these go into the image's tag, so a change elsewhere in fleet (the CLI,
    the TUI) neither rebuilds the agent nor restarts it on every board.
    """
    todo, found = ["fleet.agent", "fleet.agent.__main__"], {}
    while todo:
        name = todo.pop()
        if name in found or (path := _module_file(package, name)) is None:
            continue
        found[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        here = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[:len(here) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                todo += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return sorted(found.values())


def _module_file(package: Path, name: str) -> Path | None:
    first, *rest = name.split(".")
    if first != package.name:
        return None
    path = package.joinpath(*rest)
    for candidate in (path / "__init__.py", path.with_name(f"{path.name}.py")):
        if candidate.is_file():
            return candidate
    return None


def image_tag(base: str, package: Path = _PACKAGE) -> str:
    """fleet/agent:VERSION-HASH, the hash over the agent's code, its dependencies and base.

    Its dependencies include how the builder stage compiles those without a wheel.
    """
    digest = hashlib.sha256(f"{base}\n".encode())
    digest.update(agent_image.DOCKERFILE.read_bytes())
    digest.update(agent_image.COMPILER.read_bytes())
    for path in agent_modules(package):
        digest.update(f"\n{path.relative_to(package)}\n".encode())
        digest.update(path.read_bytes())
    for name in agent_image.DEPENDENCIES:
        digest.update(f"{name}=={importlib.metadata.version(name)}\n".encode())
    return f"{REPOSITORY}:{__version__}-{digest.hexdigest()[:12]}"


def default_base() -> str:
    """The base image agent_image/Dockerfile names: what a real board pulls."""
    found = re.search(r"^ARG BASE=(\S+)", agent_image.DOCKERFILE.read_text(), re.MULTILINE)
    if found is None:
        raise FleetError(f"{agent_image.DOCKERFILE} has no `ARG BASE=`: pass --agent-base")
    return found[1]


class Contexts:
    """The agent's build context as a .tar.gz, made once per architecture when first needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[Arch, bytes] = {}

    def get(self, arch: Arch) -> bytes:
        with self._lock:  # the boards that need it wait for one build of it
            if arch not in self._made:
                self._made[arch] = _context(arch)
            return self._made[arch]


def _context(arch: Arch) -> bytes:
    native = Arch.parse(platform.machine()) == arch
    with tempfile.TemporaryDirectory(prefix="fleet-agent-context-") as tmp:
        try:
            directory = agent_image.context(Path(tmp) / "context", None if native else arch)
        except subprocess.CalledProcessError as e:
            raise FleetError(f"fetching the agent's dependencies for {arch} failed "
                             f"(exit {e.returncode})") from None
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz", compresslevel=6) as tar:
            for path in sorted(directory.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
        return data.getvalue()
