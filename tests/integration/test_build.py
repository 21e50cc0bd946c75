"""`fleet deploy` of a stack with a `build:` service: built on the board it is placed on.

A board of its own (lab `ibld`). The context (a Dockerfile FROM the lab's
workload image, an ARG, a COPY, a .dockerignore) goes to the board as
`docker build`'s stdin and is built by the board's own dockerd; the
container runs with the file and the argument; a redeploy builds nothing;
a change to the context builds again and replaces the container.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration

DEVICE, IP = "ibld-01", "10.229.0.11"
STACK = """
name: bld
services:
  web:
    build:
      context: web
      args: {GREETING: "${GREETING:-hello from the stack}"}
    command: [sleep, "100000"]
    stop_grace_period: 1s
"""
DOCKERFILE = """FROM fleet/workload:latest
ARG GREETING=unset
ENV GREETING=$GREETING
COPY . /ctx/
"""

lab = lab_fixture("ibld", "10.229.0.0/24", "--devices", "1", "--profiles", "pi4b-8g",
                  "--no-agent")


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("bld")
    lab.pin(work / "known_hosts", DEVICE)
    (work / "images").mkdir()
    (work / "bld.yaml").write_text(STACK)
    context = work / "web"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "hello.txt").write_text("first\n")
    (context / "secret.key").write_text("never sent\n")
    (context / ".dockerignore").write_text("*.key\n")
    return work


def deploy(lab: Lab, work: Path) -> dict[str, Any]:
    return lab.deployed(work / "bld.yaml", work)


def on_board(lab: Lab, command: str) -> str:
    code, out = lab.ssh(IP, command)
    assert code == 0, out
    return out


def actions(result: dict[str, Any]) -> list[str]:
    return [s["action"] for d in result["devices"] for s in d["steps"]]


def test_the_image_is_built_on_the_board_and_rebuilt_only_when_its_context_changes(
        lab: Lab, work: Path) -> None:
    first = deploy(lab, work)
    assert first["ok"], first
    assert actions(first).count("build") == 1
    build = next(s for s in first["devices"][0]["steps"] if s["action"] == "build")
    assert build["target"] == "bld-web" and "an estimate before its first build" in build["detail"]
    assert on_board(lab, "docker exec bld-web-1 cat /ctx/hello.txt") == "first\n"
    env = json.loads(on_board(lab, "docker inspect -f '{{json .Config.Env}}' bld-web-1"))
    assert "GREETING=hello from the stack" in env  # the ARG, through the Dockerfile's ENV
    code, _ = lab.ssh(IP, "docker exec bld-web-1 test -e /ctx/secret.key")
    assert code != 0  # .dockerignore'd: never sent
    label = on_board(lab, "docker image inspect -f '{{index .Config.Labels \"fleet.build\"}}' "
                          "bld-web")
    assert len(label.strip()) == 64
    # nothing of the context is left on the board's disk
    assert on_board(lab, "find / -xdev -name hello.txt -path '*ctx*' 2>/dev/null | "
                         "grep -v /var/lib/docker || true").strip() == ""

    again = deploy(lab, work)
    assert again["ok"] and "build" not in actions(again) and "replace" not in actions(again)

    (work / "web" / "hello.txt").write_text("second\n")
    changed = deploy(lab, work)
    assert changed["ok"], changed
    assert "build" in actions(changed) and "replace" in actions(changed)
    rebuilt = next(s for s in changed["devices"][0]["steps"] if s["action"] == "build")
    assert "its built size" in rebuilt["detail"]
    assert on_board(lab, "docker exec bld-web-1 cat /ctx/hello.txt") == "second\n"


def test_a_failed_build_names_the_service_the_board_and_dockers_output(
        lab: Lab, work: Path) -> None:
    broken = work / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text("FROM fleet/workload:latest\nCOPY missing.txt /\n")
    (work / "broken.yaml").write_text("name: brk\nservices:\n  bad:\n    build: broken\n"
                                      "    command: [sleep, '100000']\n")
    done = lab.deploy(work / "broken.yaml", work)
    assert done.returncode != 0
    result = json.loads(done.stdout)
    error = result["devices"][0]["error"]
    assert f"{DEVICE}: building brk-bad for service 'bad' failed" in error
    assert "missing.txt" in error
