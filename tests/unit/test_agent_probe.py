"""The probe on a fake /proc, fake cgroups and a dead dockerd: problems, never exceptions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fleet.agent.engine import Engine
from fleet.agent.probe import Probe

STAT_BEFORE = "cpu  100 0 100 700 100 0 0 0 0 0\n"
STAT_AFTER = "cpu  200 0 200 1400 200 0 0 0 0 0\n"  # 200 busy of 1000 jiffies
MEMINFO = "MemTotal: 24683520 kB\nMemFree: 1000000 kB\nMemAvailable: 20000000 kB\n"


def fake_proc(root: Path) -> Path:
    proc = root / "proc"
    proc.mkdir()
    (proc / "stat").write_text(STAT_BEFORE)
    (proc / "loadavg").write_text("1.50 1.00 0.50 2/300 4000\n")
    (proc / "meminfo").write_text(MEMINFO)
    return proc


def probe(tmp_path: Path, **overrides: object) -> Probe:
    options: dict[str, object] = dict(
        engine=Engine(str(tmp_path / "no-dockerd.sock")), disk_path=str(tmp_path),
        proc=fake_proc(tmp_path), thermal_zone=tmp_path / "temp",
        throttle_file=tmp_path / "get_throttled")
    options.update(overrides)
    return Probe(**options)  # type: ignore[arg-type]


def test_a_board_without_sensors_or_dockerd(tmp_path: Path) -> None:
    p = probe(tmp_path)
    (tmp_path / "proc" / "stat").write_text(STAT_AFTER)
    r = p.read()
    assert r.cpu_pct == pytest.approx(20.0) and r.load1 == 1.5
    assert (r.memory.used_mb, r.memory.total_mb) == ((24683520 - 20000000) // 1024, 24105)
    assert r.disk.total_mb > 0
    assert (r.temp_c, r.throttled, r.gpu, r.containers) == (None, None, None, None)
    assert [p.split(":")[0] for p in r.problems] == ["docker"]


def test_pi_sensors_from_sysfs(tmp_path: Path) -> None:
    (tmp_path / "temp").write_text("48312\n")
    (tmp_path / "get_throttled").write_text("50005\n")
    r = probe(tmp_path).read()
    assert r.temp_c == pytest.approx(48.312)
    assert r.throttled and "under_voltage" in r.throttled


def test_vcgencmd_is_preferred(tmp_path: Path) -> None:
    vcgencmd = tmp_path / "vcgencmd"
    vcgencmd.write_text("#!/bin/sh\necho throttled=0x80008\n")
    vcgencmd.chmod(vcgencmd.stat().st_mode | stat.S_IXUSR)
    r = probe(tmp_path, vcgencmd=str(vcgencmd)).read()
    assert r.throttled == ("soft_temp_limit", "soft_temp_limit_since_boot")


def test_cgroup_v2_memory(tmp_path: Path) -> None:
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.current").write_text(f"{300 * 2**20}\n")
    (cgroup / "memory.max").write_text(f"{8192 * 2**20}\n")
    r = probe(tmp_path, memory_cgroup=cgroup).read()
    assert (r.memory.used_mb, r.memory.total_mb) == (300, 8192)


def test_cgroup_v1_memory(tmp_path: Path) -> None:
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.usage_in_bytes").write_text(f"{500 * 2**20}\n")
    (cgroup / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {200 * 2**20}\n")
    (cgroup / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    r = probe(tmp_path, memory_cgroup=cgroup).read()
    assert (r.memory.used_mb, r.memory.total_mb) == (300, 24105)


def test_an_unreadable_cgroup_falls_back_to_the_host_and_says_so(tmp_path: Path) -> None:
    r = probe(tmp_path, memory_cgroup=tmp_path / "gone").read()
    assert r.memory.total_mb == 24105
    assert any(p.startswith("memory cgroup:") for p in r.problems)


def test_a_missing_disk_path_is_a_problem(tmp_path: Path) -> None:
    r = probe(tmp_path, disk_path=os.fspath(tmp_path / "unmounted")).read()
    assert r.disk.total_mb == 0
    assert any(p.startswith("disk:") for p in r.problems)
