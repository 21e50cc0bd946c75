"""Images as values: read from archive files, compared with what a board has, checked.

A layer is identified the way `docker load` does: by its *chain id*, the hash
of its own diff_id and every layer under it. `docker load` skips a layer's
file only when that chain already exists, so a diff_id present on the board
under another base still has to be sent (checked on docker 20.10).

Everything here is pure except `ImageSource`, which reads archive files (see
fleet.deploy.archive), inflates and checks their compressed layers once, and,
when an image is in none of them, saves it from the local docker engine.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from fleet.config.paths import image_archives, image_cache
from fleet.deploy import inflate
from fleet.deploy.archive import read_archive, read_member
from fleet.deploy.imagemodel import (
    DIGEST,
    MB,
    PLAIN,
    Image,
    Layer,
    chain_ids,
    normalize_ref,
)
from fleet.errors import ImageError
from fleet.model import Arch

__all__ = ["DIGEST", "MB", "Image", "ImageSource", "Layer", "chain_ids", "load_mb", "missing",
           "needed_mb", "normalize_ref", "read_archive", "refusal", "variant"]

# A staged copy of the new layers, then docker's own: `docker load` untars what it is
# given under its data root before unpacking. The staged copy is deleted as it is read
# (push.py), so the peak is the engine's two copies: what was sent, and the plain layer.
DISK_FACTOR = 2


def missing(image: Image, present: Iterable[str]) -> tuple[Layer, ...]:
    """The layers the board lacks (by chain id), bottom first, each distinct file once."""
    have = frozenset(present)
    wanted: dict[str, Layer] = {}
    for layer in image.layers:
        if layer.chain_id not in have:
            wanted.setdefault(layer.diff_id, layer)
    return tuple(wanted.values())


def needed_mb(new_bytes: int) -> int:
    """Disk new plain layers of `new_bytes` take on the board while they are loaded."""
    return math.ceil(DISK_FACTOR * new_bytes / MB)


def load_mb(layers: Iterable[Layer]) -> int:
    """Disk these layers take on the board while loaded: as sent (staged), and unpacked."""
    return math.ceil(sum(layer.sent_size + layer.size for layer in layers) / MB)


def refusal(image: Image, device_arch: Arch, free_mb: int, keep_free_mb: int,
            present: Iterable[str] = ()) -> str | None:
    """Why the image must not be sent to this board, or None. `present`: its chain ids."""
    if image.arch is not device_arch:
        if len(image.platforms) > 1:
            return (f"image {image.ref} has no variant for {device_arch} "
                    f"(it has {', '.join(a.value for a in image.platforms)})")
        return f"image {image.ref} is {image.arch}, device is {device_arch}"
    needs = load_mb(missing(image, present))
    if needs and free_mb - needs < keep_free_mb:
        return (f"image {image.ref} needs {needs} MB for new layers (staged and unpacked), "
                f"{free_mb} MB free, {keep_free_mb} MB kept free")
    return None


def variant(images: Iterable[Image], arch: Arch) -> Image | None:
    """The one of an image's platform variants that runs on `arch`, if there is one."""
    return next((image for image in images if image.arch is arch), None)


class _Window(io.RawIOBase):
    """`size` bytes of an open file from where it stands: one layer inside an archive."""

    def __init__(self, f: io.BufferedReader, size: int) -> None:
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[:self._left]
        got = self._f.readinto(view) if view.nbytes else 0
        self._left -= got
        return got

    def close(self) -> None:
        self._f.close()
        super().close()


