"""The plan use case: against the inventory by default, against the boards (as a deploy
reads them) when asked, and the result says which."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from fleet.actions.deploy import Collaborators, Options, deploy
from fleet.actions.plan import Basis, Boards, plan
from fleet.config.stack import loads_stack
from fleet.errors import ConfigError
from fleet.health.store import Store
from fleet.model import Device
from fleet.ssh.connection import Connection
from tests.unit.test_actions_deploy import ON_BOARD, Board, Fleet, stack

DEVICES = [Board(d).device for d in ("pi-01", "pi-02")]


# Someone else's container on pi-01 publishes the port the stack wants.
PORT_TAKEN = "c0ffee\tcamera\trunning\tUp 2 days\tcam:1\t0.0.0.0:8080->80/tcp\t\t\t\t\n"


def boards(*down: str, others: tuple[str, ...] = ()) -> Boards:
    found = {d.id: Board(d.id, images=dict(ON_BOARD), down=d.id in down,
                         others=others if d.id == "pi-01" else ()) for d in DEVICES}

    def connect(d: Device) -> Connection:
        return found[d.id].connection()

    return Boards(connect, None)


def test_by_default_the_plan_is_against_the_inventory_and_says_so(tmp_path: Path) -> None:
    planned = plan(stack(tmp_path), DEVICES, clock=lambda: 5.0)
    assert planned.basis is Basis.INVENTORY
    assert planned.note.startswith("planned against the inventory's budgets, not what runs")
    assert planned.stack == "shop"
    assert sorted(p.device for p in planned.plan.placements) == ["pi-01", "pi-02"]
    assert planned.plan.now == 5.0


def test_against_the_boards_the_plan_is_the_one_a_deploy_makes(tmp_path: Path) -> None:
    planned = plan(stack(tmp_path), DEVICES, boards=boards(), clock=lambda: 5.0)
    assert planned.basis is Basis.BOARDS
    assert planned.note == "planned against what the boards run, as `fleet deploy` plans"
    with Store(tmp_path / "fleet.db") as store:
        fleet = Fleet({d.id: Board(d.id, images=dict(ON_BOARD)) for d in DEVICES}, store)
        using = Collaborators(fleet.connect, None, fleet.recorder, clock=lambda: 5.0)
        dry = deploy(stack(tmp_path), DEVICES, using, Options(dry_run=True))
    assert planned.plan == dry.prepared.plan


def test_only_the_boards_basis_sees_a_port_another_container_holds(tmp_path: Path) -> None:
    on_paper = plan(stack(tmp_path), DEVICES, boards=None)
    as_run = plan(stack(tmp_path), DEVICES, boards=boards(others=(PORT_TAKEN,)))
    assert not on_paper.plan.unplaced
    assert [p.device for p in as_run.plan.placements] == ["pi-02"]
    assert len(as_run.plan.unplaced) == 1


def test_a_board_that_cannot_be_read_is_named_and_planned_as_empty(tmp_path: Path) -> None:
    planned = plan(stack(tmp_path), DEVICES, boards=boards("pi-02"))
    assert list(planned.unread) == ["pi-02"]
    assert planned.note.endswith("1 board(s) could not be read and count as empty")


def test_what_if_and_need_work_on_either_basis(tmp_path: Path) -> None:
    three = loads_stack("name: shop\nservices:\n  web:\n    image: fleet/app:1\n"
                        "    ports: ['8080:80']\n    deploy:\n      replicas: 3\n",
                        str(tmp_path / "shop.yaml"))
    for basis in (None, boards()):
        short = plan(three, DEVICES, boards=basis, need="pi4b-8g")
        assert len(short.plan.unplaced) == 1
        assert short.need is not None and short.need.count == 1
        assert short.need.line() == "to place everything, add 1 x pi4b-8g"
        more = plan(three, DEVICES, boards=basis, what_if=["pi4b-8g:1"])
        assert not more.plan.unplaced
        assert "what-if-pi4b-8g-1" in {p.device for p in more.plan.placements}


def test_an_unknown_profile_is_refused_before_any_board_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        plan(stack(tmp_path), DEVICES, boards=Boards(_no_connect, None), need="pi99")


def _no_connect(d: Device) -> Connection:
    raise AssertionError(f"{d.id} was contacted")


def test_json_and_the_terminal_view_both_say_the_basis(tmp_path: Path) -> None:
    planned = plan(stack(tmp_path), DEVICES, need="pi4b-8g")
    document = planned.json()
    assert document["basis"] == "inventory" and document["basis_note"] == planned.note
    assert document["need"] == {"profile": "pi4b-8g", "count": 0}
    assert len(document["placements"]) == 2
    console = Console(width=120, record=True)
    console.print(planned.render())
    text = console.export_text()
    assert "planned against the inventory's budgets" in text
    assert "everything fits already: no pi4b-8g to add" in text
