"""Which hardware profile a board is, from what it says about itself. No IO.

A board names itself in its device tree (`/proc/device-tree/model`: "Raspberry
Pi 4 Model B Rev 1.4", "NVIDIA Jetson Xavier NX Developer Kit", "Jetson-AGX").
That names the family, not the memory: a Pi 4B's string is the same for 1, 2, 4
and 8 GB, an Orin NX's for 8 and 16 GB, so `MemTotal` picks the size; it is a
little under the RAM sold (firmware and carve-outs), so the size is the
smallest one sold that holds it. A Jetson's `/etc/nv_tegra_release` ("# R32
(release), REVISION: 7.1, ...") says which L4T it runs, which must be one the
family runs (no Orin runs R32, no Nano R35).

`identify` returns the profile, or none with the reason: an unknown model, a
size with no profile, a contradiction. It never guesses. The strings are read
from boards (over mDNS, SSH or a heartbeat) and are treated as hostile: they
are only matched, never run or trusted to be well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleet.profiles import PROFILES

# One SSH round trip, no sudo: the device tree's model (its trailing NUL dropped), the first
# line of the L4T release file if any, and MemTotal. Fixed text: nothing from a board in it.
PROBE_COMMAND = (
    "for f in /proc/device-tree/model /sys/firmware/devicetree/base/model; do "
    "[ -r \"$f\" ] && { tr -d '\\000' < \"$f\"; break; }; done; echo; "
    "echo '### tegra'; head -n 1 /etc/nv_tegra_release 2>/dev/null; "
    "echo '### mem'; grep '^MemTotal:' /proc/meminfo"
)
_MAX_TEXT = 128  # a model string or release line longer than this is cut
_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
_MEM_TOTAL = re.compile(r"MemTotal:\s*(\d{1,12})\s*kB")


@dataclass(frozen=True, slots=True)
class BoardFacts:
    """What a board says it is; empty or None where it says nothing."""

    model: str = ""
    mem_total_mb: int | None = None  # MemTotal, MiB
    tegra_release: str = ""  # the first line of /etc/nv_tegra_release


@dataclass(frozen=True, slots=True)
class Identity:
    """The profile a board is (None if fleet cannot tell, and `reason` says why)."""

    profile: str | None
    candidates: tuple[str, ...]  # the profiles its model allows, memory aside
    reason: str

    def proposal(self, configured: str | None = None) -> str | None:
        """The profile to propose: the one it is, else `configured` if its model allows that."""
        if self.profile is not None:
            return self.profile
        return configured if configured in self.candidates else None

    def disagrees(self, profile: str) -> bool:
        """True only when the board is known not to be `profile`; unknown is no disagreement."""
        if self.profile is not None:
            return self.profile != profile
        return bool(self.candidates) and profile not in self.candidates


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    pattern: re.Pattern[str]
    sizes: Mapping[int, str | None]  # RAM sold, MiB -> the profile for it (None: no profile)
    l4t: tuple[int, ...] = ()  # the L4T majors it runs; () for a Raspberry Pi


def _family(name: str, pattern: str, sizes: Mapping[int, str | None],
            l4t: tuple[int, ...] = ()) -> _Family:
    return _Family(name, re.compile(pattern, re.IGNORECASE), sizes, l4t)


_GB = 1024
# Most specific first: "Jetson Nano 2GB" before "Jetson Nano", "3 Model B Plus" before "3 Model B".
# JetPack 4 is L4T R32, JetPack 5 R34/R35, JetPack 6 R36.
_FAMILIES = (
    _family("Raspberry Pi Zero 2 W", r"^Raspberry Pi Zero 2 W\b", {512: "pi-zero-2w"}),
    _family("Raspberry Pi 3 Model B+", r"^Raspberry Pi 3 Model B(?: Plus|\+)",
            {_GB: "pi3b-plus"}),
    _family("Raspberry Pi 3 Model B", r"^Raspberry Pi 3 Model B\b", {_GB: "pi3b"}),
    _family("Raspberry Pi 4 Model B", r"^Raspberry Pi 4 Model B\b",
            {_GB: "pi4b-1g", 2 * _GB: "pi4b-2g", 4 * _GB: "pi4b-4g", 8 * _GB: "pi4b-8g"}),
    _family("Raspberry Pi 5", r"^Raspberry Pi 5\b",
            {_GB: None, 2 * _GB: None, 4 * _GB: "pi5-4g", 8 * _GB: "pi5-8g",
             16 * _GB: "pi5-16g"}),
    _family("Jetson Nano 2GB", r"\bJetson Nano 2GB\b", {2 * _GB: None}, (32,)),
    _family("Jetson Nano", r"\bJetson Nano\b", {4 * _GB: "jetson-nano-4g"}, (32,)),
    _family("Jetson Xavier NX", r"\bXavier NX\b",
            {8 * _GB: "jetson-xavier-nx-8g", 16 * _GB: None}, (32, 35)),
    _family("Jetson AGX Xavier", r"^Jetson-AGX$|\bAGX Xavier\b",
            {8 * _GB: None, 32 * _GB: "jetson-agx-xavier-32g", 64 * _GB: "jetson-agx-xavier-64g"},
            (32, 35)),
    _family("Jetson Orin Nano", r"\bOrin Nano\b",
            {4 * _GB: "jetson-orin-nano-4g", 8 * _GB: "jetson-orin-nano-8g"}, (35, 36)),
    _family("Jetson Orin NX", r"\bOrin NX\b",
            {8 * _GB: "jetson-orin-nx-8g", 16 * _GB: "jetson-orin-nx-16g"}, (35, 36)),
    _family("Jetson AGX Orin", r"\bAGX Orin\b",
            {32 * _GB: "jetson-agx-orin-32g", 64 * _GB: "jetson-agx-orin-64g"}, (34, 35, 36)),
)
assert all(p is None or p in PROFILES for f in _FAMILIES for p in f.sizes.values())


def clean(text: str) -> str:
    """A board's string fit to match and show: printable, one line, trimmed, bounded."""
    printable = "".join(c if c.isprintable() else " " for c in text[:4 * _MAX_TEXT])
    return " ".join(printable.split())[:_MAX_TEXT]


