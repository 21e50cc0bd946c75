"""What a registry says an image is: its reference's parts, its manifest or index, and the
variant each board's platform will run: the pure half of what fleet knows of registries
(`fleet.deploy.registry_client` is the HTTP edge that feeds it).

It reads a reference as docker does and parses what the Docker Registry
HTTP API v2 / OCI distribution spec serves (an image manifest, an OCI image index or a
docker manifest list, an image config), then picks an index's entry for a board's
platform as a board's dockerd does (arm/v7 takes v6 or v5 when there is no v7). Every
byte is hostile: media types checked, digests and sizes validated and bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.deploy.images import DIGEST, chain_ids
from fleet.errors import RegistryError
from fleet.model import Arch

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's API answers
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                "application/vnd.docker.container.image.v1+json")
MANIFEST_MAX = 4 << 20  # what distribution itself accepts for a manifest
CONFIG_MAX = 8 << 20
TOKEN_MAX = 64 << 10
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*"
                   r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?")
# What a board of each arch runs, best first (docker's platform matcher on the board).
_RUNS = {Arch.AMD64: (("amd64", ""),), Arch.ARM64: (("arm64", ""), ("arm64", "v8")),
         Arch.ARMV7: (("arm", "v7"), ("arm", ""), ("arm", "v6"), ("arm", "v5"))}


@dataclass(frozen=True, slots=True)
class Reference:
    """An image reference's parts: `ghcr.io/home-assistant/home-assistant:stable`."""

    registry: str  # host[:port]; docker.io when the name has none
    repository: str  # library/busybox on Docker Hub for `busybox`
    tag: str = "latest"
    digest: str = ""
    explicit: bool = False  # the name itself says which registry

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def wanted(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        tail = f"@{self.digest}" if self.digest else f":{self.tag}"
        return f"{self.registry}/{self.repository}{tail}"


def parse_reference(text: str) -> Reference:
    """A reference read as docker reads it: the first component is a registry host when it
    has a dot or a port or is `localhost`; else the name is on Docker Hub (`library/` for
    a one-part name). Raises RegistryError for a name docker would refuse."""
    rest, _, digest = text.strip().partition("@")
    if digest and not DIGEST.fullmatch(digest):
        raise RegistryError(f"image {text!r}: {digest!r} is not a sha256 digest")
    first, slash, after = rest.partition("/")
    explicit = bool(slash) and ("." in first or ":" in first or first == "localhost")
    registry, path = (first, after) if explicit else (DOCKER_HUB, rest)
    name, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if not colon:
        tag = "" if digest else "latest"
    if registry == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    if not _HOST.fullmatch(registry) or not _REPOSITORY.fullmatch(name) \
            or (tag and not _TAG.fullmatch(tag)):
        raise RegistryError(f"image {text!r} is not a valid reference "
                            "([registry/]repository[:tag][@sha256:...], lower case)")
    return Reference(registry, name, tag, digest, explicit)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content: what type it is, its digest and size, and for an index entry,
    the platform it is for."""

    media_type: str
    digest: str
    size: int
    platform: tuple[str, str, str] = ("", "", "")  # os, architecture, variant

    @property
    def platform_name(self) -> str:
        return "/".join(p for p in self.platform if p)


@dataclass(frozen=True, slots=True)
class Variant:
    """One platform's image: its manifest, config (whose digest is the image's id once
    pulled) and layers, compressed as the registry serves them."""

    arch: Arch
    manifest: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]

    @property
    def image_id(self) -> str:
        return self.config.digest

    @property
    def download_bytes(self) -> int:
        """What a pull downloads: every layer compressed, and the config."""
        return self.config.size + sum(layer.size for layer in self.layers)

    def missing_bytes(self, present: Iterable[str]) -> int:
        """What a board whose layers' chain ids are `present` downloads (compressed)."""
        have = frozenset(present)
        lacking = [layer.size for layer, chain in zip(self.layers, chain_ids(self.diff_ids),
                                                      strict=True) if chain not in have]
        return self.config.size + sum(lacking) if lacking else 0


@dataclass(frozen=True, slots=True)
class Resolved:
    """An image as its registry has it: one variant per platform fleet boards run."""

    ref: Reference
    digest: str  # of the manifest or index the tag names
    index: bool
    variants: Mapping[Arch, Variant] = field(default_factory=dict)
    offered: tuple[str, ...] = ()  # every platform the registry has it for, for messages

    @property
    def archs(self) -> frozenset[Arch]:
        return frozenset(self.variants)

    def lacks(self, arch: Arch) -> str:
        """Why a board of `arch` cannot run it ("" if it can)."""
        if arch in self.variants:
            return ""
        return (f"{self.ref} has no variant for {arch} (the registry has it for "
                f"{', '.join(self.offered) or 'no platform'})")


