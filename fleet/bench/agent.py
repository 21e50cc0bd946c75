"""`fleet bench agent`: the agent's memory and CPU on a lab device, at its real 5 s interval.

A one-device lab runs the agent image on the device's own dockerd; the bench
reads the agent process's resident memory (VmRSS) and its CPU time from
/proc over SECONDS. The baselines, measured in the same run and the same
image: a bare python3 interpreter, and one that has only imported paho-mqtt
(the floor any Python MQTT agent starts from).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fleet.lab import agents, lab
from fleet.lab.spec import LabDevice, LabSpec

TARGETS = {"rss_mb": 32.0, "cpu_pct": 0.5}
LAB_NAME, LAB_SUBNET = "benchag", "10.249.0.0/24"
_TICK = os.sysconf("SC_CLK_TCK")
_RSS_OF_SELF = ("import re; print(re.search(r'VmRSS:\\s+(\\d+)', "
                "open('/proc/self/status').read())[1])")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def run(seed: int = 1, *, seconds: float = 60.0, settle: float = 15.0,
        interval: float = 5.0) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object (`seed` is unused: nothing is random)."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as root:
        spec = LabSpec.create(LAB_NAME, root=Path(root) / LAB_NAME, subnet=LAB_SUBNET)
        try:
            lab.up(spec, 1, interval=interval)
            device = spec.devices(1)[0]
            time.sleep(settle)  # connected, first heartbeats sent, imports all done
            pid = agents.pid(spec, device)
            peak, cpu0, t0 = rss_mb(pid), cpu_seconds(pid), time.monotonic()
            while time.monotonic() - t0 < seconds:
                time.sleep(1.0)
                peak = max(peak, rss_mb(pid))
            cpu_pct = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
            restarted = agents.pid(spec, device) != pid
            bare, paho = (_python_rss_mb(spec, device, code) for code in
                          (_RSS_OF_SELF, "import paho.mqtt.client; " + _RSS_OF_SELF))
        finally:
            lab.down(spec)
    result: dict[str, Any] = {
        "benchmark": "agent",
        "agent": {
            "rss_mb": round(peak, 1), "cpu_pct": round(cpu_pct, 3), "interval_s": interval,
            "seconds": seconds, "restarted": restarted,
            "python_bare_rss_mb": bare, "python_paho_rss_mb": paho,
            "targets": {k: f"<= {v}" for k, v in TARGETS.items()},
            "met": {"rss_mb": peak <= TARGETS["rss_mb"], "cpu_pct": cpu_pct <= TARGETS["cpu_pct"]},
        },
    }
    result["met"] = all(result["agent"]["met"].values()) and not restarted
    return result


def _python_rss_mb(spec: LabSpec, device: LabDevice, code: str) -> float:
    found = agents.container(spec, device)
    if found is None:
        raise RuntimeError("the agent's container is gone")
    output = found.exec_run(["python3", "-c", code]).output.decode().strip()
    return round(int(output) / 1024, 1)


__all__ = ["run"]
