"""The cleanup use case on fake boards: the rules from the flags, scanning changes nothing,
volumes go only when confirmed, and exactly the chosen items are reclaimed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fleet.actions import cleanup
from fleet.cleanup.rules import DEFAULT, Category, Disk, Item, Reclaim
from fleet.config.stack import loads_stack
from fleet.deploy.apply import Connect
from fleet.errors import ConfigError
from fleet.model import Device
from fleet.ssh.connection import Connection
from tests.unit.test_actions_deploy import Board


def boards() -> dict[str, Board]:
    return {"pi-01": Board("pi-01", junk_mb=300, volumes=("data",)),
            "pi-02": Board("pi-02", junk_mb=200)}


def connector(found: dict[str, Board]) -> Connect:
    def connect(d: Device) -> Connection:
        return found[d.id].connection()
    return connect


DEVICES = [board.device for board in boards().values()]


def test_the_rules_follow_the_flags_and_volumes_need_their_own(tmp_path: Path) -> None:
    assert cleanup.rules().categories == DEFAULT
    assert cleanup.rules(["tmp"], volumes=True).categories == {Category.TMP, Category.VOLUMES}
    with pytest.raises(ConfigError, match="pass --volumes to mean it"):
        cleanup.rules(["volumes"])
    shop = loads_stack("services:\n  web:\n    image: shop/web:2\n", str(tmp_path / "s.yaml"))
    kept = cleanup.rules(stacks=[shop], keep_images=["sha256:abc"], tmp_days=2, journal_mb=50)
    assert kept.planned == {"shop/web:2", "sha256:abc"}
    assert (kept.tmp_age_days, kept.journal_keep_mb) == (2, 50)


def test_without_apply_the_boards_are_scanned_and_nothing_is_removed() -> None:
    found = boards()
    done = cleanup.cleanup(DEVICES, connector(found), cleanup.rules(), apply=False)
    assert done.ok and not done.applied
    assert [r.device for r in done.results] == ["pi-01", "pi-02"]
    assert all(b.ran == ["scan"] and not b.reclaimed for b in found.values())
    scanned = done.results[0].reclaim
    assert scanned is not None and [i.target for i in scanned.items] == ["/tmp/junk"]


def test_apply_without_volumes_cleans_each_board_in_one_pass() -> None:
    found = boards()
    done = cleanup.cleanup(DEVICES, connector(found), cleanup.rules(), apply=True,
                           confirm=lambda _v: pytest.fail("nobody is asked without volumes"))
    assert done.ok and done.applied
    assert {d: b.reclaimed for d, b in found.items()} == {"pi-01": ["/tmp/junk"],
                                                          "pi-02": ["/tmp/junk"]}
    assert done.results[0].freed == 300 * 2**20


def test_declined_volumes_remove_nothing_anywhere() -> None:
    found = boards()
    shown: list[Sequence[tuple[str, Item]]] = []

    def decline(volumes: Sequence[tuple[str, Item]]) -> bool:
        shown.append(volumes)
        return False

    done = cleanup.cleanup(DEVICES, connector(found), cleanup.rules(volumes=True), apply=True,
                           confirm=decline)
    assert done.declined and not done.applied and not done.ok
    assert [[(d, i.target) for d, i in v] for v in shown] == [[("pi-01", "data")]]
    assert all(b.ran == ["scan"] and not b.reclaimed for b in found.values())


def test_confirmed_volumes_reclaim_exactly_what_was_scanned_without_scanning_again() -> None:
    found = boards()
    done = cleanup.cleanup(DEVICES, connector(found), cleanup.rules(volumes=True), apply=True,
                           confirm=lambda volumes: True)
    assert done.ok and done.applied and not done.declined
    assert found["pi-01"].ran == ["scan", "cleanup"]
    assert found["pi-01"].reclaimed == ["/tmp/junk", "data"]
    assert found["pi-02"].reclaimed == ["/tmp/junk"]


def test_reclaim_takes_only_the_chosen_items_on_the_devices_named() -> None:
    found = boards()
    chosen = {"pi-01": Reclaim("pi-01", Disk(0, 0),
                               (Item(Category.VOLUMES, "data", "volume data", 4 << 20),), ())}
    results = cleanup.reclaim(DEVICES, connector(found), cleanup.rules(volumes=True), chosen)
    assert [r.device for r in results] == ["pi-01"]
    assert found["pi-01"].reclaimed == ["data"] and found["pi-01"].ran == ["cleanup"]
    assert found["pi-02"].ran == []


def test_a_board_that_cannot_be_reached_is_its_own_failure() -> None:
    found = boards()
    found["pi-02"].down = True
    done = cleanup.cleanup(DEVICES, connector(found), cleanup.rules(), apply=True)
    assert [r.ok for r in done.results] == [True, False]
    assert "no route to host" in done.results[1].error
    assert found["pi-01"].reclaimed == ["/tmp/junk"]
