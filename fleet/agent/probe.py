"""Reads the board: /proc, a memory cgroup, statvfs, its sensors (fleet.agent.board), dockerd.

The IO edge of the heartbeat: each reader that fails becomes a line in the
heartbeat's `problems`, never an exception, so a board with a dead dockerd
or a missing sensor still reports everything else. A Jetson's GPU and power
come from sysfs, as tegrastats reads them, so no child process runs per
heartbeat and no root is needed; a replayed tree may give tegrastats'
captured output instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fleet.agent import readings
from fleet.agent.board import CAPTURED_DF, Board
from fleet.agent.engine import Engine, EngineError
from fleet.agent.hardware import JetsonStats, input_power_mw, main_temperature, parse_throttled
from fleet.agent.heartbeat import Readings
from fleet.agent.readings import CpuTimes, Disk, Memory
from fleet.wire import Containers, Gpu

COMMAND_TIMEOUT_S = 2.0


def _read(path: Path) -> str:
    return path.read_text()


class Probe:
    """One round of readings per call; keeps the previous CPU times for the delta."""

    def __init__(self, *, engine: Engine, disk_path: str | None,
                 memory_cgroup: Path | None = None,
                 root: Path = Path("/"), vcgencmd: str | None = None) -> None:
        self._engine = engine
        self._disk_path = disk_path
        self._cgroup = memory_cgroup
        self._proc = root / "proc"
        self._board = Board(root)
        self._vcgencmd = vcgencmd
        self.model = self._board.model()  # read once: a board does not change what it is
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
        captured = self._board.captured_tegrastats()
        temps = self._board.temperatures() or (captured.temps_c if captured else {})
        return Readings(
            cpu_pct=cpu, load1=load1, memory=self._memory(problems, captured),
            disk=self._disk(problems),
            temp_c=main_temperature(temps), temps=temps, throttled=self._throttled(problems),
            gpu=self._gpu(captured), containers=self._containers(problems), model=self.model,
            problems=tuple(problems),
        )

    def _gpu(self, captured: JetsonStats | None) -> Gpu | None:
        if captured is not None and captured.gpu_load_pct is not None:
            return Gpu(load_pct=min(100, captured.gpu_load_pct), power_mw=captured.power_in_mw,
                       freq_mhz=captured.gpu_freq_mhz, rails_mw=captured.rails_mw)
        found = self._board.gpu()
        if found is None:
            return None  # not a Jetson
        load, freq_mhz = found
        rails = self._board.rails()
        return Gpu(load_pct=round(load, 1), power_mw=input_power_mw(rails), freq_mhz=freq_mhz,
                   rails_mw=rails)

    def _memory(self, problems: list[str], captured: JetsonStats | None = None) -> Memory:
        try:
            host = readings.parse_meminfo(_read(self._proc / "meminfo"))
        except (OSError, ValueError) as e:
            if captured is not None:  # a replayed Jetson: tegrastats' RAM is /proc/meminfo's
                return Memory(used_mb=captured.ram_used_mb, total_mb=captured.ram_total_mb)
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
        if self._disk_path is None:
            return self._captured_disk(problems)
        try:
            st = os.statvfs(self._disk_path)
        except OSError as e:
            problems.append(f"disk: {self._disk_path}: {e.strerror}")
            return Disk(0, 0, 0)
        return readings.disk_usage(st.f_blocks, st.f_bfree, st.f_bavail, st.f_frsize)

    def _captured_disk(self, problems: list[str]) -> Disk:
        """A replayed board's disk, from its captured df; never this machine's."""
        text = self._board.captured(CAPTURED_DF)
        if text is None:
            problems.append(f"disk: unknown (no {CAPTURED_DF} in the replayed tree)")
            return Disk(0, 0, 0)
        try:
            return readings.parse_df(text)
        except ValueError as e:
            problems.append(f"disk: {CAPTURED_DF}: {e}")
            return Disk(0, 0, 0)

    def _throttled(self, problems: list[str]) -> tuple[str, ...] | None:
        """From the firmware's sysfs file; vcgencmd (a child process) only where it is absent."""
        try:
            text = self._board.throttle_word()
            if text is None and self._vcgencmd:
                text = subprocess.run([self._vcgencmd, "get_throttled"], capture_output=True,
                                      text=True, timeout=COMMAND_TIMEOUT_S, check=True).stdout
            if text is None:
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
