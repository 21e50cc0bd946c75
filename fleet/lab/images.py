"""The lab's local images, built without a registry and cached.

No registry is reachable from the lab, so images are written directly in
the docker-archive format that `docker load` reads: a layer tarball, an
image config that names the layer's digest and the image's architecture,
and a manifest. Writing the config ourselves is also the only way here to
make an image that claims another platform (`docker import --platform`
does not set it on this dockerd), which the architecture rules are tested with.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fleet.errors import LabError
from fleet.lab.host import run, which
from fleet.lab.spec import host_arch
from fleet.model import Arch

_CHUNK = 1 << 20
DEBIAN_MIRROR = "http://deb.debian.org/debian"
AGENT_BASE_PACKAGES = ("python3",)
# What the agent image's builder stage needs to compile a dependency that has
# no wheel for the board (msgspec on armv7): a C compiler and Python's headers.
AGENT_BUILDER_PACKAGES = ("python3", "python3-dev", "gcc", "libc6-dev")
# Debian's names for the architectures, and the platform an image config
# states: an armv7 image is "arm" with variant "v7", as a board's docker reads it.
DEBIAN_ARCHES = {Arch.AMD64: "amd64", Arch.ARM64: "arm64", Arch.ARMV7: "armhf"}
OCI_PLATFORMS = {Arch.AMD64: ("amd64", None), Arch.ARM64: ("arm64", None),
                 Arch.ARMV7: ("arm", "v7")}


@dataclass(frozen=True, slots=True)
class LocalImage:
    """An image the lab builds: its tag, the platform it claims, how to make its layer."""

    tag: str
    arch: Arch
    cmd: tuple[str, ...]
    make_layer: Callable[[Path], None]
    key: str  # changes whenever what the layer holds changes, so the cache is rebuilt

    @property
    def filename(self) -> str:
        safe = self.tag.replace("/", "_").replace(":", "_")
        return f"{safe}-{self.arch}-{self.key}.tar"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fleet"
    return Path(os.environ.get("FLEET_CACHE_DIR", default)) / "images"


def ensure(image: LocalImage, directory: Path | None = None) -> Path:
    """The image's docker-archive, built on first use and then reused."""
    directory = directory or cache_dir()
    archive = directory / image.filename
    if archive.exists():
        return archive
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        layer = Path(tmp) / "layer.tar"
        image.make_layer(layer)
        partial = Path(tmp) / image.filename
        write_archive(partial, layer, tag=image.tag, arch=image.arch, cmd=image.cmd)
        partial.rename(archive)
    return archive


def write_archive(out: Path, layer: Path | Sequence[Path], *, tag: str, arch: Arch,
                  cmd: tuple[str, ...]) -> None:
    """Write a docker-archive (the `docker save` format) of `layer`, or of layers bottom first."""
    layers = [layer] if isinstance(layer, Path) else list(layer)
    diff_ids = ["sha256:" + _sha256(path) for path in layers]
    architecture, variant = OCI_PLATFORMS[arch]
    config = json.dumps({
        "architecture": architecture,
        **({"variant": variant} if variant else {}),
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "fleet lab"} for _ in layers],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [diff_id.removeprefix("sha256:") + "/layer.tar" for diff_id in diff_ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}])
    with tarfile.open(out, "w") as tar:
        for name, path in dict(zip(names, layers, strict=True)).items():  # a repeat goes once
            tar.add(path, arcname=name)
        _add_bytes(tar, config_name, config)
        _add_bytes(tar, "manifest.json", manifest.encode())


