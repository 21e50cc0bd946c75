"""Images as values: read from docker-archive files, compared with what a board has, checked.

A layer is identified the way `docker load` does: by its *chain id*, the hash
of its own diff_id and every layer under it. `docker load` skips a layer's
file only when that chain already exists, so a diff_id present on the board
under another base still has to be sent (checked on docker 20.10).

Everything here is pure except `ImageSource`, which reads archive files and,
when an image is in none of them, saves it from the local docker engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import posixpath
import re
import socket
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from fleet.config.paths import image_archives, image_cache
from fleet.errors import ImageError
from fleet.model import Arch

MB = 1 << 20
# A staged copy of the new layers, then docker's own: `docker load` untars what it is
# given under its data root before unpacking. The staged copy is deleted as it is read
# (push.py), so the peak is the engine's two copies, about twice the new layers' bytes.
DISK_FACTOR = 2
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PLAIN_LAYERS = ("application/vnd.oci.image.layer.v1.tar",
                 "application/vnd.docker.image.rootfs.diff.tar")


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of an image: its content hash, its identity in the image, where its bytes are."""

    diff_id: str  # sha256 of the layer tar, as the config lists it
    chain_id: str  # diff_id with every layer under it: what `docker load` looks for
    size: int  # bytes of the layer tar
    member: str  # its name in the archive
    offset: int = 0  # where its bytes start in the archive file

    @property
    def hex(self) -> str:
        return self.diff_id.removeprefix("sha256:")


@dataclass(frozen=True, slots=True)
class Image:
    """An image in a docker-archive file: what it is, for which platform, made of which layers."""

    ref: str
    id: str  # sha256 of its config
    arch: Arch
    os: str
    layers: tuple[Layer, ...]
    archive: Path
    config_member: str

    @property
    def size(self) -> int:
        """Bytes of its layers (each distinct one once), as a full `docker save` carries them."""
        return sum({layer.diff_id: layer.size for layer in self.layers}.values())

    @property
    def hex(self) -> str:
        return self.id.removeprefix("sha256:")


def normalize_ref(ref: str) -> str:
    """`busybox` -> `busybox:latest`, Docker Hub's implied prefixes dropped, as docker shows it."""
    ref = ref.strip()
    for prefix in ("docker.io/library/", "docker.io/"):
        ref = ref.removeprefix(prefix)
    if "@" not in ref and ":" not in ref.rpartition("/")[2] and not DIGEST.fullmatch(ref):
        ref += ":latest"
    return ref


def chain_ids(diff_ids: Sequence[str]) -> tuple[str, ...]:
    """The chain id of each layer: the first is its diff_id, then sha256("PARENT DIFF")."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(diff_id if not chains else
                      "sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return tuple(chains)


def missing(image: Image, present: Iterable[str]) -> tuple[Layer, ...]:
    """The layers the board lacks (by chain id), bottom first, each distinct file once."""
    have = frozenset(present)
    wanted: dict[str, Layer] = {}
    for layer in image.layers:
        if layer.chain_id not in have:
            wanted.setdefault(layer.diff_id, layer)
    return tuple(wanted.values())


def needed_mb(new_bytes: int) -> int:
    """Disk the new layers take on the board while they are loaded (see DISK_FACTOR)."""
    return math.ceil(DISK_FACTOR * new_bytes / MB)


def refusal(image: Image, device_arch: Arch, free_mb: int, keep_free_mb: int,
            present: Iterable[str] = ()) -> str | None:
    """Why the image must not be sent to this board, or None. `present`: its chain ids."""
    if image.arch is not device_arch:
        return f"image {image.ref} is {image.arch}, device is {device_arch}"
    needs = needed_mb(sum(layer.size for layer in missing(image, present)))
    if needs and free_mb - needs < keep_free_mb:
        return (f"image {image.ref} needs {needs} MB for new layers (staged and unpacked), "
                f"{free_mb} MB free, {keep_free_mb} MB kept free")
    return None


def read_archive(path: Path) -> tuple[Image, ...]:
    """Every image in a docker-archive (docker's legacy layout or its OCI one), once per tag."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            if "manifest.json" in members:
                return tuple(_docker_images(path, tar, members))
            if "index.json" in members:
                return tuple(_oci_images(path, tar, members))
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{path}: not a readable image archive ({e})") from None
    except (AttributeError, KeyError, TypeError) as e:  # JSON of the wrong shape
        raise ImageError(f"{path}: malformed image metadata ({e!r})") from None
    raise ImageError(f"{path}: not an image archive (no manifest.json or index.json)")


def _docker_images(path: Path, tar: tarfile.TarFile,
                   members: Mapping[str, tarfile.TarInfo]) -> Iterable[Image]:
    manifest = _read_json(path, tar, members, "manifest.json")
    if not isinstance(manifest, list):
        raise ImageError(f"{path}: manifest.json is not a list")
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise ImageError(f"{path}: manifest.json entry without Config and Layers")
        yield from _images(path, tar, members, str(entry.get("Config")),
                           [str(name) for name in entry["Layers"]], entry.get("RepoTags") or [])


def _oci_images(path: Path, tar: tarfile.TarFile,
                members: Mapping[str, tarfile.TarInfo]) -> Iterable[Image]:
    """An OCI layout without docker's manifest.json (skopeo, buildah): uncompressed layers only."""
    index = _read_json(path, tar, members, "index.json")
    for descriptor in index.get("manifests", []) if isinstance(index, dict) else []:
        annotations = descriptor.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") \
            or annotations.get("org.opencontainers.image.ref.name")
        manifest = _read_json(path, tar, members, _blob(descriptor.get("digest")))
        if not isinstance(manifest, dict) or "config" not in manifest:
            raise ImageError(f"{path}: {descriptor.get('digest')} is not an image manifest "
                             "(a multi-platform index?): save one platform's image")
        layers = manifest.get("layers", [])
        compressed = [d.get("mediaType") for d in layers
                      if d.get("mediaType") not in _PLAIN_LAYERS]
        if compressed:
            raise ImageError(f"{path}: layers of type {compressed[0]}: fleet sends uncompressed "
                             "layers; `docker load` the archive and push it by its tag")
        yield from _images(path, tar, members, _blob(manifest["config"].get("digest")),
                           [_blob(d.get("digest")) for d in layers], [name] if name else [])


def _images(path: Path, tar: tarfile.TarFile, members: Mapping[str, tarfile.TarInfo],
            config_member: str, layer_members: list[str], tags: list[Any]) -> Iterable[Image]:
    raw = _read(path, tar, members, config_member)
    image_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        config = json.loads(raw)
        diff_ids = [str(d) for d in config["rootfs"]["diff_ids"]]
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"{path}: {config_member} is not an image config with "
                         "rootfs.diff_ids") from None
    if len(diff_ids) != len(layer_members):
        raise ImageError(f"{path}: {config_member} lists {len(diff_ids)} layers, "
                         f"the manifest {len(layer_members)}")
    layers = []
    for diff_id, chain, name in zip(diff_ids, chain_ids(diff_ids), layer_members, strict=True):
        if not DIGEST.fullmatch(diff_id):
            raise ImageError(f"{path}: {config_member}: {diff_id!r} is not a sha256 digest")
        member = _resolve(path, members, name)
        layers.append(Layer(diff_id, chain, member.size, name, member.offset_data))
    arch = _arch(path, config)
    base = Image(image_id, image_id, arch, str(config.get("os", "")), tuple(layers), path,
                 config_member)
    for tag in tags or [image_id]:
        yield replace(base, ref=normalize_ref(str(tag)))


