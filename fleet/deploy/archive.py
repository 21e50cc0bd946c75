"""Reading image archives: docker's legacy layout, its OCI one, skopeo's and buildah's oci-archive.

Every name and size in an archive is hostile until checked: JSON members are
read up to MAX_JSON, a member count is bounded, a name or link that would lead
out of the archive (absolute, `..`) is refused, digests must be sha256. A
multi-platform index yields one image per platform whose blobs the archive
holds (a partial save skips the rest); attestation manifests are not images.
A layer's compression is told by its first bytes, as `docker load` tells it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleet.deploy import inflate
from fleet.deploy.imagemodel import DIGEST, PLAIN, Image, Layer, chain_ids, normalize_ref
from fleet.errors import ImageError
from fleet.model import Arch

MAX_JSON = 8 << 20  # a manifest, index or config; registries refuse far smaller ones
MAX_MEMBERS = 200_000
MAX_DEPTH = 4  # an index of indexes of ...
_MANIFESTS = frozenset({"application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json"})
_INDEXES = frozenset({"application/vnd.oci.image.index.v1+json",
                      "application/vnd.docker.distribution.manifest.list.v2+json"})
_LAYERS = frozenset(f"{base}{suffix}" for base, suffixes in (
    ("application/vnd.oci.image.layer.v1.tar", ("", "+gzip", "+zstd")),
    ("application/vnd.oci.image.layer.nondistributable.v1.tar", ("", "+gzip", "+zstd")),
    ("application/vnd.docker.image.rootfs.diff.tar", ("", ".gzip", ".zstd")),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar", ("", ".gzip")),
) for suffix in suffixes)
Members = Mapping[str, tarfile.TarInfo]


def read_archive(path: Path) -> tuple[Image, ...]:
    """Every image in an archive, once per tag and platform."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = _members(path, tar)
            if "manifest.json" in members:
                return _with_platforms(_docker_images(path, tar, members))
            if "index.json" in members:
                return _with_platforms(_oci_images(path, tar, members))
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{path}: not a readable image archive ({e})") from None
    except (AttributeError, KeyError, TypeError) as e:  # JSON of the wrong shape
        raise ImageError(f"{path}: malformed image metadata ({e!r})") from None
    raise ImageError(f"{path}: not an image archive (no manifest.json or index.json)")


def read_member(path: Path, member: str, limit: int = MAX_JSON) -> bytes:
    """One file of the archive (an image's config), at most `limit` bytes."""
    try:
        with tarfile.open(path, "r:") as tar:
            return _read(path, tar, _members(path, tar), member, limit)
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{path}: reading {member}: {e}") from None


