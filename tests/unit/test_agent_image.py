"""The agent image's build context per architecture, armv7's builder stage, and its base images.

What the context holds is checked here with a fetch that costs nothing; the
real build for linux/arm/v7 under qemu is `make armv7-check`
(tests/integration/check_agent_armv7.py), minutes long, so not in the suite.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from fleet.deploy import agent_compile, agent_image
from fleet.deploy.agent_compile import Extension, Recipe
from fleet.deploy.agent_image import DEPENDENCIES, Pin
from fleet.deploy.images import read_archive
from fleet.errors import FleetError
from fleet.lab import images
from fleet.model import Arch

SDIST = b"msgspec's sdist, as PyPI serves it"
MSGSPEC = importlib.metadata.version("msgspec")


def lock(path: Path, sdist: bytes = SDIST, **versions: str) -> Path:
    """A lock like requirements/runtime.txt pinning the agent's dependencies as installed."""
    lines = ["# a lock", "bcrypt==5.0.0 \\", "    --hash=sha256:" + "0" * 64]
    for name in DEPENDENCIES:
        version = versions.get(name.replace("-", "_"), importlib.metadata.version(name))
        digest = hashlib.sha256(sdist if name == "msgspec" else name.encode()).hexdigest()
        lines += [f"{name}=={version} \\", "    --hash=sha256:" + "1" * 64 + " \\",
                  f"    --hash=sha256:{digest}", "    # via fleet"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Fetch:
    """pip's stand-in: records what it was asked for; writes a wheel's package or an sdist."""

    def __init__(self, sdist: bytes = SDIST) -> None:
        self.sdist = sdist
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, pins: list[Pin], platform: str | None, into: Path) -> None:
        self.calls.append(([p.name for p in pins], platform))
        for pin in pins:
            if platform is None:
                (into / f"{pin.name}-{pin.version}.tar.gz").write_bytes(self.sdist)
            else:
                package = into / pin.name.replace("-", "_")
                package.mkdir(parents=True, exist_ok=True)
                (package / "__init__.py").write_text(f"# {pin.name} for {platform}\n")


def test_a_board_with_a_wheel_for_everything_gets_one_stage_and_no_sources(
        tmp_path: Path) -> None:
    fetch = Fetch()
    ctx = agent_image.context(tmp_path / "ctx", Arch.ARM64, fetch, lock(tmp_path / "lock"))
    assert fetch.calls == [(list(DEPENDENCIES), "manylinux2014_aarch64")]
    dockerfile = (ctx / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM")] == [
        "FROM ${BASE}"]
    assert "builder" not in dockerfile.lower()
    assert not (ctx / "build").exists()
    assert (ctx / "site" / "msgspec" / "__init__.py").is_file()
    assert (ctx / "site" / "fleet" / "wire.py").is_file()


def test_armv7_compiles_msgspec_from_its_locked_sdist_in_a_builder_stage(tmp_path: Path) -> None:
    fetch = Fetch()
    ctx = agent_image.context(tmp_path / "ctx", Arch.ARMV7, fetch, lock(tmp_path / "lock"))
    wheels = [n for n in DEPENDENCIES if n != "msgspec"]
    assert fetch.calls == [(wheels, "manylinux2014_armv7l"), (["msgspec"], None)]
    assert (ctx / "Dockerfile").read_text() == agent_image.DOCKERFILE.read_text()
    dockerfile = (ctx / "Dockerfile").read_text().splitlines()
    assert "FROM ${BUILDER} AS builder" in dockerfile
    assert "COPY --from=builder /opt/fleet/compiled/ /opt/fleet/site/" in dockerfile
    sdist = ctx / "build" / f"msgspec-{MSGSPEC}.tar.gz"
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() \
        in agent_image.locked(["msgspec"], tmp_path / "lock")["msgspec"].hashes
    assert sorted(p.name for p in (ctx / "build").iterdir()) == [
        "agent_compile.py", sdist.name]
    assert (ctx / "build" / "agent_compile.py").read_bytes() == agent_image.COMPILER.read_bytes()
    assert not (ctx / "site" / "msgspec").exists()  # the builder's, compiled for the board


