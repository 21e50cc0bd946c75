"""Images and their layers as values, and the ids docker gives them.

A layer's identity is its diff_id, the sha256 of its *uncompressed* tar, however
an archive stores it (plain, gzip, zstd...). What reaches a board is what its
`docker load` can read: docker 20.10 inflates gzip, bzip2 and xz itself
(pkg/archive's DecompressStream), zstd only from docker 23 on, so a zstd layer
is inflated on the controller and sent as a plain tar.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.model import Arch

MB = 1 << 20
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PLAIN, GZIP, BZIP2, XZ, ZSTD = "", "gzip", "bzip2", "xz", "zstd"
COMPRESSIONS = (PLAIN, GZIP, BZIP2, XZ, ZSTD)
# What the boards' engine (docker 20.10) inflates by itself in `docker load`.
LOADABLE = frozenset({PLAIN, GZIP, BZIP2, XZ})


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of an image: its content hash, its identity in the image, where its bytes are."""

    diff_id: str  # sha256 of the uncompressed layer tar, as the config lists it
    chain_id: str  # diff_id with every layer under it: what `docker load` looks for
    size: int  # bytes of the uncompressed tar; 0 for a compressed one not yet inflated
    member: str  # its name in the archive
    offset: int = 0  # where its bytes start in the archive file
    compression: str = PLAIN  # how the archive stores it
    stored: int = -1  # bytes it takes in the archive (-1: size, it is plain)
    digest: str = ""  # sha256 of the stored bytes, when compressed and known

    @property
    def hex(self) -> str:
        return self.diff_id.removeprefix("sha256:")

    @property
    def stored_size(self) -> int:
        return self.size if self.stored < 0 else self.stored

    @property
    def sent_compressed(self) -> bool:
        """Sent as stored (docker inflates it), rather than as the plain tar."""
        return self.compression != PLAIN and self.compression in LOADABLE

    @property
    def sent_size(self) -> int:
        """Bytes a push sends for the whole layer."""
        return self.stored_size if self.sent_compressed else self.size

    @property
    def sent_hex(self) -> str:
        """sha256 of what a push sends: the board checks its staged copy against it."""
        return self.digest.removeprefix("sha256:") if self.sent_compressed else self.hex


@dataclass(frozen=True, slots=True)
class Image:
    """An image in an archive file: what it is, for which platform, made of which layers."""

    ref: str
    id: str  # sha256 of its config
    arch: Arch
    os: str
    layers: tuple[Layer, ...]
    archive: Path
    config_member: str
    # Every platform the archive has this ref for (a multi-platform index), its own included.
    platforms: tuple[Arch, ...] = ()

    @property
    def size(self) -> int:
        """Bytes of its layers (each distinct one once), uncompressed."""
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