def parse_probe(output: bytes) -> BoardFacts:
    """What PROBE_COMMAND printed -> BoardFacts. Anything malformed is left out, never raised."""
    text = output[:8192].decode("utf-8", "replace").replace("\0", "")
    model, _, rest = text.partition("### tegra")
    tegra, _, mem = rest.partition("### mem")
    found = _MEM_TOTAL.search(mem)
    return BoardFacts(model=clean(model), tegra_release=clean(tegra),
                      mem_total_mb=int(found.group(1)) // 1024 if found else None)


def identify(facts: BoardFacts) -> Identity:
    """The profile this board is, or None and why."""
    model = clean(facts.model)
    release = _L4T.search(facts.tegra_release)
    l4t = f"L4T R{release.group(1)}.{release.group(2)}" if release else ""
    family = next((f for f in _FAMILIES if f.pattern.search(model)), None)
    if family is None:
        what = f"model {model!r}" if model else "no device-tree model"
        if not release:
            return Identity(None, (), f"{what} is not a board fleet has a profile for")
        # Its L4T release still says it is a Jetson, and which ones run that release.
        jetsons = tuple(p for f in _FAMILIES if int(release.group(1)) in f.l4t
                        for p in f.sizes.values() if p is not None)
        return Identity(None, jetsons, f"{what}, but {l4t}: a Jetson, which one fleet "
                                       "cannot tell")
    candidates = tuple(p for p in family.sizes.values() if p is not None)
    if release and int(release.group(1)) not in family.l4t:
        runs = (", ".join(f"R{m}" for m in family.l4t) if family.l4t
                else "no L4T: it is not a Jetson")
        return Identity(None, candidates, f"{model!r} says {family.name}, but the board runs "
                                          f"{l4t}; {family.name} runs {runs}")
    return _by_memory(family, model, facts.mem_total_mb, candidates)


def _by_memory(family: _Family, model: str, mem_total_mb: int | None,
               candidates: tuple[str, ...]) -> Identity:
    sizes = sorted(family.sizes)
    if mem_total_mb is None:
        if len(sizes) == 1 and candidates:
            return Identity(candidates[0], candidates, f"{model!r} is a {family.name}")
        return Identity(None, candidates, f"{model!r} is a {family.name}, which comes in "
                                          f"{_sizes(sizes)}; its memory total is unknown")
    size = next((s for s in sizes if mem_total_mb <= s), None)
    if size is None or mem_total_mb <= size // 2:
        return Identity(None, candidates, f"{model!r} is a {family.name}, which comes in "
                                          f"{_sizes(sizes)}; MemTotal {mem_total_mb} MiB is "
                                          "none of them (a memory limit?)")
    profile = family.sizes[size]
    if profile is None:
        return Identity(None, candidates, f"a {_sizes([size])} {family.name}: fleet has no "
                                          "profile for it")
    return Identity(profile, candidates, f"{model!r} with MemTotal {mem_total_mb} MiB is a "
                                         f"{_sizes([size])} {family.name}")


def _sizes(sizes: list[int]) -> str:
    texts = [f"{s // _GB} GB" if s >= _GB else f"{s} MB" for s in sizes]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