def media_type(content_type: str, body: Mapping[str, Any], allowed: Iterable[str]) -> str:
    """The document's media type, from its Content-Type or its own `mediaType`, if allowed."""
    allowed = tuple(allowed)
    stated = content_type.split(";")[0].strip()
    inner = body.get("mediaType")
    kind = stated if stated in allowed else inner if isinstance(inner, str) else stated
    if kind not in allowed or (isinstance(inner, str) and inner != kind):
        raise RegistryError(f"a {stated or 'typeless'} document (mediaType {inner!r}), "
                            f"expected one of {', '.join(allowed)}")
    return kind


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        raise RegistryError(f"{what} is not JSON") from None
    if not isinstance(found, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return found


def descriptor(obj: object, what: str) -> Descriptor:
    """A descriptor, checked: a sha256 digest, a size in bounds, a media type."""
    if not isinstance(obj, dict):
        raise RegistryError(f"{what}: a descriptor that is not an object")
    digest, size, kind = obj.get("digest"), obj.get("size"), obj.get("mediaType")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise RegistryError(f"{what}: {str(digest)[:80]!r} is not a sha256 digest")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 40:
        raise RegistryError(f"{what}: size {str(size)[:20]!r} out of bounds")
    if not isinstance(kind, str) or len(kind) > 255:
        raise RegistryError(f"{what}: no media type")
    platform = obj.get("platform")
    platform = platform if isinstance(platform, dict) else {}
    parts = tuple(str(platform.get(k) or "")[:32] for k in ("os", "architecture", "variant"))
    return Descriptor(kind, digest, size, (parts[0], parts[1], parts[2]))


def parse_index(body: Mapping[str, Any]) -> tuple[Descriptor, ...]:
    entries = body.get("manifests")
    if not isinstance(entries, list) or len(entries) > 1024:
        raise RegistryError("an index without a list of manifests")
    return tuple(descriptor(e, f"index entry {n}") for n, e in enumerate(entries))


def parse_manifest(body: Mapping[str, Any]) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """An image manifest's config and layers (bottom first)."""
    config = descriptor(body.get("config"), "manifest config")
    if config.media_type not in CONFIG_TYPES:
        raise RegistryError(f"manifest config of type {config.media_type}: not an image")
    layers = body.get("layers")
    if not isinstance(layers, list) or len(layers) > 1024:
        raise RegistryError("a manifest without a list of layers")
    return config, tuple(descriptor(layer, f"layer {n}") for n, layer in enumerate(layers))


def parse_config(body: Mapping[str, Any]) -> tuple[tuple[str, str, str], tuple[str, ...]]:
    """An image config's platform (os, architecture, variant) and its layers' diff ids."""
    rootfs = body.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
            isinstance(d, str) and DIGEST.fullmatch(d) for d in diff_ids):
        raise RegistryError("image config without sha256 rootfs.diff_ids")
    parts = tuple(str(body.get(k) or "")[:32] for k in ("os", "architecture", "variant"))
    return (parts[0], parts[1], parts[2]), tuple(diff_ids)


def arch_of(platform: tuple[str, str, str]) -> Arch | None:
    """The fleet arch that runs an image of this platform best (None: no fleet board)."""
    os_name, architecture, variant = platform
    if os_name != "linux":
        return None
    for arch in Arch:
        if (architecture, variant) in _RUNS[arch]:
            return arch
    return None


def pick(entries: Iterable[Descriptor], arch: Arch) -> Descriptor | None:
    """The index entry a board of `arch` pulls: its best-matching Linux platform."""
    linux = [e for e in entries if e.platform[0] == "linux" and e.media_type in MANIFEST_TYPES]
    for wanted in _RUNS[arch]:
        for entry in linux:
            if entry.platform[1:] == wanted:
                return entry
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """A WWW-Authenticate header: its scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def registry_says(status: int, body: bytes) -> str:
    """Why a registry refused, from its error body ({"errors": [{"code", "message"}]})."""
    codes: list[str] = []
    try:
        errors = json.loads(body[:TOKEN_MAX]).get("errors", [])
        codes = [str(e.get("code")) for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        pass
    meaning = {"MANIFEST_UNKNOWN": "no such tag", "NAME_UNKNOWN": "no such repository",
               "UNAUTHORIZED": "unauthorised", "DENIED": "unauthorised (access denied)",
               "TOOMANYREQUESTS": "rate limited"}
    for code in codes:
        if code in meaning:
            return meaning[code]
    return {401: "unauthorised", 403: "unauthorised (access denied)",
            404: "no such tag or repository"}.get(status, f"HTTP {status}")
