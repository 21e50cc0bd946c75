"""The agent's Linux parsers, on real /proc and cgroup texts."""

from __future__ import annotations

import os
import subprocess

import pytest

from fleet.agent.readings import (
    CpuTimes,
    Disk,
    Memory,
    cgroup_memory,
    cpu_pct,
    disk_usage,
    parse_cgroup_v1,
    parse_cgroup_v2,
    parse_df,
    parse_loadavg,
    parse_meminfo,
    parse_proc_stat,
)

PROC_STAT = """\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
intr 199292 0 0
ctxt 12345
"""

MEMINFO = """\
MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    6000000 kB
Buffers:          100000 kB
Cached:          2000000 kB
"""

CGROUP_V1_STAT = """\
cache 104857600
rss 52428800
total_cache 104857600
total_inactive_file 83886080
total_active_file 20971520
"""


def test_proc_stat_counts_iowait_as_idle() -> None:
    times = parse_proc_stat(PROC_STAT)
    total = 10132153 + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 0
    assert times == CpuTimes(busy=total - 46828483 - 16683, total=total)


def test_proc_stat_without_a_cpu_line_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu"):
        parse_proc_stat("intr 1 2 3\n")


@pytest.mark.parametrize(("before", "after", "pct"), [
    (CpuTimes(100, 1000), CpuTimes(150, 1100), 50.0),
    (CpuTimes(100, 1000), CpuTimes(100, 1000), 0.0),  # no time passed
    (CpuTimes(100, 1000), CpuTimes(90, 1100), 0.0),  # counters reset: never negative
])
def test_cpu_pct_from_deltas(before: CpuTimes, after: CpuTimes, pct: float) -> None:
    assert cpu_pct(before, after) == pytest.approx(pct)


def test_loadavg() -> None:
    assert parse_loadavg("0.42 0.30 0.25 1/234 5678\n") == pytest.approx(0.42)


def test_meminfo_used_is_total_less_available() -> None:
    assert parse_meminfo(MEMINFO) == Memory(used_mb=(8000000 - 6000000) // 1024,
                                            total_mb=8000000 // 1024)


def test_meminfo_without_memavailable_falls_back_like_free() -> None:
    text = "\n".join(line for line in MEMINFO.splitlines() if "Available" not in line)
    assert parse_meminfo(text).used_mb == (8000000 - 500000 - 100000 - 2000000) // 1024


def test_cgroup_v1_leaves_out_inactive_page_cache() -> None:
    used, limit = parse_cgroup_v1("157286400\n", CGROUP_V1_STAT, "8589934592\n")
    assert (used, limit) == (157286400 - 83886080, 8589934592)


def test_cgroup_v2_max_means_no_limit() -> None:
    assert parse_cgroup_v2("73400320\n", "max\n") == (73400320, None)
    assert parse_cgroup_v2("73400320\n", "536870912\n") == (73400320, 536870912)


@pytest.mark.parametrize(("limit", "total_mb"), [
    (8 * 1024**3, 8192),  # a lab device held to a Pi 4B's 8 GB on a 24 GB host
    (None, 24105),
    (9223372036854771712, 24105),  # cgroup v1's "unlimited"
])
def test_cgroup_memory_against_the_host(limit: int | None, total_mb: int) -> None:
    assert cgroup_memory(512 * 1024**2, limit, host_total_mb=24105) == Memory(512, total_mb)


def test_disk_usage_as_df_shows_it() -> None:
    block = 4096
    disk = disk_usage(blocks=2_621_440, free=262_144, available=131_072, fragment=block)
    assert disk == Disk(used_mb=9216, total_mb=10240, free_mb=512)


def _df(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["df", *args, "/"], capture_output=True, text=True, check=True,
                          env=env).stdout


def test_df_pk_reads_as_statvfs_reads_the_same_filesystem() -> None:
    """GNU df is the oracle: its -Pk figures are statvfs's, in KiB."""
    st = os.statvfs("/")
    disk = parse_df(_df("-Pk"))
    direct = disk_usage(st.f_blocks, st.f_bfree, st.f_bavail, st.f_frsize)
    assert disk.total_mb == direct.total_mb
    assert abs(disk.used_mb - direct.used_mb) <= 1  # the disk may be written meanwhile


def test_plain_df_has_the_same_columns_in_kib() -> None:
    assert parse_df(_df()).total_mb == parse_df(_df("-Pk")).total_mb


def test_df_in_512_byte_blocks_is_refused_not_misread() -> None:
    posix = _df("-P", env={"POSIXLY_CORRECT": "1", "PATH": os.environ["PATH"]})
    assert posix.splitlines()[0].split()[1] == "512-blocks"
    with pytest.raises(ValueError, match="run df -Pk"):
        parse_df(posix)


def test_what_is_not_df_output_is_refused() -> None:
    with pytest.raises(ValueError, match="not the output of df"):
        parse_df("throttled=0x50000\n")
