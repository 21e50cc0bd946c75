"""`fleet deploy` on one lab board: the stack's network, names resolved, depends_on obeyed.

A board of its own (lab `iord`). The stack: `db` becomes healthy only two
seconds after it starts; `migrate` waits for that and runs to success; `api`
waits for both; `web` for `api` to have started. Read back with `docker
inspect` on the board: every container on the stack's network under its
service's name, each started after what it waits for, and `api` resolving
and reaching `db` by its service name.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration

DEVICE, IP = "iord-01", "10.236.0.11"
STACK = """
name: order
services:
  db:
    image: fleet/workload:latest
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 100000"]
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 30}
  migrate:
    image: fleet/workload:latest
    command: ["sh", "-c", "sleep 1"]
    restart: "no"
    depends_on: {db: {condition: service_healthy}}
  api:
    image: fleet/workload:latest
    command: ["sleep", "100000"]
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  web:
    image: fleet/workload:latest
    stop_grace_period: 1s
    depends_on: [api]
"""

lab = lab_fixture("iord", "10.236.0.0/24", "--devices", "1", "--profiles", "pi4b-8g",
                  "--no-agent")


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("order")
    lab.pin(work / "known_hosts", DEVICE)
    (work / "images").mkdir()
    (work / "order.yaml").write_text(STACK)
    return work


@pytest.fixture(scope="module")
def deployed(lab: Lab, work: Path) -> dict[str, Any]:
    """The stack deployed once; `fleet deploy --json`'s answer."""
    return deploy(lab, work)


def deploy(lab: Lab, work: Path, stack: str = "order.yaml", *, ok: bool = True
           ) -> dict[str, Any]:
    return lab.deployed(work / stack, work, ok=ok)


def inspect(lab: Lab, *names: str) -> dict[str, Any]:
    code, out = lab.ssh(IP, "docker inspect " + " ".join(f"order-{n}-1" for n in names))
    assert code == 0, out
    return {c["Name"].lstrip("/").removeprefix("order-").removesuffix("-1"): c
            for c in json.loads(out)}


def at(timestamp: str) -> datetime:
    """docker's RFC 3339 time with nanoseconds, to microseconds."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}")


def test_every_service_joins_the_stack_network_under_its_name(
        lab: Lab, deployed: dict[str, Any]) -> None:
    assert deployed["ok"]
    found = inspect(lab, "db", "migrate", "api", "web")
    for service, c in found.items():
        network = c["NetworkSettings"]["Networks"]
        assert list(network) == ["order_default"], service
        assert service in network["order_default"]["Aliases"]
    code, out = lab.ssh(IP, "docker network inspect -f "
                            "'{{.Driver}} {{index .Labels \"fleet.stack\"}}' order_default")
    assert (code, out.split()) == (0, ["bridge", "order"])


def test_services_reach_each_other_by_name(lab: Lab, deployed: dict[str, Any]) -> None:
    assert deployed["ok"]
    code, out = lab.ssh(IP, "docker exec order-api-1 nslookup db 127.0.0.11 && "
                            "docker exec order-api-1 ping -c1 -W2 db")
    db_ip = inspect(lab, "db")["db"]["NetworkSettings"]["Networks"]["order_default"]["IPAddress"]
    assert code == 0, out
    assert db_ip and f"({db_ip})" in out and "1 packets received" in out


def test_each_service_starts_after_what_it_depends_on(lab: Lab, deployed: dict[str, Any]) -> None:
    assert deployed["ok"]
    c = inspect(lab, "db", "migrate", "api", "web")
    started = {name: at(x["State"]["StartedAt"]) for name, x in c.items()}
    # db is healthy no sooner than two seconds after it starts: migrate waited for that.
    assert (started["migrate"] - started["db"]).total_seconds() >= 2
    assert c["migrate"]["State"]["Status"] == "exited" and c["migrate"]["State"]["ExitCode"] == 0
    assert started["api"] >= at(c["migrate"]["State"]["FinishedAt"])
    assert started["web"] >= started["api"]
    assert c["web"]["State"]["Running"] and c["api"]["State"]["Running"]


def test_a_second_deploy_keeps_what_runs_and_runs_the_one_shot_again(
        lab: Lab, work: Path, deployed: dict[str, Any]) -> None:
    assert deployed["ok"]
    before = inspect(lab, "db", "migrate", "api", "web")
    again = deploy(lab, work)
    steps = {s["target"]: s["action"] for d in again["devices"] for s in d["steps"]}
    # As `docker compose up -d` does: an exited container of the same config is started again.
    assert steps == {"order-db-1": "keep", "order-migrate-1": "start", "order-api-1": "keep",
                     "order-web-1": "keep"}
    assert again["ok"]
    after = inspect(lab, "db", "migrate", "api", "web")
    for name in ("db", "api", "web"):
        assert after[name]["State"]["StartedAt"] == before[name]["State"]["StartedAt"]
    assert at(after["migrate"]["State"]["StartedAt"]) > at(before["migrate"]["State"]["StartedAt"])
    code, out = lab.ssh(IP, "docker network ls -q --filter label=fleet.stack=order | wc -l")
    assert (code, out.strip()) == (0, "1")


def test_a_dependency_that_never_becomes_healthy_leaves_the_board_on_its_revision(
        lab: Lab, work: Path, deployed: dict[str, Any]) -> None:
    assert deployed["ok"]
    before = inspect(lab, "db", "api", "web")
    broken = STACK.replace('test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 30',
                           'test: ["CMD", "false"], interval: 1s, retries: 1')
    broken = broken.replace('command: ["sleep", "100000"]',
                            'command: ["sleep", "100001"]')  # api changed too: it waits for db
    assert broken.count("100001") == 1 and '"false"' in broken
    (work / "broken.yaml").write_text(broken)
    result = deploy(lab, work, "broken.yaml", ok=False)
    [board] = result["devices"]
    assert board["outcomes"]["order-db-1"] == "failed" and not board["ok"]
    assert "order-db-1: did not stay healthy" in board["error"]
    assert "order-api-1: not started: it depends on order-db-1, not ready" in board["error"]
    after = inspect(lab, "db", "api", "web")
    for name in ("db", "api", "web"):  # the revisions that ran before, running again or still
        assert after[name]["Config"]["Labels"]["fleet.revision"] == \
            before[name]["Config"]["Labels"]["fleet.revision"]
        assert after[name]["State"]["Running"], name
    assert after["api"]["Id"] == before["api"]["Id"]  # never touched
