"""`fleet status` output: the JSON the issue specifies, and a table that names the mode."""

from __future__ import annotations

from rich.console import Console

from fleet.health.view import FleetView
from fleet.render.status import render, status_json
from fleet.wire import Containers, Heartbeat, WireImpedance
from tests.kit import heartbeat


def hb() -> Heartbeat:
    """What the table and the JSON show: memory, problems, throttling and the link."""
    return heartbeat(seq=3, cpu_pct=4.0, mem_used_mb=1200, mem_budget_mb=7840,
                     impedance=WireImpedance(3.0, 40.0, 1, 0.5, 1.0),
                     throttled=["under-voltage now"], containers=Containers(3, 4),
                     problems=["disk full"])


def view() -> FleetView:
    v = FleetView(["pi-01", "pi-02"])
    v.heartbeat("pi-01", hb(), 100.0)
    v.heartbeat("stray", hb(), 100.0)
    v.bad("pi-02", "bad heartbeat: truncated", 100.5)
    return v


def test_json_has_every_field_the_issue_names() -> None:
    doc = status_json(view(), 102.0, {"pi-01": "pi4b-8g", "pi-02": "pi4b-2g"})
    first, second, stray = doc["devices"]
    assert {"id", "state", "profile", "mem_used_mb", "mem_budget_mb", "disk_used_mb",
            "disk_budget_mb", "impedance", "last_seen_s"} <= set(first)
    assert set(first["impedance"]) == {"score", "latency_ms", "processing_ms", "queue",
                                       "drift_ms", "reliability"}
    assert (first["id"], first["state"], first["profile"]) == ("pi-01", "active", "pi4b-8g")
    assert (first["mem_used_mb"], first["mem_budget_mb"], first["last_seen_s"]) == (1200, 7840, 2)
    assert first["impedance"]["score"] == 48  # 3 + 40 * 1.1 + 2 * 0.5, rounded up
    assert (second["state"], second["bad_payloads"], second["last_seen_s"]) == ("offline", 1, None)
    assert (stray["in_inventory"], stray["profile"]) == (False, None)
    assert doc["summary"] == {"total": 3, "active": 2, "degraded": 0, "offline": 1,
                              "quarantined": 0, "mode": "DEGRADED_MODERATE"}


def test_table_shows_budgets_problems_and_the_mode() -> None:
    console = Console(width=200, record=True)
    console.print(render(view(), 102.0, {"pi-01": "pi4b-8g"}))
    text = console.export_text()
    assert "1,200/7,840" in text and "disk full" in text and "under-voltage now" in text
    assert "dropped payloads: 1" in text and "not in inventory" in text
    assert "DEGRADED_MODERATE  2/3 active, 0 degraded, 1 offline" in text


def reporting(model: str, mem_total_mb: int = 3793) -> FleetView:
    v = FleetView(["pi-01"])
    v.heartbeat("pi-01", heartbeat(model=model, mem_total_mb=mem_total_mb), 100.0)
    return v


def test_a_board_whose_model_rules_out_its_inventory_profile_is_flagged() -> None:
    # A Pi 4B whose MemTotal is 3,884,328 kB is a 4 GB board, listed as an 8 GB one.
    v = reporting("Raspberry Pi 4 Model B Rev 1.4")
    [d] = status_json(v, 101.0, {"pi-01": "pi4b-8g"})["devices"]
    assert (d["board_model"], d["board_profile"]) == ("Raspberry Pi 4 Model B Rev 1.4", "pi4b-4g")
    assert "is a 4 GB Raspberry Pi 4 Model B" in d["profile_mismatch"]
    console = Console(width=240, record=True)
    console.print(render(v, 101.0, {"pi-01": "pi4b-8g"}))
    assert "not a pi4b-8g: 'Raspberry Pi 4 Model B Rev 1.4' with MemTotal 3793 MiB" \
           in console.export_text()


def test_a_board_that_agrees_or_cannot_tell_is_not_flagged() -> None:
    for model, memory in [("Raspberry Pi 4 Model B Rev 1.4", 3793),
                          ("Raspberry Pi 4 Model B Rev 1.4", 200),  # a cgroup limit: unknown
                          ("Some Board", 3793)]:
        [d] = status_json(reporting(model, memory), 101.0, {"pi-01": "pi4b-4g"})["devices"]
        assert d["profile_mismatch"] is None, model
    [old] = status_json(view(), 102.0, {"pi-01": "pi4b-8g"})["devices"][:1]
    assert (old["board_model"], old["board_profile"], old["profile_mismatch"]) == \
        (None, None, None)  # an agent older than the field


def test_a_jetson_that_sends_only_its_l4t_line_is_judged_by_it() -> None:
    v = reporting("# R36 (release), REVISION: 4.7, GCID: 42132812, BOARD: generic")
    [pi] = status_json(v, 101.0, {"pi-01": "pi4b-4g"})["devices"]
    assert "L4T R36.4.7: a Jetson" in pi["profile_mismatch"]  # listed as a Pi: flagged
    [orin] = status_json(v, 101.0, {"pi-01": "jetson-orin-nano-8g"})["devices"]
    assert orin["profile_mismatch"] is None  # an Orin, which one unknown: no flag
    assert orin["board_profile"] == "jetson-orin-nano-8g"
