"""What plan and deploy print stays a few lines per board at 136 services; --verbose lists all."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

from fleet.config.stack import Stack
from fleet.deploy.apply import Prepared
from fleet.deploy.operations import Action, DeviceSteps, Step
from fleet.model import Plan
from fleet.render.deploy import STEPS_SHOWN, render_diff
from fleet.render.plan import REPLICAS_SHOWN, render
from fleet.scheduler import plan as make_plan
from tests import kit

SERVICES = 136


def text(renderable: RenderableType) -> str:
    console = Console(width=200, file=io.StringIO())
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def full_board() -> Plan:
    services = [kit.service(f"svc-{k:03d}", mem_mb=16, disk_mb=10) for k in range(SERVICES)]
    return make_plan([kit.device("pi-1")], services)


def test_a_plan_names_the_first_replicas_of_a_board_and_counts_the_rest() -> None:
    plan = full_board()
    short = text(render(plan))
    assert f"and {SERVICES - REPLICAS_SHOWN} more (--verbose)" in short
    assert "svc-000" in short and "svc-135" not in short
    every = text(render(plan, verbose=True))
    assert "svc-135" in every and "more (--verbose)" not in every


def prepared(changes: int) -> Prepared:
    steps = tuple(Step(Action.CREATE, f"app-svc-{k:03d}-1") for k in range(changes))
    files = tuple(Step(Action.FILE, f"/stacks/app/svc-{k:03d}.env") for k in range(changes))
    return Prepared(Stack("app", ()), Plan(()), {"pi-1": DeviceSteps("pi-1", files + steps, ())},
                    {}, {}, {})


def test_a_deploy_counts_each_boards_changes_by_kind_and_lists_the_first() -> None:
    short = text(render_diff(prepared(SERVICES)))
    assert f"pi-1: {2 * SERVICES} to change ({SERVICES} file, {SERVICES} create), 0 kept" in short
    assert short.count("/stacks/app/") == STEPS_SHOWN
    assert f"... and {2 * SERVICES - STEPS_SHOWN} more" in short
    every = text(render_diff(prepared(SERVICES), verbose=True))
    assert "app-svc-135-1" in every and "more (--verbose" not in every
    assert "more" not in text(render_diff(prepared(2)))