def busybox_layer(out: Path) -> None:
    """A root filesystem of busybox-static and its applets, serving /www on port 8080."""
    busybox = which("busybox")
    if busybox is None:
        raise LabError("busybox not found: apt-get install -y busybox-static")
    applets = run([busybox, "--list"]).split()
    with tarfile.open(out, "w") as tar:
        for name, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o755),
                           ("sys", 0o755), ("tmp", 0o1777), ("www", 0o755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        _add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
        _add_bytes(tar, "www/index.html", b"fleet workload\n")


def debian_layer(out: Path, suite: str = "bookworm",
                 packages: tuple[str, ...] = AGENT_BASE_PACKAGES, arch: Arch | None = None) -> None:
    """A minimal Debian root filesystem (debootstrap minbase) with `packages`.

    For another architecture than this machine's, debootstrap runs the
    target's own maintainer scripts in the chroot: that needs qemu-user-static
    registered with binfmt_misc (see `foreign_ready`).
    """
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        root = Path(tmp) / "rootfs"
        target = [] if arch is None else [f"--arch={DEBIAN_ARCHES[arch]}"]
        run(["debootstrap", "--variant=minbase", *target, f"--include={','.join(packages)}",
             suite, str(root), DEBIAN_MIRROR], timeout=1800)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
        run(["tar", "--numeric-owner", "--exclude=./proc/*", "--exclude=./sys/*",
             "--exclude=./dev/*", "-C", str(root), "-cf", str(out), "."], timeout=600)


HOST_ARCH = host_arch()
FOREIGN_ARCH = Arch.AMD64 if HOST_ARCH is Arch.ARM64 else Arch.ARM64

WORKLOAD = LocalImage("fleet/workload:latest", HOST_ARCH,
                      ("httpd", "-f", "-p", "8080", "-h", "/www"), busybox_layer, "bb1")
# The same files claiming another platform only: what the architecture rules must refuse.
WORKLOAD_FOREIGN = LocalImage(f"fleet/workload-{FOREIGN_ARCH}:latest", FOREIGN_ARCH,
                              WORKLOAD.cmd, busybox_layer, "bb1")
AGENT_BASE = LocalImage("fleet/agent-base:bookworm", HOST_ARCH, ("python3",), debian_layer,
                        "deb1-" + "-".join(AGENT_BASE_PACKAGES))
LAB_IMAGES = (WORKLOAD, WORKLOAD_FOREIGN, AGENT_BASE)
# For 32-bit Raspberry Pi OS: built only by `make armv7-check` (minutes under
# qemu, so never by `fleet lab up`), the agent's base and its builder stage's.
AGENT_BASE_ARMV7 = LocalImage(
    "fleet/agent-base:bookworm-armv7", Arch.ARMV7, ("python3",),
    partial(debian_layer, arch=Arch.ARMV7), "deb1-" + "-".join(AGENT_BASE_PACKAGES))
AGENT_BUILDER_ARMV7 = LocalImage(
    "fleet/agent-builder:bookworm-armv7", Arch.ARMV7, ("python3",),
    partial(debian_layer, packages=AGENT_BUILDER_PACKAGES, arch=Arch.ARMV7),
    "deb1-" + "-".join(AGENT_BUILDER_PACKAGES))


def foreign_ready(arch: Arch, binfmt: Path = Path("/proc/sys/fs/binfmt_misc")) -> str | None:
    """Why binaries of `arch` cannot run here, or None if they can.

    They can where qemu-user-static's handler is registered with the F flag:
    the kernel then holds the emulator open, so it runs them inside a chroot
    or a container too, where no emulator is installed.
    """
    if arch is HOST_ARCH:
        return None
    handler = binfmt / _QEMU_HANDLERS[arch]
    if not handler.is_file():
        return (f"no binfmt_misc handler {handler}: apt-get install qemu-user-static "
                "binfmt-support (and mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)")
    lines = handler.read_text().splitlines()
    flags = next((line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("flags:")), "")
    if "enabled" not in lines:
        return f"{handler} is disabled: update-binfmts --enable {handler.name}"
    if "F" not in flags:
        return (f"{handler} lacks the F flag, so containers cannot run it: "
                "reinstall qemu-user-static")
    return None


_QEMU_HANDLERS = {Arch.ARMV7: "qemu-arm", Arch.ARM64: "qemu-aarch64", Arch.AMD64: "qemu-x86_64"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
