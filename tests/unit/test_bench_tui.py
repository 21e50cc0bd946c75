"""`fleet bench tui` on a small fleet: its JSON shape, and every key seen repainted."""

from __future__ import annotations

from tui import bench as tui


def test_a_small_run_reports_latency_cpu_and_its_baselines() -> None:
    result = tui.run(devices=40, keys=8, phases=("live", "idle"))
    figures = result["tui"]
    assert figures["keys"] == 8 and figures["heartbeats_applied"] > 0
    # A key whose repaint never came would count as WAIT_S: each was seen on screen.
    assert 0 < figures["key_latency_ms_p95"] <= figures["key_latency_ms_max"] < 1000 * tui.WAIT_S
    assert figures["cpu_pct"] > 0 and figures["targets"] == {"key_latency_ms_p95": "< 100"}
    assert result["baselines"]["idle_heartbeats"] == 0 and result["baselines"]["idle_keys"] == 8
    assert result["met"] is figures["met"]["key_latency_ms_p95"]


def test_p95() -> None:
    assert tui.p95([float(k) for k in range(1, 101)]) == 95.0
    assert tui.p95([3.0]) == 3.0
