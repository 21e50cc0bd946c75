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
    if not (tmp_path / "proc").exists():
        fake_proc(tmp_path)
    options: dict[str, object] = dict(
        engine=Engine(str(tmp_path / "no-dockerd.sock")), disk_path=str(tmp_path),
        root=tmp_path)
    options.update(overrides)
    return Probe(**options)  # type: ignore[arg-type]


def write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


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
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    write(tmp_path, "sys/devices/platform/soc/soc:firmware/get_throttled", "50005\n")
    r = probe(tmp_path).read()
    assert r.temp_c == pytest.approx(48.312)
    assert r.temps == {"cpu-thermal": pytest.approx(48.312)}
    assert r.throttled and "under_voltage" in r.throttled


def test_the_throttle_word_is_found_through_the_firmware_driver(tmp_path: Path) -> None:
    write(tmp_path, "sys/bus/platform/drivers/raspberrypi-firmware/soc@107c000000:firmware/"
          "get_throttled", "0\n")
    assert probe(tmp_path).read().throttled == ()


def vcgencmd(tmp_path: Path) -> str:
    exe = tmp_path / "vcgencmd"
    exe.write_text("#!/bin/sh\necho throttled=0x80008\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_vcgencmd_only_where_the_sysfs_file_is_absent(tmp_path: Path) -> None:
    r = probe(tmp_path, vcgencmd=vcgencmd(tmp_path)).read()
    assert r.throttled == ("soft_temp_limit", "soft_temp_limit_since_boot")
    write(tmp_path, "sys/devices/platform/soc/soc:firmware/get_throttled", "0\n")
    assert probe(tmp_path, vcgencmd=vcgencmd(tmp_path)).read().throttled == ()


def test_a_jetson_gpu_and_rails_from_sysfs(tmp_path: Path) -> None:
    gpu = "sys/class/devfreq/17000000.ga10b"
    write(tmp_path, f"{gpu}/device/of_node/name", "ga10b\0")
    write(tmp_path, f"{gpu}/device/load", "372\n")
    write(tmp_path, f"{gpu}/cur_freq", "305000000\n")
    hwmon = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for channel, (label, mv, ma) in enumerate(
            [("VDD_GPU_SOC", 5008, 468), ("VDD_CPU_CV", 5008, 79), ("VIN_SYS_5V0", 5000, 463)],
            start=1):
        write(tmp_path, f"{hwmon}/in{channel}_label", f"{label}\n")
        write(tmp_path, f"{hwmon}/in{channel}_input", f"{mv}\n")
        write(tmp_path, f"{hwmon}/curr{channel}_input", f"{ma}\n")
    write(tmp_path, "sys/bus/i2c/drivers/ina3221/1-0041/hwmon/hwmon4/in1_label", "NC\n")
    r = probe(tmp_path).read()
    assert r.gpu is not None
    assert (r.gpu.load_pct, r.gpu.freq_mhz) == (37.2, 305)
    assert r.gpu.rails_mw == {"VDD_GPU_SOC": 2343, "VDD_CPU_CV": 395, "VIN_SYS_5V0": 2315}
    assert r.gpu.power_mw == 2343 + 395 + 2315  # AGX Orin has no input rail: the sum


def test_a_jetson_zone_without_a_sensor_is_left_out(tmp_path: Path) -> None:
    for zone, (kind, temp) in enumerate([("cv0-thermal", "-256000"), ("cpu-thermal", "47500"),
                                         ("gpu-thermal", "")]):
        write(tmp_path, f"sys/class/thermal/thermal_zone{zone}/type", f"{kind}\n")
        write(tmp_path, f"sys/class/thermal/thermal_zone{zone}/temp", temp)
    r = probe(tmp_path).read()
    assert r.temps == {"cpu-thermal": 47.5}
    assert r.temp_c == 47.5


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
