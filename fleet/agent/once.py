"""`fleet agent --once [--json] [--root DIR]`: print the heartbeat the agent would send now.

It reads /proc, /sys and /etc under DIR (default /) as the agent does in its
container, so a board captured as a directory tree can be replayed: by a user
filing a bug, and by the tests (tests/data/boards/). A tree holds the files
the agent reads, at their paths on the board, and under DIR/captured/ the
output of the commands that stand for what a board gives only that way:
tegrastats.txt (`tegrastats`), vcgencmd-get_throttled.txt (`vcgencmd
get_throttled`) and df.txt (`df -Pk /var/lib/docker`). A replay reads nothing
of this machine's: its disk is the captured df's, else unknown (a problem
line), never this machine's; dockerd is asked at DIR/var/run/docker.sock.
Nothing is sent and no broker is needed; impedance is a fresh agent's, with
no round trips yet.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from fleet.agent.engine import Engine
from fleet.agent.heartbeat import Readings, assemble
from fleet.agent.probe import Probe
from fleet.agent.tracker import Tracker
from fleet.errors import FleetError
from fleet.model import Profile, Resources
from fleet.profiles import PROFILES
from fleet.profiles import get as get_profile
from fleet.wire import Heartbeat, encode

# Between the two /proc/stat readings a CPU share needs; a captured tree does not change.
CPU_SAMPLE_S = 0.5


def _profile(text: str) -> Profile:
    try:
        return get_profile(text, field="--profile")
    except FleetError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fleet agent --once",
        description="Print the heartbeat this board's agent would send now, and exit.",
        epilog="A replayed tree (--root DIR) holds the board's files at their paths "
               "(proc/meminfo, sys/class/thermal/..., etc/nv_tegra_release) and, under "
               "DIR/captured/, commands' output: tegrastats.txt (tegrastats), "
               "vcgencmd-get_throttled.txt (vcgencmd get_throttled) and df.txt "
               "(df -Pk /var/lib/docker). Without df.txt a replay's disk is unknown: "
               "nothing is read from this machine.")
    p.add_argument("--once", action="store_true", required=True, help="read once and print")
    p.add_argument("--json", action="store_true", help="the heartbeat's JSON payload")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="read the board's /proc, /sys and /etc under DIR (default /)")
    p.add_argument("--profile", type=_profile, metavar="NAME",
                   help=f"budgets from this profile ({', '.join(PROFILES)}); "
                        "default: the board's own totals")
    p.add_argument("--memory-cgroup", type=Path, metavar="DIR",
                   help="read memory from this cgroup v1 or v2 directory")
    p.add_argument("--disk-path", metavar="PATH",
                   help="filesystem to report (default: / on this board; a replay's "
                        "DIR/captured/df.txt)")
    p.add_argument("--docker-socket", metavar="PATH",
                   help="dockerd's API socket (default DIR/var/run/docker.sock)")
    return p


def heartbeat(probe: Probe, profile: Profile | None, *, clock: float,
              wait: Callable[[], None]) -> Heartbeat:
    """Two readings `wait` apart (for the CPU share) made into the first heartbeat of a run."""
    wait()
    readings: Readings = probe.read()
    budget = profile.budget if profile else Resources(mem_mb=readings.memory.total_mb,
                                                      disk_mb=readings.disk.total_mb)
    return assemble(1, clock, readings, budget, Tracker().impedance(0), run="once")


def main(argv: Sequence[str], out: TextIO = sys.stdout,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Print one heartbeat; 0, or 2 for bad arguments."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    root: Path = args.root
    socket = args.docker_socket or str(root / "var/run/docker.sock")
    live = root == Path("/")
    probe = Probe(engine=Engine(socket), disk_path=args.disk_path or ("/" if live else None),
                  memory_cgroup=args.memory_cgroup, root=root)
    beat = heartbeat(probe, args.profile, clock=time.time(),
                     wait=lambda: sleep(CPU_SAMPLE_S) if live else None)
    if args.json:
        out.write(encode(beat).decode() + "\n")
    else:
        out.write(_summary(beat))
    return 0


def _summary(beat: Heartbeat) -> str:
    gpu = beat.gpu
    lines = [
        f"model      {beat.model or '-'}",
        f"cpu        {beat.cpu_pct} %  load {beat.load1}",
        f"memory     {_of(beat.mem_used_mb, beat.mem_total_mb)}",
        f"disk       {_of(beat.disk_used_mb, beat.disk_total_mb)}",
        f"temp       {'-' if beat.temp_c is None else f'{beat.temp_c} C'}",
        *(f"  {name:<16} {t} C" for name, t in (beat.temps_c or {}).items()),
        f"throttled  {'-' if beat.throttled is None else ', '.join(beat.throttled) or 'no'}",
        f"gpu        {'-' if gpu is None else f'{gpu.load_pct} % at {gpu.freq_mhz} MHz'}",
        *(f"  {name:<16} {mw} mW" for name, mw in (gpu.rails_mw if gpu else {}).items()),
        f"power in   {'-' if gpu is None or gpu.power_mw is None else f'{gpu.power_mw} mW'}",
        *(f"problem    {p}" for p in beat.problems),
    ]
    return "\n".join(lines) + "\n"


def _of(used: int, total: int) -> str:
    return f"{used} / {total} MiB" if total else "-"
