"""The board's own files, read under a root: its model, thermal zones, throttle word, GPU, rails.

On a board the root is / inside the agent's container, which shows the host's
/proc and a read-only /sys, but masks /sys/firmware (so /proc/device-tree, a
link into it, is dangling): bootstrap.sh mounts the host's device tree
read-only at /fleet/device-tree instead. `fleet agent --once --root DIR` reads
a captured board's tree the same way. What a board gives only through a
command is replayed from that command's output, saved under DIR/captured/:
tegrastats.txt (`tegrastats`, its last line is read), vcgencmd-get_throttled.txt
(`vcgencmd get_throttled`, for a Pi with no get_throttled file, e.g. a Pi 5)
and df.txt (`df -Pk /var/lib/docker`, the disk a replay reports). Every file
here is world-readable on Raspberry Pi OS and JetPack, so the agent reads them
as nobody; a file that cannot be read is a sensor the board does not have,
never an error.
"""

from __future__ import annotations

from pathlib import Path

from fleet.agent.hardware import (
    JetsonStats,
    parse_cpuinfo_model,
    parse_device_tree_model,
    parse_nv_tegra_release,
    parse_tegrastats,
    parse_thermal_zone,
    temperatures,
)

DEVICE_TREE_MOUNT = "fleet/device-tree"
DEVICE_TREES = ("proc/device-tree", "sys/firmware/devicetree/base", DEVICE_TREE_MOUNT)
# The Pi firmware driver's file (raspberrypi-firmware, since the 4.14 kernels): under soc/ on
# the Pi 1-4, elsewhere on the Pi 5, so also found through the driver's own directory.
THROTTLE_FILES = ("sys/devices/platform/soc/soc:firmware/get_throttled",
                  "sys/bus/platform/drivers/raspberrypi-firmware/*/get_throttled")
THERMAL_ZONES = "sys/class/thermal"
# A Jetson's GPU is the devfreq device whose device-tree node is one of these (Nano: gpu,
# TX2: gp10b, Xavier: gv11b, Orin: ga10b); its `device/load` is per mille.
DEVFREQ = "sys/class/devfreq"
GPU_NODES = frozenset({"gpu", "gm20b", "gp10b", "gv11b", "ga10b"})
# INA3221 power monitors: JetPack 5 and 6 through hwmon (inN_label, mV and mA), JetPack 4
# through iio (rail_name_N and in_powerN_input in mW).
INA3221_HWMON = "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"
INA3221_IIO = "sys/bus/i2c/drivers/ina3221x/*/iio:device*"
CAPTURED_TEGRASTATS = "captured/tegrastats.txt"
CAPTURED_VCGENCMD = "captured/vcgencmd-get_throttled.txt"
CAPTURED_DF = "captured/df.txt"


def _text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _number(path: Path) -> int | None:
    text = _text(path)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


class Board:
    """Reads one board's files under `root` (/ on the board itself)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root

    def model(self) -> str | None:
        """The device tree's model, else the Pi kernel's cpuinfo Model, else the L4T release."""
        for tree in DEVICE_TREES:
            try:
                model = parse_device_tree_model((self.root / tree / "model").read_bytes())
            except OSError:
                continue
            if model:
                return model
        cpuinfo = _text(self.root / "proc/cpuinfo")
        release = _text(self.root / "etc/nv_tegra_release")
        return ((cpuinfo and parse_cpuinfo_model(cpuinfo))
                or (release and parse_nv_tegra_release(release)) or None)

    def temperatures(self) -> dict[str, float]:
        """Every thermal zone by its type, in zone order; zones with no reading left out."""
        zones = sorted(self.root.joinpath(THERMAL_ZONES).glob("thermal_zone*"),
                       key=lambda p: int(p.name.removeprefix("thermal_zone") or -1))
        return temperatures((self._zone_type(zone), self._zone_temp(zone)) for zone in zones)

    @staticmethod
    def _zone_type(zone: Path) -> str:
        return (_text(zone / "type") or zone.name).strip() or zone.name

    @staticmethod
    def _zone_temp(zone: Path) -> float | None:
        text = _text(zone / "temp")  # a sensor powered down answers EINVAL or ENODATA
        try:
            return parse_thermal_zone(text) if text else None
        except ValueError:
            return None

    def throttle_word(self) -> str | None:
        """The Pi firmware's throttle word as the sysfs file (or a captured vcgencmd) gives it.

        None off a Pi, and on a Pi whose kernel has no such file (the agent may then ask
        vcgencmd itself, fleet.agent.probe).
        """
        for pattern in THROTTLE_FILES:
            for path in sorted(self.root.glob(pattern)):
                text = _text(path)
                if text is not None:
                    return text
        return self.captured(CAPTURED_VCGENCMD)

    def captured(self, name: str) -> str | None:
        """A command's output saved in a replayed tree; never looked for on the board itself."""
        return None if self.root == Path("/") else _text(self.root / name)

    def gpu(self) -> tuple[float, int | None] | None:
        """A Jetson's GPU load (percent) and clock (MHz) from devfreq; None without one."""
        for device in sorted(self.root.joinpath(DEVFREQ).glob("*")):
            node = (_text(device / "device/of_node/name") or "").strip("\0\n ")
            load = _number(device / "device/load")
            if node in GPU_NODES and load is not None:
                hz = _number(device / "cur_freq")
                return min(100.0, load / 10), None if hz is None else hz // 1_000_000
        return None

    def rails(self) -> dict[str, int]:
        """Every INA3221 rail's power in mW; not-connected channels and the shunt sum left out."""
        rails: dict[str, int] = {}
        for hwmon in sorted(self.root.glob(INA3221_HWMON)):
            for label in sorted(hwmon.glob("in[1-3]_label")):
                channel = label.name.removesuffix("_label").removeprefix("in")
                name = (_text(label) or "").strip()
                millivolts = _number(hwmon / f"in{channel}_input")
                milliamps = _number(hwmon / f"curr{channel}_input")
                if name and name != "NC" and millivolts is not None and milliamps is not None:
                    rails[name] = millivolts * milliamps // 1000
        for iio in sorted(self.root.glob(INA3221_IIO)):
            for label in sorted(iio.glob("rail_name_*")):
                channel = label.name.removeprefix("rail_name_")
                name = (_text(label) or "").strip()
                power = _number(iio / f"in_power{channel}_input")
                if name and power is not None:
                    rails[name] = power
        return rails

    def captured_tegrastats(self) -> JetsonStats | None:
        """The last line of a captured `tegrastats` output, in a replayed tree."""
        text = self.captured(CAPTURED_TEGRASTATS)
        lines = [line for line in (text or "").splitlines() if line.strip()]
        try:
            return parse_tegrastats(lines[-1]) if lines else None
        except ValueError:
            return None