def _arch(path: Path, config: Mapping[str, Any]) -> Arch:
    name, variant = str(config.get("architecture", "")), str(config.get("variant", "") or "")
    for candidate in (f"{name}/{variant}" if variant else name, "" if name == "arm" else name):
        try:
            return Arch.parse(candidate)
        except ValueError:
            continue
    platform = f"{name}/{variant}" if variant else name or "no architecture"
    raise ImageError(f"{path}: the image is for {platform}, which no fleet board runs "
                     f"(known: {', '.join(a.value for a in Arch)})")


def _blob(digest: object) -> str:
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise ImageError(f"OCI layout: {digest!r} is not a sha256 digest")
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _resolve(path: Path, members: Mapping[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo:
    """The member holding `name`'s bytes: docker's legacy layout links repeated layers."""
    for _ in range(8):
        member = members.get(name)
        if member is None:
            raise ImageError(f"{path}: the manifest names {name}, which the archive lacks")
        if member.isfile():
            return member
        if member.issym():
            name = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        elif member.islnk():
            name = member.linkname.removeprefix("./")
        else:
            break
    raise ImageError(f"{path}: {name} is not a regular file")


def _read(path: Path, tar: tarfile.TarFile, members: Mapping[str, tarfile.TarInfo],
          name: str) -> bytes:
    f = tar.extractfile(_resolve(path, members, name))
    assert f is not None  # _resolve returns regular files only
    return f.read()


def _read_json(path: Path, tar: tarfile.TarFile, members: Mapping[str, tarfile.TarInfo],
               name: str) -> Any:
    try:
        return json.loads(_read(path, tar, members, name))
    except ValueError:
        raise ImageError(f"{path}: {name} is not JSON") from None


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

    @classmethod
    def from_env(cls, archives: Iterable[Path] = (), environ: Mapping[str, str] = os.environ,
                 **kwargs: Any) -> ImageSource:
        """`archives` (e.g. --images), then $FLEET_IMAGES."""
        return cls([*archives, *image_archives(environ)], **kwargs)

    def find(self, ref: str) -> Image:
        """The image tagged `ref`; ImageError naming where it looked if there is none."""
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
                    return found[0]
        if self.engine:
            image, why = self._from_engine(wanted)
            if image is not None:
                return image
            looked.append(why)
        raise ImageError(f"image {wanted} not found; looked in: "
                         + ("; ".join(looked) or "nowhere (give --images DIR or $FLEET_IMAGES)"))

    def config(self, image: Image) -> bytes:
        """The image's config, as its id was computed from."""
        try:
            with tarfile.open(image.archive, "r:") as tar:
                members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
                return _read(image.archive, tar, members, image.config_member)
        except (OSError, tarfile.TarError) as e:
            raise ImageError(f"{image.archive}: reading {image.ref}'s config: {e}") from None

    def open_layer(self, image: Image, layer: Layer, offset: int = 0) -> BinaryIO:
        """The layer's bytes from `offset` on (a resumed transfer), as a file to read."""
        if not 0 <= offset <= layer.size:
            raise ValueError(f"offset {offset} outside layer {layer.hex[:12]} ({layer.size} B)")
        try:
            f = image.archive.open("rb")
        except OSError as e:
            raise ImageError(f"{image.archive}: {e.strerror}") from None
        f.seek(layer.offset + offset)
        return io.BufferedReader(_Window(f, layer.size - offset), 1 << 20)

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
