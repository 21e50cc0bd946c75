"""What can be reclaimed on a board, and what never may: a scan in, reclaimable items out.

Pure: `playbooks/scan.sh` measures and `fleet/deploy/scan.py` reads its answer
into a `Scan`; `reclaimable` decides, item by item, with the reason for what
it keeps; `for_policy` picks the items the controller applies on its own.

The safety rules, each a test in tests/unit/test_cleanup.py:
- a running container, the current revision of a fleet service (even
  stopped) and the one kept for rollback (`NAME.prev`) are never removed,
  nor any image one of them uses;
- an image the controller plans to run is kept; so is one whose removal
  frees nothing (a base of a kept image);
- volumes only when asked for (`--volumes`, after a confirmation), and only
  those no container mounts;
- temporary files only in /tmp and /var/tmp, older than the threshold (the
  scan lists only those) and open by no process;
- nothing outside the categories: every item names its category, and the
  apply playbook re-checks each rule before it acts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

MB = 1 << 20
PREVIOUS = ".prev"  # fleet/deploy/facts.py: the suffix of the revision kept for rollback
TMP_DIRS = ("/tmp/", "/var/tmp/")
CORE_DIRS = ("/var/lib/systemd/coredump/", "/var/crash/")
STAGING_DIR = "/var/lib/fleet/incoming/"


class Category(StrEnum):
    """What fills a board; the order is the order the apply playbook works in.

    Plain files go first: deleting them needs no space, so on a 100 % full card
    they make room for what dockerd must write to remove containers and images.
    """

    TMP = "tmp"                          # files in /tmp and /var/tmp older than the threshold
    CORES = "cores"                      # core dumps (systemd-coredump, apport)
    APT = "apt"                          # downloaded packages in apt's cache
    JOURNAL = "journal"                  # the systemd journal beyond its kept size
    STAGING = "staging"                  # layers staged by a push that never finished
    LOGS = "logs"                        # running containers' logs (truncated in place)
    STOPPED = "stopped"                  # stopped containers: others', and orphaned rollbacks
    OLD_REVISIONS = "old-revisions"      # images of fleet's services older than the kept two
    UNUSED_IMAGES = "unused-images"      # other tagged images nothing runs, keeps or plans
    DANGLING = "dangling"                # untagged images no container uses
    VOLUMES = "volumes"                  # volumes no container mounts


ORDER = tuple(Category)
# Without --category: everything but volumes, which hold data.
DEFAULT = frozenset(Category) - {Category.VOLUMES}
# What the controller reclaims on its own: what fleet made or is plain junk.
# Others' stopped containers and tagged images are the user's to judge.
SAFE = frozenset({Category.TMP, Category.CORES, Category.APT, Category.JOURNAL,
                  Category.STAGING, Category.LOGS, Category.OLD_REVISIONS, Category.DANGLING})


@dataclass(frozen=True, slots=True)
class Disk:
    total: int
    used: int  # bytes

    def pct(self, used: int | None = None) -> float:
        return 100.0 * (self.used if used is None else used) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    name: str
    running: bool
    image: str  # the image id
    stack: str = ""  # fleet.stack label: fleet made it
    size_rw: int = 0  # bytes in its writable layer
    log: int = 0  # bytes in its current log file
    rotated_logs: int = 0  # bytes in its rotated log files
    volumes: tuple[str, ...] = ()  # the named volumes it mounts


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    tags: tuple[str, ...]
    layers: tuple[str, ...]  # chain ids, bottom first


@dataclass(frozen=True, slots=True)
class File:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Scan:
    """One board's answer to the scan playbook."""

    device: str
    now: float  # the board's clock, for file ages
    disk: Disk
    containers: tuple[Container, ...] = ()
    images: tuple[Image, ...] = ()
    layer_sizes: Mapping[str, int] = field(default_factory=dict)  # chain id -> bytes
    volumes: Mapping[str, int] = field(default_factory=dict)  # name -> bytes
    tmp: tuple[File, ...] = ()  # only files older than the threshold asked for
    open_files: frozenset[str] = frozenset()
    journal: int | None = None  # bytes; None: no journal directory
    apt: int = 0
    cores: tuple[File, ...] = ()
    staging: tuple[File, ...] = ()  # directories: size is du's, mtime the newest
    tools: frozenset[str] = frozenset()  # journalctl, apt-get: what the board has


@dataclass(frozen=True, slots=True)
class Rules:
    """What to reclaim; the thresholds are the scan's and the decision's alike."""

    categories: frozenset[Category] = DEFAULT
    tmp_age_days: float = 7.0
    staging_age_days: float = 1.0
    journal_keep_mb: int = 100
    log_min_mb: int = 1  # a running container's log smaller than this is left alone
    planned: frozenset[str] = frozenset()  # image ids or refs the controller means to run here


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to reclaim: the apply playbook's call is `fleet_<category> target`."""

    category: Category
    target: str  # a container or image id, a path, a volume name, or bytes to keep
    label: str  # what a person reads: a name, a tag, a path
    bytes: int


