"""Reads the board: /proc, a memory cgroup, statvfs, thermal and throttle sensors, tegrastats.

The IO edge of the heartbeat: each reader that fails becomes a line in the
heartbeat's `problems`, never an exception, so a board with a dead dockerd
or a missing sensor still reports everything else.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path

from fleet.agent import readings
from fleet.agent.engine import Engine, EngineError
from fleet.agent.hardware import parse_tegrastats, parse_thermal_zone, parse_throttled
from fleet.agent.heartbeat import Readings
from fleet.agent.readings import CpuTimes, Disk, Memory
from fleet.wire import Containers, Gpu

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
THROTTLE_FILE = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
COMMAND_TIMEOUT_S = 2.0


def _read(path: Path) -> str:
    return path.read_text()


class Tegrastats:
    """A long-running `tegrastats --interval MS` child; a thread keeps its latest line.

    Long-running because each tegrastats start costs a second of sampling.
    """

    def __init__(self, executable: str, interval_s: float) -> None:
        self._argv = [executable, "--interval", str(max(100, round(interval_s * 1000)))]
        self._latest: Gpu | None = None
        self._child: subprocess.Popen[str] | None = None

    @property
    def latest(self) -> Gpu | None:
        return self._latest

    def start(self) -> None:
        try:
            self._child = subprocess.Popen(self._argv, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL, text=True)
        except OSError as e:
            log.warning("tegrastats did not start: %s", e)
            return
        threading.Thread(target=self._follow, args=(self._child,), name="fleet-agent-tegrastats",
                         daemon=True).start()

    def _follow(self, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            try:
                stats = parse_tegrastats(line)
            except ValueError:
                continue
            self._latest = (None if stats.gpu_load_pct is None else
                            Gpu(load_pct=min(100, stats.gpu_load_pct), power_mw=stats.power_in_mw))
        self._latest = None  # it exited: no figure is better than a stale one

    def stop(self) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            self._child.wait(COMMAND_TIMEOUT_S)


class Probe:
    """One round of readings per call; keeps the previous CPU times for the delta."""

    def __init__(self, *, engine: Engine, disk_path: str, memory_cgroup: Path | None = None,
                 proc: Path = Path("/proc"), thermal_zone: Path = THERMAL_ZONE,
                 throttle_file: Path = THROTTLE_FILE, vcgencmd: str | None = None,
                 tegrastats: Tegrastats | None = None) -> None:
        self._engine = engine
        self._disk_path = disk_path
        self._cgroup = memory_cgroup
        self._proc = proc
        self._thermal_zone = thermal_zone
        self._throttle_file = throttle_file
        self._vcgencmd = vcgencmd
        self._tegrastats = tegrastats
        self._cpu: CpuTimes | None = self._cpu_times()

    def _cpu_times(self) -> CpuTimes | None:
        try:
            return readings.parse_proc_stat(_read(self._proc / "stat"))
        except (OSError, ValueError):
            return None

    def read(self) -> Readings:
        problems: list[str] = []
        before, self._cpu = self._cpu, self._cpu_times()
        cpu = readings.cpu_pct(before, self._cpu) if before and self._cpu else 0.0
        try:
            load1 = readings.parse_loadavg(_read(self._proc / "loadavg"))
        except (OSError, ValueError, IndexError):
            load1 = 0.0
        return Readings(
            cpu_pct=cpu, load1=load1, memory=self._memory(problems), disk=self._disk(problems),
            temp_c=self._temperature(), throttled=self._throttled(problems),
            gpu=self._tegrastats.latest if self._tegrastats else None,
            containers=self._containers(problems), problems=tuple(problems),
        )

    def _memory(self, problems: list[str]) -> Memory:
        try:
            host = readings.parse_meminfo(_read(self._proc / "meminfo"))
        except (OSError, ValueError) as e:
            problems.append(f"memory: {e}")
            return Memory(0, 0)
        if self._cgroup is None:
            return host
        try:
            return readings.cgroup_memory(*self._cgroup_usage(self._cgroup), host.total_mb)
        except (OSError, ValueError) as e:
            problems.append(f"memory cgroup: {e}")
            return host

    @staticmethod
    def _cgroup_usage(cgroup: Path) -> tuple[int, int | None]:
        if (cgroup / "memory.current").exists():  # cgroup v2
            return readings.parse_cgroup_v2(_read(cgroup / "memory.current"),
                                            _read(cgroup / "memory.max"))
        return readings.parse_cgroup_v1(_read(cgroup / "memory.usage_in_bytes"),
                                        _read(cgroup / "memory.stat"),
                                        _read(cgroup / "memory.limit_in_bytes"))

    def _disk(self, problems: list[str]) -> Disk:
        try:
            st = os.statvfs(self._disk_path)
        except OSError as e:
            problems.append(f"disk: {self._disk_path}: {e.strerror}")
            return Disk(0, 0, 0)
        return readings.disk_usage(st.f_blocks, st.f_bfree, st.f_bavail, st.f_frsize)

    def _temperature(self) -> float | None:
        try:
            return parse_thermal_zone(_read(self._thermal_zone))
        except (OSError, ValueError):
            return None  # no sensor (a lab device, a VM): not a problem

    def _throttled(self, problems: list[str]) -> tuple[str, ...] | None:
        try:
            if self._vcgencmd:
                text = subprocess.run([self._vcgencmd, "get_throttled"], capture_output=True,
                                      text=True, timeout=COMMAND_TIMEOUT_S, check=True).stdout
            elif self._throttle_file.exists():
                text = _read(self._throttle_file)
            else:
                return None  # not a Pi
            return parse_throttled(text).flags()
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            problems.append(f"throttled: {e}")
            return None

    def _containers(self, problems: list[str]) -> Containers | None:
        try:
            running, total = self._engine.containers()
        except EngineError as e:
            problems.append(f"docker: {e}")
            return None
        return Containers(running=running, total=total)
