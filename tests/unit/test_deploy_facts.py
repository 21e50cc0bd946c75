"""Facts from data files: a status playbook's answer in (tests/data/facts/NAME.txt), values out."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.deploy.facts import FactsError, parse, parse_disk, parse_docker, parse_ports
from fleet.deploy.images import chain_ids
from fleet.model import PortBinding

CASES = sorted((Path(__file__).parents[1] / "data" / "facts").glob("*.txt"))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_status_answer_parses_to_the_expected_facts(case: Path) -> None:
    want = json.loads(case.with_suffix(".json").read_text())
    facts = parse("dev", case.read_text())
    assert facts.machine == want["machine"]
    assert (str(facts.arch) if facts.arch else None) == want["arch"]
    assert facts.os == want["os"]
    assert facts.docker == want["docker"]
    if "docker_problem" in want:
        assert facts.docker_problem == want["docker_problem"]
    assert (facts.disk_free_mb, facts.disk_total_mb) == (want["disk_free_mb"],
                                                         want["disk_total_mb"])
    assert facts.agent_version == want["agent_version"]
    assert dict(facts.images) == want["images"]
    assert len(facts.layers) == want["layers"]
    assert dict(facts.files) == want["files"]
    got = [{k: getattr(c, k) for k in c_want if k not in ("ports", "previous")}
           | {"ports": [f"{p.host}:{p.container}" for p in c.ports], "previous": c.is_previous}
           for c, c_want in zip(facts.containers, want["containers"], strict=True)]
    assert got == [w | {"previous": w.get("previous", False)} for w in want["containers"]]
    if "ports_taken_besides_sensors" in want:
        taken = sorted(f"{port}/{proto}" for port, proto in facts.ports_taken("sensors"))
        assert taken == want["ports_taken_besides_sensors"]


def test_ports_published_on_ipv4_and_ipv6_count_once_and_ranges_expand() -> None:
    text = "0.0.0.0:3067->8080/tcp, :::3067->8080/tcp, 0.0.0.0:4000-4001->5000-5001/udp, 80/tcp"
    assert parse_ports(text) == (PortBinding(3067, 8080), PortBinding(4000, 5000, "udp"),
                                 PortBinding(4001, 5001, "udp"))


def test_docker_installed_but_not_answering_says_why() -> None:
    version, problem = parse_docker("Cannot connect to the Docker daemon at unix:///var/run/"
                                    "docker.sock. Is the docker daemon running?")
    assert version is None and "not answering: Cannot connect" in problem


@pytest.mark.parametrize("text, message", [
    ("", "lacks its arch and disk section"),
    ("hello\n### arch\nx86_64\n### disk\n/ 1 2 3\n", "text before any section"),
    ("### arch\nx86_64\n### disk\nnot df\n", "disk: expected a `df -Pk` line"),
    ("### arch\nx86_64\n### disk\n/ 10 5 5 50% /\n### containers\na\tb\n", "expected 11"),
    ("### arch\nx86_64\n### disk\n/ 10 5 5 50% /\n### networks\nbridge\n", "networks line 1"),
    ("### arch\nx86_64\n### disk\n/ 10 5 5 50% /\n### images\nsha256:zz\t[]\t[]\n",
     "not an image id"),
    ("### arch\nx86_64\n### disk\n/ 10 5 5 50% /\n### files\nabc  /x\n", "expected `sha256"),
])
def test_an_unreadable_answer_names_the_device_and_section(text: str, message: str) -> None:
    with pytest.raises(FactsError, match=message) as e:
        parse("pi-07", text)
    assert str(e.value).startswith("pi-07: ")


def test_an_unknown_machine_is_kept_with_no_arch() -> None:
    facts = parse("dev", "### arch\nriscv64\n### disk\n/ 2048 1024 1024 50% /\n")
    assert facts.machine == "riscv64" and facts.arch is None
    assert parse_disk("dev", "/dev/root 2048 1024 1024 50% /") == (1, 2)


@given(st.text())
def test_any_answer_parses_or_raises_only_facts_error(text: str) -> None:
    with contextlib.suppress(FactsError):
        parse("dev", text)


def images_section(lines: list[str]) -> str:
    return "### arch\nx86_64\n### disk\n/ 2048 1024 1024 50% /\n### images\n" + "\n".join(lines)


def test_layers_are_the_chain_ids_of_every_image_untagged_and_layerless_ones_too() -> None:
    a, b, c = ("sha256:" + x * 64 for x in "abc")
    ids = ["sha256:" + x * 64 for x in "def"]
    facts = parse("dev", images_section([f'{ids[0]}\t["x:1"]\t{json.dumps([a, b])}',
                                         f"{ids[1]}\tnull\tnull",
                                         f"{ids[2]}\t[]\t{json.dumps([c])}"]))
    assert facts.layers == frozenset([*chain_ids([a, b]), c])
    assert dict(facts.images) == {"x:1": ids[0]}


@pytest.mark.parametrize("layers", ['["sha256:abc"]', "{", '{"a": 1}', "[1]"])
def test_a_layer_list_that_is_not_one_is_refused(layers: str) -> None:
    with pytest.raises(FactsError, match="images line 1"):
        parse("dev", images_section([f"sha256:{'d' * 64}\t[]\t{layers}"]))


@given(st.lists(st.lists(st.sampled_from(["sha256:" + x * 64 for x in "abc"]), max_size=4)))
def test_layers_read_what_docker_prints(images: list[list[str]]) -> None:
    lines = [f"sha256:{n:064x}\t[]\t{json.dumps(layers)}" for n, layers in enumerate(images)]
    facts = parse("dev", images_section(lines))
    assert facts.layers == frozenset(c for layers in images for c in chain_ids(layers))


def test_networks_say_which_stack_made_them_and_containers_which_they_join() -> None:
    container = "\t".join(["c1", "shop-web-1", "exited", "Exited (0)", "fleet/web:1", "",
                           "shop", "web", "0", "abc", "shop_back,shop_default"])
    facts = parse("dev", "### arch\nx86_64\n### disk\n/ 2048 1024 1024 50% /\n"
                  f"### containers\n{container}\n### networks\nbridge\t\nshop_default\tshop\n")
    assert dict(facts.networks) == {"bridge": "", "shop_default": "shop"}
    assert facts.containers[0].networks == ("shop_back", "shop_default")


def test_an_older_playbooks_containers_without_networks_still_read() -> None:
    container = "\t".join(["c1", "shop-web-1", "running", "Up", "fleet/web:1", "", "shop",
                           "web", "0", "abc"])
    facts = parse("dev", f"### arch\nx86_64\n### disk\n/ 2048 1024 1024 50% /\n"
                  f"### containers\n{container}\n")
    assert facts.containers[0].networks == () and facts.containers[0].revision == "abc"