class ImageSource:
    """Finds images by ref: in archive files and directories first, then the local engine."""

    def __init__(self, paths: Iterable[Path] = (), *, engine: bool = True,
                 docker_host: str | None = None, cache: Path | None = None) -> None:
        """`docker_host` (e.g. unix:///run/docker.sock): the engine, else docker's environment."""
        self.paths = tuple(Path(p) for p in paths)
        self.engine = engine
        self.docker_host = docker_host
        self.cache = cache or image_cache()
        self._variants: dict[tuple[Path, str, Arch], Image] = {}

    @classmethod
    def from_env(cls, archives: Iterable[Path] = (), environ: Mapping[str, str] = os.environ,
                 **kwargs: Any) -> ImageSource:
        """`archives` (e.g. --images), then $FLEET_IMAGES."""
        return cls([*archives, *image_archives(environ)], **kwargs)

    def find(self, ref: str, arch: Arch | None = None) -> Image:
        """The image tagged `ref`, its variant for `arch` if an archive has several, its
        compressed layers checked; ImageError naming where it looked if there is none."""
        wanted, looked = normalize_ref(ref), []
        for path in self.paths:
            looked.append(str(path) + ("" if path.exists() else " (missing)"))
            files = sorted(path.glob("*.tar")) if path.is_dir() else [path] * path.exists()
            for file in files:
                try:
                    found = [i for i in read_archive(file) if wanted in (i.ref, i.id)]
                except ImageError as e:
                    looked.append(f"{file} (unreadable: {e})")
                    continue
                if found:
                    return self._checked(self._variant(found, arch))
        if self.engine:
            image, why = self._from_engine(wanted)
            if image is not None:
                return self._checked(self._variant([image], arch))
            looked.append(why)
        raise ImageError(f"image {wanted} not found; looked in: "
                         + ("; ".join(looked) or "nowhere (give --images DIR or $FLEET_IMAGES)"))

    def for_arch(self, image: Image, arch: Arch) -> Image:
        """The variant of `image` (found here) that runs on `arch`; when it has none, the
        image itself, which refusal() then refuses naming the variants it has."""
        if image.arch is arch or len(image.platforms) < 2 or arch not in image.platforms:
            return image
        key = (image.archive, image.ref, arch)
        if key not in self._variants:
            self._variants[key] = self._checked(self._variant(
                [i for i in read_archive(image.archive) if i.ref == image.ref], arch))
        return self._variants[key]

    def config(self, image: Image) -> bytes:
        """The image's config, as its id was computed from."""
        return read_member(image.archive, image.config_member)

    def open_layer(self, image: Image, layer: Layer, offset: int = 0) -> BinaryIO:
        """What a push sends of the layer (see Layer.sent_size), from `offset` on."""
        if not 0 <= offset <= layer.sent_size:
            raise ValueError(f"offset {offset} outside layer {layer.hex[:12]} "
                             f"({layer.sent_size} B)")
        if layer.compression == PLAIN or layer.sent_compressed:
            return self._stored(image, layer, offset)
        plain = inflate.inflating(self._stored(image, layer), layer.compression)
        for _ in range(offset // inflate.CHUNK):
            plain.read(inflate.CHUNK)
        plain.read(offset % inflate.CHUNK)
        return plain

    @staticmethod
    def _variant(found: list[Image], arch: Arch | None) -> Image:
        chosen = found[0] if arch is None else variant(found, arch)
        if chosen is None:
            raise ImageError(f"image {found[0].ref} in {found[0].archive} has no variant for "
                             f"{arch} (it has {', '.join(i.arch.value for i in found)})")
        return chosen

    def _stored(self, image: Image, layer: Layer, offset: int = 0) -> BinaryIO:
        """The layer's bytes as the archive stores them, from `offset` on."""
        try:
            f = image.archive.open("rb")
        except OSError as e:
            raise ImageError(f"{image.archive}: {e.strerror}") from None
        f.seek(layer.offset + offset)
        return io.BufferedReader(_Window(f, layer.stored_size - offset), 1 << 20)

    def _checked(self, image: Image) -> Image:
        """`image` with each compressed layer inflated once: its diff_id checked, its size known.

        What was checked is kept by the stored bytes' digest, so the next look is free."""
        layers = []
        for layer in image.layers:
            if layer.compression != PLAIN and layer.size == 0:
                layer = self._inflated(image, layer)
            layers.append(layer)
        return replace(image, layers=tuple(layers))

    def _inflated(self, image: Image, layer: Layer) -> Layer:
        record = self.cache / "layers" / (layer.digest.removeprefix("sha256:") + ".json")
        if layer.digest:
            try:
                known = json.loads(record.read_text())
                if known.get("diff_id") == layer.diff_id and isinstance(known.get("size"), int):
                    return replace(layer, size=known["size"])
            except (OSError, ValueError, AttributeError):
                pass  # not checked yet (or a damaged record): check it now
        name = f"{layer.member} of {image.ref}"
        size, stored_digest = inflate.check(self._stored(image, layer), layer.compression,
                                            layer.diff_id, name)
        if layer.digest and stored_digest != layer.digest:
            raise ImageError(f"layer {name}: its bytes are {stored_digest}, the manifest "
                             f"says {layer.digest}: the archive is corrupt or was altered")
        checked = replace(layer, size=size, digest=stored_digest)
        try:
            record = self.cache / "layers" / (stored_digest.removeprefix("sha256:") + ".json")
            record.parent.mkdir(parents=True, exist_ok=True)
            partial = record.with_suffix(".partial")
            partial.write_text(json.dumps({"diff_id": layer.diff_id, "size": size}))
            partial.rename(record)
        except OSError:
            pass  # a cache that cannot be written costs a check next time, nothing more
        return checked

    def _from_engine(self, ref: str) -> tuple[Image | None, str]:
        """The image saved from the local engine (once per id), or None and why not."""
        import docker  # only when archives did not have it: the SDK is a heavy import

        url = self.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        where = f"the docker engine at {url}"
        if url.startswith("unix://"):
            # The SDK leaks its socket when a unix socket refuses it: ask first, tidily.
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.settimeout(5)
                    probe.connect(url.removeprefix("unix://"))
            except OSError as e:
                return None, f"{where} (not answering: {e.strerror or e})"
        try:
            client = docker.DockerClient(base_url=self.docker_host, timeout=30) \
                if self.docker_host else docker.from_env(timeout=30)
        except docker.errors.DockerException as e:
            return None, f"{where} (not answering: {e})"
        try:
            found = client.images.get(ref)
            archive = self.cache / (found.id.removeprefix("sha256:") + ".tar")
            if not archive.exists():
                self.cache.mkdir(parents=True, exist_ok=True)
                partial = archive.with_suffix(".partial")
                with partial.open("wb") as f:
                    for chunk in found.save(named=ref if ref in found.tags else True):
                        f.write(chunk)
                partial.rename(archive)
        except docker.errors.ImageNotFound:
            return None, f"{where} (no such image)"
        except docker.errors.APIError as e:
            raise ImageError(f"saving {ref} from {where}: {e}") from None
        except (docker.errors.DockerException, OSError) as e:
            return None, f"{where} (not answering: {e})"
        finally:
            client.close()
        for image in read_archive(archive):
            if image.id == found.id:
                return replace(image, ref=ref), ""
        raise ImageError(f"{archive}: the engine saved no image {found.id}")
