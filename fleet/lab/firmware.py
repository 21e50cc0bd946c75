"""What a lab device says it is, as a real board says it: its device tree, L4T release and RAM.

A Raspberry Pi or Jetson names itself in its device tree's `model` property
(/sys/firmware/devicetree/base/model, NUL-terminated as the kernel holds it); a
Jetson's JetPack also writes /etc/nv_tegra_release; and /proc/meminfo's MemTotal
says how much RAM it has. A lab device shows all three in its own mount
namespace (fleet.lab.device mounts them): a read-only /sys/firmware holding
`devicetree/base/model`, a private /etc (an overlay on the host's, written on
the device's card) holding the release file, and a /proc/meminfo whose MemTotal
is its profile's RAM. The host's own /etc, /sys and /proc are never touched.

Limits, as far as a lab on one host can go: /proc/device-tree (on a board a
link the kernel makes in procfs) cannot be added to procfs, so a lab device has
only the /sys path, which is where a board's link points; and /proc/meminfo is
a snapshot taken when the device is made (MemTotal exact, the free figures
capped by it), while a device's containers see the host's /proc and report the
memory their cgroup uses, as the lab agent always has.

The text is made here (pure); `write` puts the files in the device's directory.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from fleet import profiles
from fleet.lab.spec import LabDevice, LabSpec

# Each profile's model string, as its board's device tree has it (tests/data/boards/SOURCES.md
# and tests/unit/test_boards.py's cases): the revision most sold with that much RAM.
MODELS = {
    "pi-zero-2w": "Raspberry Pi Zero 2 W Rev 1.0",
    "pi3b": "Raspberry Pi 3 Model B Rev 1.2",
    "pi3b-plus": "Raspberry Pi 3 Model B Plus Rev 1.3",
    "pi4b-1g": "Raspberry Pi 4 Model B Rev 1.1",
    "pi4b-2g": "Raspberry Pi 4 Model B Rev 1.2",
    "pi4b-4g": "Raspberry Pi 4 Model B Rev 1.4",
    "pi4b-8g": "Raspberry Pi 4 Model B Rev 1.5",
    "pi5-4g": "Raspberry Pi 5 Model B Rev 1.0",
    "pi5-8g": "Raspberry Pi 5 Model B Rev 1.0",
    "pi5-16g": "Raspberry Pi 5 Model B Rev 1.1",
    "jetson-nano-4g": "NVIDIA Jetson Nano Developer Kit",
    "jetson-xavier-nx-8g": "NVIDIA Jetson Xavier NX Developer Kit",
    "jetson-agx-xavier-32g": "Jetson-AGX",
    "jetson-agx-xavier-64g": "Jetson-AGX",
    "jetson-orin-nano-4g": "NVIDIA Orin Nano Developer Kit",
    "jetson-orin-nano-8g": "NVIDIA Orin Nano Developer Kit",
    "jetson-orin-nx-8g": "NVIDIA Orin NX Developer Kit",
    "jetson-orin-nx-16g": "NVIDIA Orin NX Developer Kit",
    "jetson-agx-orin-32g": "NVIDIA Jetson AGX Orin Developer Kit",
    "jetson-agx-orin-64g": "NVIDIA Jetson AGX Orin Developer Kit",
}
# /etc/nv_tegra_release's first line: the Nano's last JetPack 4 (L4T R32.7.1), and JetPack
# 5.1.2 (R35.4.1), which every Xavier and Orin runs and whose model strings are those above.
L4T_R32 = ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, "
           "DATE: Sat Feb 19 17:05:08 UTC 2022")
L4T_R35 = ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
           "DATE: Tue Aug  1 19:57:35 UTC 2023")
DEVICE_TREE_DIR = "devicetree/base"  # under /sys/firmware
_MEMINFO_LINE = re.compile(r"^([A-Za-z0-9_()]+):(\s+)(\d+) kB$")
assert set(MODELS) == set(profiles.PROFILES)


def model(device: LabDevice) -> str:
    """The device tree's model: the one the lab was told to give it, else its profile's."""
    return device.model if device.model is not None else MODELS[device.profile]


def device_tree_model(text: str) -> bytes:
    """The `model` property's bytes: the string and its terminating NUL."""
    return text.encode() + b"\0"


def tegra_release(device: LabDevice) -> str | None:
    """A Jetson's /etc/nv_tegra_release, from its profile (its model aside); None off a Jetson."""
    if profiles.get(device.profile).gpu is None:
        return None
    return (L4T_R32 if device.profile == "jetson-nano-4g" else L4T_R35) + "\n"


def meminfo(host: str, total_mb: int) -> str:
    """The host's /proc/meminfo with MemTotal the board's RAM and no other figure above it."""
    total_kb = total_mb * 1024
    lines = []
    for line in host.splitlines():
        found = _MEMINFO_LINE.match(line)
        if found:
            key, space, value = found.groups()
            kb = str(total_kb if key == "MemTotal" else min(int(value), total_kb))
            line = f"{key}:{' ' * max(1, len(space) + len(value) - len(kb))}{kb} kB"
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


# -- IO: the files in the device's directory, and how its namespace mounts them ------------

def write(spec: LabSpec, device: LabDevice) -> list[str]:
    """Write the device's firmware, /etc layer and meminfo; the shell steps that mount them.

    They run first in the device's new mount namespace, before anything covers
    the lab's own directory."""
    d = spec.device_dir(device)
    firmware = d / "firmware"
    tree = firmware / DEVICE_TREE_DIR
    tree.mkdir(parents=True, exist_ok=True)
    _write(tree / "model", device_tree_model(model(device)), 0o444)
    # The /etc layer is on the device's card: what a board writes in /etc fills its card.
    upper, work = d / "root" / ".etc" / "upper", d / "root" / ".etc" / "work"
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    release = tegra_release(device)
    if release is not None:
        _write(upper / "nv_tegra_release", release.encode(), 0o644)
    total = profiles.get(device.profile).total.mem_mb
    _write(d / "meminfo", meminfo(Path("/proc/meminfo").read_text(), total).encode(), 0o444)
    q = shlex.quote
    return [
        f"mount -t overlay overlay -o {q(f'lowerdir=/etc,upperdir={upper},workdir={work}')} /etc",
        f"mount --bind {q(str(firmware))} /sys/firmware",
        "mount -o remount,bind,ro /sys/firmware",
        f"mount --bind {q(str(d / 'meminfo'))} /proc/meminfo",
    ]


def _write(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
