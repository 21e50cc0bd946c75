"""A quick run of `fleet bench pack` at toy sizes: its shape, and fleet never behind FFD."""

from __future__ import annotations

import json

from fleet.bench import pack


def test_a_tiny_pack_bench_has_every_figure_and_fleet_never_loses_to_ffd() -> None:
    result = pack.run(3, large_containers=2000, large_devices=300, small_instances=12,
                      tight_instances=4)
    json.dumps(result)  # JSON-ready
    assert result["seed"] == 3
    small, tight, large = result["small"], result["tight"], result["large"]
    assert small["instances"] == 12 and small["fleet_worse_than_ffd"] == 0
    assert 1.0 <= small["fleet_vs_optimum"] <= small["ffd_vs_optimum"] + 1e-9
    assert 0 < tight["placed_vs_optimum"] <= 1.0
    assert large["placed"] == 2000 and large["within_budget"]
    assert large["devices_used"] >= large["lower_bound"]
    assert large["ratio_vs_lower_bound"] <= large["ffd_ratio_vs_lower_bound"]
    for family in (small, tight, large):
        assert set(family["met"]) <= set(family["targets"]) | {"ratio_vs_lower_bound"}
        assert all(isinstance(v, bool) for v in family["met"].values())