def test_an_sdist_the_lock_does_not_pin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="which the lock does not pin"):
        agent_image.context(tmp_path / "ctx", Arch.ARMV7, Fetch(b"something else"),
                            lock(tmp_path / "lock"))


def test_the_lock_must_pin_what_is_installed(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=r"pins msgspec==0\.1\.0, this installation has"):
        agent_image.locked(DEPENDENCIES, lock(tmp_path / "lock", msgspec="0.1.0"))
    (tmp_path / "empty").write_text("bcrypt==5.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(FleetError, match="pins no paho-mqtt with hashes"):
        agent_image.locked(DEPENDENCIES, tmp_path / "empty")


def test_the_real_lock_pins_every_dependency_of_the_agent_as_installed() -> None:
    pins = agent_image.locked(DEPENDENCIES)
    assert sorted(pins) == sorted(DEPENDENCIES)
    assert all(len(h) == 64 for pin in pins.values() for h in pin.hashes)
    assert pins["msgspec"].requirement().startswith(f"msgspec=={MSGSPEC} --hash=sha256:")


def test_one_stage_keeps_the_final_stage_exactly() -> None:
    full = agent_image.DOCKERFILE.read_text()
    single = agent_image.one_stage(full)
    final = full[full.index("\nFROM ${BASE}\n"):]
    assert single.endswith(final.replace("COPY --from=builder /opt/fleet/compiled/ "
                                         "/opt/fleet/site/\n", ""))
    assert "ARG BASE=python:3.11-slim-bookworm\n" in single


# -- the builder stage's script ----------------------------------------------------------------

CONFIG = {"CC": "arm-linux-gnueabihf-gcc", "CFLAGS": "-DNDEBUG -g -fwrapv -O2 -Wall",
          "CCSHARED": "-fPIC", "LDSHARED": "arm-linux-gnueabihf-gcc -shared -Wl,-O1",
          "EXT_SUFFIX": ".cpython-311-arm-linux-gnueabihf.so"}


def test_msgspec_compiles_as_its_setup_py_says_with_the_pythons_own_flags() -> None:
    [ext] = agent_compile.RECIPES["msgspec"].extensions
    compile_, link = agent_compile.commands(ext, CONFIG, ["/usr/include/python3.11"],
                                            Path("/b"), Path("/out"))
    assert compile_ == ["arm-linux-gnueabihf-gcc", "-DNDEBUG", "-g", "-fwrapv", "-O2", "-Wall",
                        "-fPIC", "-I/usr/include/python3.11", "-c", "src/msgspec/_core.c",
                        "-o", "/b/_core.o", "-g0"]
    assert link == ["arm-linux-gnueabihf-gcc", "-shared", "-Wl,-O1", "/b/_core.o", "-lm", "-o",
                    "/out/msgspec/_core.cpython-311-arm-linux-gnueabihf.so"]


def sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


DEMO = Recipe("src/demo", ())
DEMO_FILES = {"demo-1.0/PKG-INFO": b"Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n",
              "demo-1.0/src/demo/__init__.py": b"X = 1\n",
              "demo-1.0/src/demo/__init__.pyi": b"X: int\n",
              "demo-1.0/src/demo/py.typed": b"",
              "demo-1.0/src/demo/helper.h": b"/* only for the compiler */\n"}


def test_an_sdist_is_installed_with_its_package_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "out"
    agent_compile.build(sdist(tmp_path / "demo-1.0.tar.gz", DEMO_FILES), out, CONFIG, [],
                        {"demo": DEMO})
    assert sorted(p.name for p in (out / "demo").iterdir()) == [
        "__init__.py", "__init__.pyi", "py.typed"]
    assert (out / "demo-1.0.dist-info" / "METADATA").read_bytes().startswith(
        b"Metadata-Version: 2.4\nName: demo\n")


def test_a_release_with_a_c_file_the_recipe_does_not_know_is_refused(tmp_path: Path) -> None:
    files = {**DEMO_FILES, "demo-1.0/src/demo/_new.c": b"int x;\n"}
    with pytest.raises(SystemExit, match=r"C sources no recipe builds: src/demo/_new\.c"):
        agent_compile.build(sdist(tmp_path / "demo-1.0.tar.gz", files), tmp_path / "out",
                            CONFIG, [], {"demo": DEMO})
    recipe = Recipe("src/demo", (Extension("demo._new", ("src/demo/_new.c",)),))
    assert agent_compile.unclaimed_sources(recipe, tmp_path) == []


def test_an_sdist_reaching_outside_its_folder_is_refused(tmp_path: Path) -> None:
    evil = sdist(tmp_path / "demo-1.0.tar.gz", {**DEMO_FILES, "demo-1.0/../../x": b"x"})
    with pytest.raises(SystemExit, match=re.escape("refusing member 'demo-1.0/../../x'")):
        agent_compile.build(evil, tmp_path / "out", CONFIG, [], {"demo": DEMO})
    assert not (tmp_path / "x").exists()


def test_without_sdists_the_stage_only_makes_its_output(tmp_path: Path) -> None:
    assert agent_compile.main([str(tmp_path / "build"), str(tmp_path / "out")]) == 0
    assert list((tmp_path / "out").iterdir()) == []


def test_what_a_builder_lacks_comes_from_debian(tmp_path: Path) -> None:
    headers = tmp_path / "include"
    headers.mkdir()
    missing = {**CONFIG, "CC": "no-such-compiler-here -pthread"}
    assert agent_compile.missing_packages(missing, [str(headers)], debian_python=True) == [
        "gcc", "libc6-dev", "python3-dev"]
    (headers / "Python.h").write_text("")
    assert agent_compile.missing_packages(missing, [str(headers)], debian_python=False) == [
        "gcc", "libc6-dev"]
    with pytest.raises(SystemExit, match=r"no Python\.h in /nowhere"):
        agent_compile.missing_packages(CONFIG, ["/nowhere"], debian_python=False)


def test_sdist_names() -> None:
    assert agent_compile.sdist_name(Path("msgspec-0.23.0.tar.gz")) == ("msgspec", "0.23.0")
    assert agent_compile.sdist_name(Path("paho_mqtt-2.2.0.tar.gz")) == ("paho-mqtt", "2.2.0")
    with pytest.raises(SystemExit, match="not an sdist"):
        agent_compile.sdist_name(Path("msgspec.zip"))


# -- the armv7 base images -----------------------------------------------------------------------

def test_an_armv7_image_says_arm_v7_as_a_boards_docker_reads_it(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w"):
        pass
    out = tmp_path / "armv7.tar"
    images.write_archive(out, layer, tag="fleet/agent-base:bookworm-armv7", arch=Arch.ARMV7,
                         cmd=("python3",))
    with tarfile.open(out) as tar:
        [config] = [m for m in tar.getmembers() if m.name.endswith(".json")
                    and m.name != "manifest.json"]
        data = json.loads(tar.extractfile(config).read())  # type: ignore[union-attr]
    assert (data["architecture"], data["variant"], data["os"]) == ("arm", "v7", "linux")
    [image] = read_archive(out)
    assert image.arch is Arch.ARMV7
    assert images.AGENT_BASE_ARMV7.arch is images.AGENT_BUILDER_ARMV7.arch is Arch.ARMV7
    assert images.AGENT_BASE_ARMV7 not in images.LAB_IMAGES  # minutes under qemu: not lab up


def binfmt(tmp_path: Path, flags: str, state: str = "enabled") -> Path:
    directory = tmp_path / "binfmt_misc"
    directory.mkdir(exist_ok=True)
    (directory / "qemu-arm").write_text(
        f"{state}\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: {flags}\n"
        "offset 0\nmagic 7f454c4601010100000000000000000002002800\n")
    return directory


def test_armv7_runs_here_only_through_qemu_registered_with_the_f_flag(tmp_path: Path) -> None:
    assert images.foreign_ready(Arch.ARMV7, binfmt(tmp_path, "PF")) is None
    assert "lacks the F flag" in str(images.foreign_ready(Arch.ARMV7, binfmt(tmp_path, "P")))
    assert "is disabled" in str(images.foreign_ready(Arch.ARMV7,
                                                     binfmt(tmp_path, "PF", "disabled")))
    assert "apt-get install qemu-user-static" in str(
        images.foreign_ready(Arch.ARMV7, tmp_path / "nothing"))
    assert images.foreign_ready(images.HOST_ARCH, tmp_path / "nothing") is None
