"""`fleet deploy` of global services and of a service apart from the one it names, on a lab of
three boards (lab `iplace`), read back on each board: a global service runs on every board
its constraints allow, and the dependent reaches the other board's service by its name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration

BOARDS = {"iplace-01": "10.239.0.11", "iplace-02": "10.239.0.12", "iplace-03": "10.239.0.13"}
STACK = """
name: place
x-base: &base
  image: fleet/workload:latest
  stop_grace_period: 1s
  mem_limit: 32m
services:
  exporter:
    <<: *base
    command: ["sleep", "100000"]
    deploy: {mode: global}
  probe:
    <<: *base
    command: ["sleep", "100000"]
    deploy:
      mode: global
      placement: {constraints: ["node.hostname != iplace-02"]}
  web:
    <<: *base
    command: ["sleep", "100000"]
    depends_on: [db]
    x-fleet: {colocate: false}
    deploy: {placement: {constraints: ["node.hostname == iplace-01"]}}
  db:
    <<: *base
    expose: ["8080"]
    deploy: {placement: {constraints: ["node.hostname == iplace-03"]}}
"""

lab = lab_fixture("iplace", "10.239.0.0/24", "--devices", "3", "--profiles", "pi4b-8g",
                  "--no-agent")


@pytest.fixture(scope="module")
def deployed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("place")
    lab.pin(work / "known_hosts", *BOARDS)
    (work / "images").mkdir()
    (work / "place.yaml").write_text(STACK)
    return lab.deployed(work / "place.yaml", work)


def on_board(lab: Lab, board: str, command: str) -> str:
    code, out = lab.ssh(BOARDS[board], command)
    assert code == 0, out
    return out


def running(lab: Lab, board: str) -> set[str]:
    """The services of the stack running on the board."""
    out = on_board(lab, board, "docker ps --filter label=fleet.stack=place "
                               "--format '{{.Label \"fleet.service\"}}'")
    return set(out.split())


def test_a_global_service_runs_on_every_board_its_constraints_allow(
        lab: Lab, deployed: dict[str, Any]) -> None:
    assert deployed["ok"], deployed
    assert {b: running(lab, b) for b in BOARDS} == {
        "iplace-01": {"exporter", "probe", "web"},
        "iplace-02": {"exporter"},
        "iplace-03": {"exporter", "probe", "db"},
    }


def test_the_dependent_reaches_the_service_on_another_board_by_its_name(
        lab: Lab, deployed: dict[str, Any]) -> None:
    web = json.loads(on_board(lab, "iplace-01", "docker inspect place-web-1"))[0]
    assert web["HostConfig"]["ExtraHosts"] == [f"db:{BOARDS['iplace-03']}"]
    db = json.loads(on_board(lab, "iplace-03", "docker inspect place-db-1"))[0]
    assert db["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] == "8080"
    # busybox's wget segfaults here (as the host's busybox-static does); its nc does not.
    page = on_board(lab, "iplace-01", r"""docker exec place-web-1 sh -c "printf 'GET / """
                                      r"""HTTP/1.0\r\n\r\n' | nc -w 5 db 8080" """)
    assert page.startswith("HTTP/1.") and page.endswith("fleet workload\n")
