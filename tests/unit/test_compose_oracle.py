"""fleet's compose resolution against `docker-compose config` (Debian's v1), over a corpus.

docker-compose only parses here: no daemon, no root. What its output format
really differs in is normalised away: ports in long form, `$` written back as
`$$`, environment lists as mappings, `cap_add` sorted, `cpus` cast to a
number, its `version:` key. v1 prints every service whatever its profiles, so
the spec's rule is applied to its output (a service runs if it has no
profiles or one is active).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.config import compose, stack
from fleet.model import PortWant

CORPUS = Path(__file__).parents[1] / "data" / "compose"
CASES: dict[str, dict[str, Any]] = YAML(typ="safe").load((CORPUS / "cases.yaml").read_text())
COMPARED = ("image", "command", "entrypoint", "environment", "ports", "deploy", "mem_limit",
            "mem_reservation", "cpus", "platform", "runtime", "labels", "restart", "cap_add",
            "x-fleet", "profiles")

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="docker-compose (v1, the oracle) is not installed: "
                                       "`make setup` installs it")


def fleet_services(case: dict[str, Any], where: Path) -> dict[str, Any]:
    env_files = (where / case["env_file"],) if "env_file" in case else None
    options = compose.Options(env_files, case["environ"], tuple(case.get("profiles", ())))
    files = [(str(where / f), (where / f).read_text()) for f in case["files"]]
    resolved = compose.resolve(files, options)
    stack.load_stack(*(where / f for f in case["files"]), options=options)  # fleet reads them
    return {name: normal(body) for name, body in resolved.root.value["services"].items()}


def oracle_services(case: dict[str, Any], where: Path) -> dict[str, Any]:
    command = ["docker-compose", *(a for f in case["files"] for a in ("-f", str(where / f)))]
    if "env_file" in case:
        command += ["--env-file", str(where / case["env_file"])]
    env = {"PATH": os.environ["PATH"], **case["environ"]}
    done = subprocess.run([*command, "config"], env=env, capture_output=True, text=True,
                          check=True, timeout=60)
    services = YAML(typ="safe").load(done.stdout)["services"]
    active = set(case.get("profiles", ())) | {
        p for p in case["environ"].get("COMPOSE_PROFILES", "").split(",") if p}
    return {name: normal(unescaped(body)) for name, body in services.items()
            if not body.get("profiles") or active & set(body["profiles"])}


def unescaped(value: Any) -> Any:
    """v1 writes each `$` of a resolved value back as `$$` (its output is a compose file)."""
    if isinstance(value, dict):
        return {k: unescaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescaped(v) for v in value]
    return value.replace("$$", "$") if isinstance(value, str) else value


def normal(body: dict[str, Any]) -> dict[str, Any]:
    out = {k: plain(body[k]) for k in COMPARED if k in body}
    for key in ("environment", "labels"):
        if key in out:
            out[key] = {k: None if v is None else str(v) for k, v in pairs(out[key])}
    if "ports" in out:
        out["ports"] = sorted(port_wants(out["ports"]), key=repr)
    if "cap_add" in out:
        out["cap_add"] = sorted(set(out["cap_add"]))
    return out


def plain(value: Any) -> Any:
    """Plain containers; `cpus` as a number, as v1's schema casts it."""
    if isinstance(value, dict):
        return {str(k): float(v) if k == "cpus" else plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def pairs(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return list(value.items())
    return [(k, v if sep else None) for k, sep, v in (str(i).partition("=") for i in value)]


def port_wants(items: list[Any]) -> list[PortWant]:
    wants: list[PortWant] = []
    for item in items:
        if isinstance(item, dict):  # v1's long form
            item = f"{item.get('published', '')}:{item['target']}/{item.get('protocol', 'tcp')}"
        wants.extend(stack.ports(item))
    return wants


@pytest.mark.parametrize("name", sorted(CASES))
def test_fleet_resolves_services_as_docker_compose_does(name: str) -> None:
    case, where = CASES[name], CORPUS / name
    assert fleet_services(case, where) == oracle_services(case, where)


def test_the_corpus_covers_each_feature() -> None:
    """Each case must reach the oracle with something to compare."""
    for name, case in CASES.items():
        services = oracle_services(case, CORPUS / name)
        assert services, name