def _members(path: Path, tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar:
        if len(members) >= MAX_MEMBERS:
            raise ImageError(f"{path}: more than {MAX_MEMBERS} files: not an image archive")
        members.setdefault(member.name.removeprefix("./"), member)
    return members


def _with_platforms(images: Iterable[Image]) -> tuple[Image, ...]:
    """Each image knowing every platform its ref has here; one image per ref and platform."""
    unique = {(i.ref, i.arch): i for i in reversed(list(images))}
    found = list(reversed(unique.values()))
    platforms: dict[str, list[Arch]] = {}
    for image in found:
        platforms.setdefault(image.ref, []).append(image.arch)
    return tuple(replace(i, platforms=tuple(platforms[i.ref])) for i in found)


def _docker_images(path: Path, tar: tarfile.TarFile, members: Members) -> Iterable[Image]:
    manifest = _read_json(path, tar, members, "manifest.json")
    if not isinstance(manifest, list):
        raise ImageError(f"{path}: manifest.json is not a list")
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise ImageError(f"{path}: manifest.json entry without Config and Layers")
        yield from _images(path, tar, members, str(entry.get("Config")),
                           [(str(name), "") for name in entry["Layers"]],
                           entry.get("RepoTags") or [])


def _oci_images(path: Path, tar: tarfile.TarFile, members: Members) -> Iterable[Image]:
    """An OCI layout without docker's manifest.json (skopeo, buildah, containerd)."""
    index = _read_json(path, tar, members, "index.json")
    for descriptor in _descriptors(path, index, "index.json"):
        annotations = descriptor.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") \
            or annotations.get("org.opencontainers.image.ref.name")
        for manifest in _manifests(path, tar, members, descriptor, 0):
            layers = manifest.get("layers", [])
            for d in layers:
                if d.get("mediaType") not in _LAYERS:
                    raise ImageError(f"{path}: a layer of type {d.get('mediaType')!r}, which "
                                     "docker load cannot read (encrypted? not an image?)")
            yield from _images(path, tar, members, _blob(manifest["config"].get("digest")),
                               [(_blob(d.get("digest")), str(d.get("digest"))) for d in layers],
                               [name] if name else [])


def _descriptors(path: Path, index: Any, name: str) -> list[dict[str, Any]]:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not all(isinstance(d, dict) for d in manifests):
        raise ImageError(f"{path}: {name} has no list of manifests")
    return manifests


def _manifests(path: Path, tar: tarfile.TarFile, members: Members,
               descriptor: Mapping[str, Any], depth: int) -> Iterable[dict[str, Any]]:
    """The image manifests a descriptor leads to: itself, or an index's (recursively)."""
    if depth > MAX_DEPTH:
        raise ImageError(f"{path}: indexes nested more than {MAX_DEPTH} deep")
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    if "vnd.docker.reference.type" in annotations or platform.get("os") == "unknown":
        return  # buildx's attestations: provenance, SBOM
    blob = _blob(descriptor.get("digest"))
    if blob not in members and depth > 0:
        return  # a platform this (partial) save left out
    manifest = _read_json(path, tar, members, blob)
    kind = descriptor.get("mediaType") or (manifest.get("mediaType")
                                           if isinstance(manifest, dict) else None)
    if kind in _INDEXES or (isinstance(manifest, dict) and "manifests" in manifest
                            and "config" not in manifest):
        for child in _descriptors(path, manifest, blob):
            yield from _manifests(path, tar, members, child, depth + 1)
    elif isinstance(manifest, dict) and isinstance(manifest.get("config"), dict) \
            and (kind is None or kind in _MANIFESTS):
        yield manifest
    else:
        raise ImageError(f"{path}: {descriptor.get('digest')} is neither an image manifest "
                         f"nor an index (media type {kind!r})")


def _images(path: Path, tar: tarfile.TarFile, members: Members, config_member: str,
            layer_members: list[tuple[str, str]], tags: list[Any]) -> Iterable[Image]:
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
    for diff_id, chain, (name, digest) in zip(diff_ids, chain_ids(diff_ids), layer_members,
                                              strict=True):
        if not DIGEST.fullmatch(diff_id):
            raise ImageError(f"{path}: {config_member}: {diff_id!r} is not a sha256 digest")
        layers.append(_layer(path, tar, members, diff_id, chain, name, digest))
    arch = _arch(path, config)
    base = Image(image_id, image_id, arch, str(config.get("os", "")), tuple(layers), path,
                 config_member)
    for tag in tags or [image_id]:
        yield replace(base, ref=normalize_ref(str(tag)))


def _layer(path: Path, tar: tarfile.TarFile, members: Members, diff_id: str, chain: str,
           name: str, digest: str) -> Layer:
    member = _resolve(path, members, name)
    f = tar.extractfile(member)
    assert f is not None  # _resolve returns regular files only
    compression = inflate.detect(f.read(8))
    if compression == PLAIN:
        return Layer(diff_id, chain, member.size, name, member.offset_data)
    if not digest and name.startswith("blobs/sha256/"):
        digest = "sha256:" + name.removeprefix("blobs/sha256/")
    # Its plain size is known once it is inflated and checked (ImageSource does, once).
    return Layer(diff_id, chain, 0, name, member.offset_data, compression, member.size,
                 digest if DIGEST.fullmatch(digest) else "")


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


def _inside(path: Path, name: str) -> str:
    """`name` normalised, if it stays inside the archive."""
    normal = posixpath.normpath(name.removeprefix("./"))
    if name.startswith("/") or normal == ".." or normal.startswith("../"):
        raise ImageError(f"{path}: {name!r} points outside the archive")
    return normal


def _resolve(path: Path, members: Members, name: str) -> tarfile.TarInfo:
    """The member holding `name`'s bytes: docker's legacy layout links repeated layers."""
    name = _inside(path, name)
    for _ in range(8):
        member = members.get(name)
        if member is None:
            raise ImageError(f"{path}: the manifest names {name}, which the archive lacks")
        if member.isfile():
            return member
        if member.issym():
            name = _inside(path, posixpath.join(posixpath.dirname(name), member.linkname))
        elif member.islnk():
            name = _inside(path, member.linkname)
        else:
            break
    raise ImageError(f"{path}: {name} is not a regular file")


def _read(path: Path, tar: tarfile.TarFile, members: Members, name: str,
          limit: int = MAX_JSON) -> bytes:
    member = _resolve(path, members, name)
    if member.size > limit:
        raise ImageError(f"{path}: {name} is {member.size} bytes, more than the "
                         f"{limit} an image's metadata may take")
    f = tar.extractfile(member)
    assert f is not None  # _resolve returns regular files only
    return f.read(limit)


def _read_json(path: Path, tar: tarfile.TarFile, members: Members, name: str) -> Any:
    try:
        return json.loads(_read(path, tar, members, name))
    except ValueError:
        raise ImageError(f"{path}: {name} is not JSON") from None
