"""Images a board pulls from their registry: which ones, what each board's variant costs,
and the pull itself, by the board's own dockerd over SSH.

Before planning, `sort` decides each image's transfer (fleet.deploy.transfer) and reads
every pulled image's manifest from its registry (fleet.deploy.registry_client), so
the plan places a service only on boards its image has a variant for, and the apply
step refuses a board before anything is sent if its variant is missing or its disk too
small. The disk a pull needs is counted from the registry's compressed sizes of the
layers the board lacks, times DISK_FACTOR (the download, then at least as much
unpacked; gzip'ed layers unpack to more, so it is an estimate, not a bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from fleet.config.paths import insecure_registries
from fleet.deploy import transfer
from fleet.deploy.facts import Facts
from fleet.deploy.images import MB, Image, ImageSource, needed_mb, normalize_ref
from fleet.deploy.registry import Resolved
from fleet.deploy.registry_client import Registry
from fleet.deploy.transfer import Transfer
from fleet.errors import ConfigError, ImageError, RegistryError
from fleet.fanout import Progress
from fleet.model import Arch, Service
from fleet.ssh import sudo
from fleet.ssh.connection import Connection


@dataclass(frozen=True, slots=True)
class Sorted:
    """Each image of a stack by how boards get it: pushed from here, or pulled."""

    pushed: Mapping[str, Image]  # ref -> the image here
    pulled: Mapping[str, Resolved]  # ref -> what its registry says it is
    how: Mapping[str, str]  # ref -> "pull from HOST" / "push: a local image", for the plan


def sort(services: Iterable[Service], source: ImageSource | None,
         registry: Registry | None = None, on_boards: Iterable[str] = ()) -> Sorted:
    """Decide every image's transfer; read the pulled ones' manifests (RegistryError names
    the registry and why it could not be read, unless a board has the image already).

    `on_boards`: the refs some board has. A name with no registry host found nowhere here
    but on a board is left to the boards that have it, as before registries."""
    boards = frozenset(on_boards)
    pushed: dict[str, Image] = {}
    pulled: dict[str, Resolved] = {}
    how: dict[str, str] = {}
    asked = {s.image: Transfer.asked(s.transfer) for s in services}
    for ref, wants in asked.items():
        local = _find(source, ref) if transfer.needs_local_lookup(ref, wants) or \
            wants is Transfer.PUSH else None
        there = ref in boards or normalize_ref(ref) in boards
        way, why = transfer.decide(ref, wants, local is not None or there)
        if way is Transfer.PUSH:
            if local is not None:
                pushed[ref] = local
            how[ref] = f"push: {why}"
            continue
        registry = registry or Registry(insecure_registries())
        try:
            pulled[ref] = registry.resolve(ref)
        except RegistryError as e:
            if not there:
                raise
            how[ref] = f"on the boards that have it ({e})"
            continue
        how[ref] = f"pull {why}"
    return Sorted(pushed, pulled, how)


def _find(source: ImageSource | None, ref: str) -> Image | None:
    if source is None:
        return None
    try:
        return source.find(ref)
    except ImageError:
        return None


def step_detail(resolved: Resolved, arch: Arch | None, present: Iterable[str]) -> str:
    """What the plan says of a pull on one board: where from, which variant, how much."""
    variant = resolved.variants.get(arch) if arch else None
    if variant is None:
        return f"from {resolved.ref.registry}, no variant for {arch}"
    return (f"from {resolved.ref.registry}, {arch} variant, "
            f"{variant.missing_bytes(present) / MB:.1f} MB compressed to download")


def pull_mb(resolved: Resolved, arch: Arch | None, present: Iterable[str]) -> int:
    variant = resolved.variants.get(arch) if arch else None
    return needed_mb(variant.missing_bytes(present)) if variant else 0


def refusal(resolved: Resolved, arch: Arch | None, free_mb: int, keep_free_mb: int,
            present: Iterable[str]) -> str | None:
    """Why the board must not pull this image (no variant, too little disk), or None."""
    if arch is None:
        return "fleet does not know the device's architecture"
    if resolved.lacks(arch):
        return resolved.lacks(arch)
    needs = pull_mb(resolved, arch, present)
    if needs and free_mb - needs < keep_free_mb:
        return (f"image {resolved.ref} needs about {needs} MB to pull (twice its "
                f"compressed layers), {free_mb} MB free, {keep_free_mb} MB kept free")
    return None


@dataclass(frozen=True, slots=True)
class PullResult:
    """One pull on one board: the image id it got and the bytes it downloaded (as the
    registry sized the layers it lacked), or why it failed."""

    device: str
    ref: str
    image_id: str
    download_bytes: int
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def pull(conn: Connection, resolved: Resolved, ref: str, arch: Arch, present: Iterable[str],
         *, pulled: Callable[[int], None] = lambda _n: None,
         clock: Callable[[], float] = time.monotonic, timeout: float = 1800) -> PullResult:
    """`docker pull` on the board, as root; its image id must be the variant planned."""
    variant = resolved.variants[arch]
    size = variant.missing_bytes(present)
    started = clock()
    result = sudo.run(conn, transfer.pull_command(ref), timeout=timeout)
    seconds = clock() - started
    if not result.ok:
        return PullResult(conn.device, ref, "", 0,
                          transfer.pull_failure(ref, (result.stderr or result.stdout).decode(
                              "utf-8", errors="replace")), seconds)
    got = result.text.strip().splitlines()[-1:] or [""]
    if got[0] != variant.image_id:
        return PullResult(conn.device, ref, got[0], size,
                          f"pulling {ref} from {resolved.ref.registry}: the board got "
                          f"{got[0][:19] or 'no image'}, the plan counted "
                          f"{variant.image_id[:19]} (the tag moved? plan again)", seconds)
    pulled(size)
    return PullResult(conn.device, ref, got[0], size, None, seconds)


def pull_all(conn: Connection, facts: Facts, pulls: Mapping[str, Resolved],
             progress: Progress) -> tuple[PullResult, ...]:
    """Each image the board pulls, in turn, told to `progress`; stops at the first failure."""
    done: list[PullResult] = []
    device = conn.device
    for ref, resolved in pulls.items():
        assert facts.arch is not None  # else refused before
        progress.expect(device, resolved.variants[facts.arch].missing_bytes(facts.layers))
        progress.stage(device, f"pulling {ref} from {resolved.ref.registry}")
        done.append(pull(conn, resolved, ref, facts.arch, facts.layers,
                              pulled=lambda n: progress.sent(device, n)))
        if not done[-1].ok:
            break
    return tuple(done)


def placed_where(service: Service, resolved: Resolved | None) -> Service:
    """The service, placed only on boards its registry image has a variant for."""
    if resolved is None:
        return service
    if not resolved.archs:
        raise ConfigError(f"service {service.name!r}: {resolved.ref} has no variant any fleet "
                          f"board runs (it has {', '.join(resolved.offered) or 'none'})")
    archs = resolved.archs & service.archs if service.archs else resolved.archs
    if not archs:
        raise ConfigError(f"service {service.name!r}: x-fleet arch / platform says "
                          f"{', '.join(sorted(service.archs))} but {resolved.ref} has "
                          f"{', '.join(resolved.offered)}")
    return replace(service, archs=archs)


def image_id(resolved: Resolved, arch: Arch | None) -> str:
    """The image id a board gets by pulling: its variant's config digest ("" if none)."""
    variant = resolved.variants.get(arch) if arch else None
    return variant.image_id if variant else ""
