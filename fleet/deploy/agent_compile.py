"""Compile, in the agent image's builder stage, the dependencies with no wheel for the board.

Run there as a plain script, standard library only:

    python3 agent_compile.py SOURCES OUT

SOURCES holds the sdists the build context carries (msgspec's on armv7, whose
hash fleet checked against the lock when it wrote the context). Each is built
as its setup.py declares (RECIPES), with this Python's own compiler and flags
from sysconfig, as setuptools does, and installed into OUT, which the image's
final stage copies over its site directory. Without sdists (arm64, amd64) it
only makes OUT, so the stage costs nothing there.

Not through pip and the sdist's build backend: msgspec 0.23 builds with
setuptools>=80 and setuptools-scm>=8, which neither Debian bookworm nor an
offline builder has. A builder without a C compiler (python:3.11-slim-bookworm,
the default base) gets gcc from Debian's mirror; only this stage holds it.
"""

from __future__ import annotations

import compileall
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# A Debian builder's packages for a compiler, and for Debian's own python3's headers.
COMPILER_PACKAGES = ("gcc", "libc6-dev")
HEADER_PACKAGES = ("python3-dev",)
_PACKAGE_FILES = ("*.py", "*.pyi", "py.typed")


@dataclass(frozen=True, slots=True)
class Extension:
    """One C extension module, as setup.py declares it."""

    module: str
    sources: tuple[str, ...]
    libraries: tuple[str, ...] = ()
    extra_compile_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recipe:
    """How an sdist is laid out and built: its package's folder and its extensions."""

    package_dir: str
    extensions: tuple[Extension, ...]


# msgspec's setup.py on Linux, without its debug, sanitizer and coverage options.
RECIPES = {
    "msgspec": Recipe("src/msgspec", (
        Extension("msgspec._core", ("src/msgspec/_core.c",), libraries=("m",),
                  extra_compile_args=("-g0",)),
    )),
}


def sdist_name(path: Path) -> tuple[str, str]:
    """(name, version) of an sdist file, e.g. msgspec-0.23.0.tar.gz."""
    stem = path.name.removesuffix(".tar.gz")
    name, _, version = stem.rpartition("-")
    if stem == path.name or not name or not version:
        raise SystemExit(f"{path.name}: not an sdist (NAME-VERSION.tar.gz)")
    return name.lower().replace("_", "-"), version


def compiler(config: Mapping[str, str]) -> list[str]:
    """The C compiler this Python was built with, with its flags for shared objects."""
    return [*shlex.split(config["CC"]), *shlex.split(config["CFLAGS"]),
            *shlex.split(config["CCSHARED"])]


def commands(ext: Extension, config: Mapping[str, str], includes: Sequence[str],
             build: Path, out: Path) -> list[list[str]]:
    """The compile and link commands for `ext`, in setuptools' order, built into `out`."""
    objects = [build / PurePosixPath(source).with_suffix(".o").name for source in ext.sources]
    steps = [[*compiler(config), *(f"-I{d}" for d in includes), "-c", source, "-o", str(obj),
              *ext.extra_compile_args] for source, obj in zip(ext.sources, objects, strict=True)]
    target = out.joinpath(*ext.module.split(".")).with_name(
        ext.module.rsplit(".", 1)[-1] + config["EXT_SUFFIX"])
    steps.append([*shlex.split(config["LDSHARED"]), *map(str, objects),
                  *(f"-l{lib}" for lib in ext.libraries), "-o", str(target)])
    return steps


def unclaimed_sources(recipe: Recipe, tree: Path) -> list[str]:
    """C files in the sdist that no extension of the recipe builds: a newer release's own."""
    claimed = {source for ext in recipe.extensions for source in ext.sources}
    found = {path.relative_to(tree).as_posix() for path in tree.rglob("*.c")}
    return sorted(found - claimed)


def missing_packages(config: Mapping[str, str], includes: Sequence[str],
                     debian_python: bool) -> list[str]:
    """What Debian must install before anything compiles here; [] if nothing."""
    wanted = [] if shutil.which(shlex.split(config["CC"])[0]) else list(COMPILER_PACKAGES)
    if not any(Path(d, "Python.h").is_file() for d in includes):
        if not debian_python:
            raise SystemExit(f"no Python.h in {', '.join(includes)}: use a builder image "
                             "with Python's headers (python:3.11-bookworm has them)")
        wanted += HEADER_PACKAGES
    return wanted


def build(sdist: Path, out: Path, config: Mapping[str, str], includes: Sequence[str],
          recipes: Mapping[str, Recipe] = RECIPES) -> None:
    """Unpack `sdist`, compile its extensions and install its package into `out`."""
    name, version = sdist_name(sdist)
    recipe = recipes.get(name)
    if recipe is None:
        raise SystemExit(f"{sdist.name}: no recipe to build {name} (known: {', '.join(recipes)})")
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
        tree = _unpack(sdist, Path(tmp))
        if extra := unclaimed_sources(recipe, tree):
            raise SystemExit(f"{sdist.name} has C sources no recipe builds: {', '.join(extra)}; "
                             "update RECIPES in fleet/deploy/agent_compile.py from its setup.py")
        package = out / PurePosixPath(recipe.package_dir).name
        for pattern in _PACKAGE_FILES:
            for path in (tree / recipe.package_dir).glob(pattern):
                package.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, package / path.name)
        for ext in recipe.extensions:
            for step in commands(ext, config, includes, Path(tmp), out):
                print("+", shlex.join(step), flush=True)
                subprocess.run(step, cwd=tree, check=True)
        info = out / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        shutil.copy(tree / "PKG-INFO", info / "METADATA")
        (info / "INSTALLER").write_text("fleet-agent-builder\n")


def _unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.name.startswith("/") or ".." in parts or not (member.isfile()
                                                                    or member.isdir()):
                raise SystemExit(f"{sdist.name}: refusing member {member.name!r}")
        tar.extractall(into)  # every member checked above
    [tree] = [path for path in into.iterdir() if path.is_dir()]
    return tree


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: agent_compile.py SOURCES OUT", file=sys.stderr)
        return 2
    sources, out = map(Path, args)
    out.mkdir(parents=True, exist_ok=True)
    sdists = sorted(sources.glob("*.tar.gz"))
    if not sdists:
        return 0
    config = {k: str(sysconfig.get_config_var(k) or "") for k in
              ("CC", "CFLAGS", "CCSHARED", "LDSHARED", "EXT_SUFFIX")}
    paths = sysconfig.get_paths()
    includes = list(dict.fromkeys((paths["include"], paths["platinclude"])))
    if wanted := missing_packages(config, includes, debian_python=sys.prefix == "/usr"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *wanted],
                       check=True, env=env)
    for sdist in sdists:
        build(sdist, out, config, includes)
    compileall.compile_dir(out, quiet=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