@dataclass(frozen=True, slots=True)
class Kept:
    label: str
    why: str


@dataclass(frozen=True, slots=True)
class Reclaim:
    device: str
    disk: Disk
    items: tuple[Item, ...]
    kept: tuple[Kept, ...]

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    def by_category(self) -> dict[Category, tuple[int, int]]:
        """Category -> (items, bytes), in the playbook's order."""
        out = tally((i.category, i.bytes) for i in self.items)
        return {c: out[c] for c in ORDER if c in out}

    @property
    def used_after(self) -> int:
        return max(0, self.disk.used - self.bytes)

    def only(self, items: Iterable[Item]) -> Reclaim:
        return Reclaim(self.device, self.disk, tuple(items), self.kept)


K = TypeVar("K")


def tally(sizes: Iterable[tuple[K, int]]) -> dict[K, tuple[int, int]]:
    """(key, bytes) pairs -> key -> (how many, bytes in all), keys in first-seen order."""
    out: dict[K, tuple[int, int]] = {}
    for key, size in sizes:
        n, total = out.get(key, (0, 0))
        out[key] = (n + 1, total + size)
    return out


def reclaimable(scan: Scan, rules: Rules = Rules()) -> Reclaim:
    """Every item the rules allow, in the playbook's order, and what was kept and why."""
    wanted = rules.categories
    kept: list[Kept] = []
    items: list[Item] = []
    items += _files(scan, rules, kept)
    removed = _containers(scan, rules, items, kept)
    items += _images(scan, rules, removed, kept)
    items += _volumes(scan, wanted, removed, kept)
    order = {c: n for n, c in enumerate(ORDER)}
    items.sort(key=lambda i: (order[i.category], -i.bytes, i.label))
    return Reclaim(scan.device, scan.disk, tuple(i for i in items if i.category in wanted),
                   tuple(kept))


def _files(scan: Scan, rules: Rules, kept: list[Kept]) -> list[Item]:
    items = []
    cutoff = scan.now - rules.tmp_age_days * 86400
    for f in scan.tmp:
        if not f.path.startswith(TMP_DIRS) or "/../" in f.path:
            kept.append(Kept(f.path, "not in /tmp or /var/tmp"))
        elif f.path in scan.open_files:
            kept.append(Kept(f.path, "open by a process"))
        elif f.mtime > cutoff:
            kept.append(Kept(f.path, f"younger than {rules.tmp_age_days:g} days"))
        else:
            items.append(Item(Category.TMP, f.path, f.path, f.size))
    items += [Item(Category.CORES, f.path, f.path, f.size) for f in scan.cores
              if f.path.startswith(CORE_DIRS) and f.path not in scan.open_files]
    if scan.apt and "apt-get" in scan.tools:
        items.append(Item(Category.APT, "clean", "apt-get clean", scan.apt))
    keep = rules.journal_keep_mb * MB
    if scan.journal is not None and scan.journal > keep:
        if "journalctl" in scan.tools:
            items.append(Item(Category.JOURNAL, str(keep),
                              f"journal down to {rules.journal_keep_mb} MB", scan.journal - keep))
        else:
            kept.append(Kept("journal", "no journalctl to vacuum it with"))
    staged = scan.now - rules.staging_age_days * 86400
    items += [Item(Category.STAGING, f.path, f.path, f.size) for f in scan.staging
              if f.path.startswith(STAGING_DIR) and f.mtime <= staged]
    return items


def _containers(scan: Scan, rules: Rules, items: list[Item],
                kept: list[Kept]) -> frozenset[str]:
    """Adds the container and log items; returns the ids of the containers they remove."""
    names = {c.name for c in scan.containers}
    removed = set()
    for c in scan.containers:
        if c.running:
            kept.append(Kept(c.name, "running"))
            if c.log >= rules.log_min_mb * MB:
                items.append(Item(Category.LOGS, c.id, f"{c.name} log", c.log))
        elif c.stack and not c.name.endswith(PREVIOUS):
            kept.append(Kept(c.name, f"the current revision of stack {c.stack}"))
        elif c.stack and c.name.removesuffix(PREVIOUS) in names:
            kept.append(Kept(c.name, "kept for rollback"))
        else:
            # Another's stopped container, or a rollback copy whose container is gone.
            items.append(Item(Category.STOPPED, c.id, c.name, c.size_rw + c.log + c.rotated_logs))
            if Category.STOPPED in rules.categories:
                removed.add(c.id)
    return frozenset(removed)


