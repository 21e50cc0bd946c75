"""Operations from data files: a stack, placements and a board's status in; the steps out.

In a case's status, {rev:NAME} stands for the revision fleet computes for
container NAME and {sha:CONFIG} for a config file's digest, so a case can
say "this board runs exactly what the plan wants". A case's `script`, if it
has one, is the apply script's calls, each by its name and target.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.config.stack import loads_stack
from fleet.deploy import containers, operations, stackcontext
from fleet.deploy.containers import ContainerSpec
from fleet.deploy.facts import parse
from fleet.deploy.layout import Layout, layout
from fleet.deploy.operations import Action, DeviceSteps, parse_applied
from fleet.model import Placement, PortBinding

CASES = sorted((Path(__file__).parents[1] / "data" / "operations").glob("*.yaml"))


def wanted(case: dict[str, Any], tmp: Path) -> tuple[list[ContainerSpec], Layout]:
    for name, text in case["configs"].items():
        (tmp / name).write_text(text)
    stack = loads_stack(case["stack"], str(tmp / "stack.yaml"))
    digests = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in stack.configs.items()}
    services = {s.name: s for s in stack.services}
    specs = []
    for text in case["placements"]:
        unit, *ports = text.split()
        service, replica = unit.split("#")
        bindings = tuple(PortBinding(int(p.split(":")[0]), int(p.split(":")[1])) for p in ports)
        placement = Placement(service, int(replica), "dev", bindings)
        specs.append(containers.spec(stack.name, services[service], placement,
                                     case["image_ids"][services[service].image], digests,
                                     stackcontext.read(stack, {})))
    # The top-level networks as written: the layout reads them, the loader keeps them.
    return specs, layout(stack.name, stack.services,
                         YAML(typ="safe").load(case["stack"]).get("networks"))


def status(case: dict[str, Any], specs: list[ContainerSpec]) -> str:
    revisions = {c.name: c.revision for c in specs}
    digests = {f.name: f.sha256 for c in specs for f in c.files}
    text = re.sub(r"\{rev:([^}]+)\}", lambda m: revisions[m[1]], case["status"])
    return re.sub(r"\{sha:([^}]+)\}", lambda m: digests[m[1]], text)


def device_steps(case: dict[str, Any], tmp: Path) -> DeviceSteps:
    specs, stack_layout = wanted(case, tmp)
    return operations.steps(parse("dev", status(case, specs)), specs[0].stack, specs,
                            stack_layout)


def calls(script: str) -> list[str]:
    """Each call by its name and target (and an await's condition)."""
    split = [shlex.split(line) for line in script.splitlines()]
    return [" ".join(words[:3] if words[0] == "fleet_await" else words[:2]) for words in split]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_only_the_needed_steps(path: Path, tmp_path: Path) -> None:
    case = YAML(typ="safe").load(path.read_text())
    device = device_steps(case, tmp_path)
    assert [f"{s.action} {s.target}" for s in device.steps] == case["steps"]
    assert device.blocked.startswith(case.get("blocked", "")) and bool(device.blocked) == (
        "blocked" in case)
    if "script" in case:
        assert calls(operations.apply_script(device)) == case["script"]


def test_the_apply_calls_quote_every_argument_and_carry_the_labels(tmp_path: Path) -> None:
    case = YAML(typ="safe").load((CASES[0].parent / "changed-one.yaml").read_text())
    specs, _ = wanted(case, tmp_path)
    device = device_steps(case, tmp_path)
    lines = operations.apply_script(device).splitlines()
    assert lines[-3:] == ["fleet_wave", "fleet_verify", "fleet_done"]
    ensures = [shlex.split(line) for line in lines[:-3]]
    assert [c[:2] for c in ensures] == [["fleet_ensure", "shop-api-1"],
                                        ["fleet_ensure", "shop-cache-1"]]
    api = ensures[0]
    assert api[2:4] == [specs[0].revision, "-"]  # its revision, and no container to wait for
    assert f"fleet.revision={specs[0].revision}" in api and "fleet.stack=shop" in api
    # the environment is in a 0600 file on the board, not on the command line
    assert api[api.index("--env-file") + 1].endswith("/configs/.fleet-env/api.env")
    assert not any("LOG_LEVEL" in word for word in api)
    assert api[-1] == "fleet/api:1"  # no command: the image comes last


def test_no_change_means_no_script() -> None:
    device = operations.DeviceSteps("dev", (operations.Step(Action.KEEP, "a-b-1"),), ())
    assert operations.apply_script(device) == "" and device.changes == ()


def test_the_apply_report_reads_outcomes_and_failures_and_ignores_noise() -> None:
    applied = parse_applied("created shop-api-1\nsome docker warning\nreplaced shop-web-1\n"
                            "failed shop-db-1 did not stay healthy: exited (exit 1)\n"
                            "rolledback shop-db-1\nremoved shop-old-1\n")
    assert applied.outcomes == {"shop-api-1": "created", "shop-web-1": "replaced",
                                "shop-db-1": "failed", "shop-old-1": "removed"}
    assert applied.failures == {"shop-db-1": "did not stay healthy: exited (exit 1)"}
    assert not applied.ok


def test_a_container_names_the_containers_it_waits_for_and_a_network_its_options(
        tmp_path: Path) -> None:
    case = YAML(typ="safe").load((CASES[0].parent / "depends-on-waves.yaml").read_text())
    case["status"] = case["status"].replace("shop_default\tshop\n", "")
    lines = [shlex.split(line) for line in
             operations.apply_script(device_steps(case, tmp_path)).splitlines()]
    needs = {words[1]: words[3] for words in lines if words[0] == "fleet_ensure"}
    assert needs == {"shop-cache-1": "-", "shop-migrate-1": "shop-db-1",
                     "shop-api-1": "shop-db-1,shop-migrate-1",
                     "shop-web-1": "shop-api-1", "shop-web-2": "shop-api-1"}
    assert lines[0][:4] == ["fleet_network", "shop_default", "--driver", "bridge"]
    assert "fleet.stack=shop" in lines[0]
