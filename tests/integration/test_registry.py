"""Images from the lab's registry: boards pull them through their own dockerd.

Two boards of their own (lab `ireg`) and the lab's registry on the bridge
(fleet.lab.registry): `fleet/web:1` (one manifest), `fleet/multi:1` (an OCI index
with this host's variant and another) and `fleet/foreign-only:1` (an index with no
variant for these boards). The controller reads the registry over plain HTTP
($FLEET_INSECURE_REGISTRIES), as the boards' dockerd do (--insecure-registry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleet.deploy.registry_client import Registry
from fleet.lab import images
from fleet.lab import registry as lab_registry
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab, app_images

pytestmark = pytest.mark.integration

DEVICES = ("ireg-01", "ireg-02")
IPS = ("10.230.0.11", "10.230.0.12")

lab = lab_fixture("ireg", "10.230.0.0/24", "--devices", str(len(DEVICES)), "--profiles",
                  "pi4b-8g,pi5-8g", "--no-agent")


@pytest.fixture(scope="module", autouse=True)
def pinned(lab: Lab) -> None:
    lab.pin(lab.root.parent / "known_hosts", *DEVICES)


@pytest.fixture(autouse=True)
def insecure(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_INSECURE_REGISTRIES", lab.spec.registry)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("registry")
    app_images(work, {1: b"app version 1\n" + b"x" * 100_000})
    return work


def stack(work: Path, name: str, image: str, extra: str = "") -> Path:
    path = work / f"{name}.yaml"
    path.write_text(f"""
name: {name}
services:
  web:
    image: {image}
    stop_grace_period: 1s
    deploy:
      replicas: 2
      resources: {{limits: {{memory: 32M}}}}
      placement: {{max_replicas_per_node: 1}}
    x-fleet: {{strategy: spread{extra}}}
""")
    return path


def deployed(lab: Lab, work: Path, path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = lab.deploy(path, work, *args, known_hosts=lab.root.parent / "known_hosts")
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except ValueError:
        raise AssertionError(f"no JSON: {done.stdout}\n{done.stderr}") from None


def board_image(lab: Lab, ip: str, ref: str) -> str:
    code, out = lab.ssh(ip, f"docker image inspect --format '{{{{.Id}}}}' {ref}")
    return out.strip() if code == 0 else ""


def test_a_registry_image_is_pulled_by_each_board_and_nothing_is_pushed(lab: Lab,
                                                                       work: Path) -> None:
    ref = f"{lab.spec.registry}/{lab_registry.WEB}"
    resolved = Registry({lab.spec.registry}).resolve(ref)
    want = resolved.variants[images.HOST_ARCH].image_id
    assert not any(board_image(lab, ip, ref) for ip in IPS)
    code, report, err = deployed(lab, work, stack(work, "pulled", ref))
    assert code == 0, (report, err)
    assert report["images"][ref].startswith(f"pull from {lab.spec.registry}")
    for device in report["devices"]:
        assert [s["action"] for s in device["steps"]][:1] == ["pull"], device
        assert device["pushed"] == []
        assert [p["image_id"] for p in device["pulled"]] == [want]
    for ip in IPS:
        assert board_image(lab, ip, ref) == want  # the board's own dockerd pulled it
        code, out = lab.ssh(ip, "ls /var/lib/fleet/incoming 2>/dev/null | wc -l")
        assert out.strip() == "0"  # nothing was staged by a push
    again, report, err = deployed(lab, work, stack(work, "pulled", ref))
    assert again == 0, err
    assert all("pull" not in [s["action"] for s in d["steps"]] for d in report["devices"])


def test_an_index_gives_each_board_its_own_platforms_variant(lab: Lab, work: Path) -> None:
    ref = f"{lab.spec.registry}/{lab_registry.MULTI}"
    resolved = Registry({lab.spec.registry}).resolve(ref)
    assert resolved.index and resolved.archs == {images.HOST_ARCH, images.FOREIGN_ARCH}
    code, report, err = deployed(lab, work, stack(work, "multi", ref))
    assert code == 0, (report, err)
    host = resolved.variants[images.HOST_ARCH].image_id
    assert host != resolved.variants[images.FOREIGN_ARCH].image_id
    for ip in IPS:
        assert board_image(lab, ip, ref) == host


def test_an_index_without_a_variant_for_the_boards_is_refused_before_anything_runs(
        lab: Lab, work: Path) -> None:
    ref = f"{lab.spec.registry}/{lab_registry.FOREIGN_ONLY}"
    code, report, _ = deployed(lab, work, stack(work, "foreign", ref))
    assert code != 0
    assert report["unplaced"], report
    reasons = " ".join(str(u["reasons"]) for u in report["unplaced"])
    assert f"arch {images.HOST_ARCH}" in reasons, reasons
    for ip in IPS:
        assert board_image(lab, ip, ref) == ""  # nothing pulled
        _, names = lab.ssh(ip, "docker ps -a --format '{{.Names}}'")
        assert "foreign" not in names  # no container created


def test_archives_are_still_pushed(lab: Lab, work: Path) -> None:
    code, report, err = deployed(lab, work, stack(work, "archived", "fleet/app:1"))
    assert code == 0, (report, err)
    assert report["images"]["fleet/app:1"].startswith("push")
    assert all(d["pushed"] and not d["pulled"] for d in report["devices"]), report


def test_a_missing_tag_names_the_registry_and_why(lab: Lab, work: Path) -> None:
    ref = f"{lab.spec.registry}/fleet/web:nope"
    done = lab.deploy(stack(work, "nope", ref), work,
                      known_hosts=lab.root.parent / "known_hosts")
    assert done.returncode != 0
    assert f"registry {lab.spec.registry}" in done.stderr and "no such tag" in done.stderr, \
        done.stderr