def _images(scan: Scan, rules: Rules, removed: frozenset[str], kept: list[Kept]) -> list[Item]:
    """Images no remaining container uses, none planned; each with the bytes it alone frees.

    A layer is freed when the last image holding it goes, so images are taken
    in the playbook's order and each is credited with the layers it is the
    last to hold: the sum is exact, however the images share layers.
    """
    staying = [c for c in scan.containers if c.id not in removed]
    used = {c.image: c for c in sorted(staying, key=lambda c: c.running)}  # running ones win
    fleet_repos = {_repo(t) for i in scan.images if i.id in used and used[i.id].stack
                   for t in i.tags}
    holders = Counter(layer for i in scan.images for layer in set(i.layers))
    candidates: list[tuple[Category, Image]] = []
    for image in scan.images:
        label = image.tags[0] if image.tags else image.id[:19]
        if not image.tags and _build_step(image, scan.images):
            continue
        if image.id in used:
            c = used[image.id]
            why = ("used by a running container" if c.running else
                   "used by the rollback copy" if c.name.endswith(PREVIOUS) and c.stack else
                   f"used by the stopped container {c.name}")
            kept.append(Kept(label, why))
        elif image.id in rules.planned or rules.planned.intersection(image.tags):
            kept.append(Kept(label, "planned to run here"))
        elif not image.tags:
            candidates.append((Category.DANGLING, image))
        elif {_repo(t) for t in image.tags} & fleet_repos:
            candidates.append((Category.OLD_REVISIONS, image))
        else:
            candidates.append((Category.UNUSED_IMAGES, image))
    order = {c: n for n, c in enumerate(ORDER)}
    items = []
    for category, image in sorted(candidates, key=lambda ci: order[ci[0]]):
        if category not in rules.categories:
            continue
        freed = 0
        for layer in set(image.layers):
            holders[layer] -= 1
            if holders[layer] == 0:
                freed += scan.layer_sizes.get(layer, 0)
        label = image.tags[0] if image.tags else image.id[:19]
        if freed:
            items.append(Item(category, image.id, label, freed))
        else:
            kept.append(Kept(label, "frees nothing: its layers are a kept image's"))
    return items


def _build_step(image: Image, images: Iterable[Image]) -> bool:
    """Whether `image` is a step of another's local build (its layers begin the other's):
    it goes with the image it built and frees nothing alone, so nobody need hear of it."""
    n = len(image.layers)
    return any(other.id != image.id and other.layers[:n] == image.layers for other in images)


def _repo(tag: str) -> str:
    """`reg:5000/shop/web:1.2` -> `reg:5000/shop/web`."""
    name, colon, version = tag.rpartition(":")
    return name if colon and "/" not in version else tag


def _volumes(scan: Scan, wanted: frozenset[Category], removed: frozenset[str],
             kept: list[Kept]) -> list[Item]:
    mounted = {v for c in scan.containers if c.id not in removed for v in c.volumes}
    items = []
    for name, size in sorted(scan.volumes.items()):
        if name in mounted:
            kept.append(Kept(f"volume {name}", "mounted by a container"))
        elif Category.VOLUMES not in wanted:
            kept.append(Kept(f"volume {name}", "volumes only with --volumes"))
        else:
            items.append(Item(Category.VOLUMES, name, f"volume {name}", size))
    return items


@dataclass(frozen=True, slots=True)
class Policy:
    """The controller's: above `high_pct` of the disk, reclaim safe items down to `low_pct`."""

    high_pct: float = 85.0
    low_pct: float = 80.0
    categories: frozenset[Category] = SAFE

    def __post_init__(self) -> None:
        if not 0 < self.low_pct < self.high_pct <= 100:
            raise ValueError(f"cleanup policy: expected 0 < low ({self.low_pct:g} %) "
                             f"< high ({self.high_pct:g} %) <= 100")

    def due(self, used: int, total: int) -> bool:
        return total > 0 and 100.0 * used / total > self.high_pct


def for_policy(reclaim: Reclaim, policy: Policy) -> Reclaim:
    """The policy's categories, until the disk would be at or below the low-water mark."""
    return down_to(reclaim, reclaim.disk.total * policy.low_pct / 100, policy.categories)


def down_to(reclaim: Reclaim, used: float, categories: frozenset[Category] = SAFE) -> Reclaim:
    """`categories`' items, in order (biggest first within each), until the disk would
    hold at most `used` bytes; the fewest items that get there, or all there are."""
    left = reclaim.disk.used
    chosen = []
    for item in reclaim.items:
        if left <= used:
            break
        if item.category in categories:
            chosen.append(item)
            left -= item.bytes
    return reclaim.only(chosen)


def due(disks: Mapping[str, tuple[int, int]], policy: Policy, *, now: float,
        busy: Collection[str] = (), last_run: Mapping[str, float] | None = None,
        cooldown_s: float = 600.0) -> list[str]:
    """The devices to clean now: above the high-water mark by their latest (used, total)
    bytes, not being cleaned, and not cleaned within `cooldown_s` (their next readings
    may not show it yet, and a disk that stays full must not be scanned on every beat)."""
    last_run = last_run or {}
    return sorted(d for d, (used, total) in disks.items()
                  if policy.due(used, total) and d not in busy
                  and now - last_run.get(d, -cooldown_s) >= cooldown_s)
