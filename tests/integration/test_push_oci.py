"""`fleet deploy` from an OCI archive with compressed layers, by push, to a real board's dockerd.

The archive is a multi-platform index (this host's platform and a foreign one)
whose image has three layers: the lab's busybox (gzip; every board has it), a
library layer (gzip: sent as stored, docker 20.10 inflates it) and an app
layer (zstd: docker 20.10 cannot read it, so fleet inflates it first).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from fleet.deploy.images import Image, ImageSource
from fleet.lab import images
from fleet.model import Arch
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab
from tests.unit.test_deploy_archive import Layout, tar_of

pytestmark = pytest.mark.integration

REF = "fleet/oci:1"
lab = lab_fixture("ioci", "10.229.0.0/24", "--devices", "1", "--no-agent")


@pytest.fixture(scope="module")
def work(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("oci")
    (work / "images").mkdir()
    busybox = work / "busybox.tar"
    images.busybox_layer(busybox)
    rnd = random.Random(19)
    lib = tar_of({"lib/blob": rnd.randbytes(1 << 20) + b"\0" * (2 << 20)})
    app = tar_of({"app/version": b"oci v1\n", "app/blob": b"a" * (1 << 20)})
    cmd = ("sh", "-c", "cat /app/version && exec sleep 100000")
    oci = Layout()
    here, there = (("amd64", ""), ("arm64", "v8")) if images.HOST_ARCH is Arch.AMD64 \
        else (("arm64", "v8"), ("amd64", ""))
    variants = [oci.image([(busybox.read_bytes(), "gzip"), (lib, "gzip"), (app, "zstd")],
                          arch=arch, variant=variant, cmd=cmd) for arch, variant in (there, here)]
    oci.write(work / "images" / "oci.tar", [oci.index(variants)], REF)
    (work / "stack.yaml").write_text(f"""
name: oci
services:
  app:
    image: {REF}
    stop_grace_period: 1s
""")
    lab.pin(work / "known_hosts", lab.spec.devices(1)[0].id)
    return work


def deploy(lab: Lab, work: Path) -> dict[str, Any]:
    return lab.deployed(work / "stack.yaml", work)


def host_variant(work: Path) -> Image:
    return ImageSource([work / "images"], engine=False, cache=work / "cache").find(
        REF, images.HOST_ARCH)


def test_an_oci_archive_with_gzip_and_zstd_layers_is_pushed_and_runs(lab: Lab,
                                                                     work: Path) -> None:
    image = host_variant(work)
    assert [layer.compression for layer in image.layers] == ["gzip", "gzip", "zstd"]
    result = deploy(lab, work)
    [pushed] = [p for d in result["devices"] for p in d["pushed"]]
    _, lib, app = image.layers
    # busybox was on the board; lib went compressed as the archive holds it, app as its tar.
    assert (pushed["image"], pushed["missing_bytes"]) == (REF, lib.stored + app.size)
    assert lib.stored < lib.size // 2 and pushed["sent_bytes"] < pushed["missing_bytes"] + 8192
    ip = lab.spec.devices(1)[0].ip
    code, out = lab.ssh(ip, f"docker image inspect -f '{{{{.Id}}}} {{{{json .RootFS.Layers}}}}' "
                            f"{REF}")
    assert code == 0, out
    image_id, layers = out.split(" ", 1)
    assert image_id == image.id
    assert json.loads(layers) == [layer.diff_id for layer in image.layers]
    code, out = lab.ssh(ip, "docker ps --filter label=fleet.stack=oci --format '{{.State}}'")
    assert (code, out.split()) == (0, ["running"])
    code, out = lab.ssh(ip, "docker logs $(docker ps -q --filter label=fleet.stack=oci)")
    assert (code, out) == (0, "oci v1\n")


def test_a_second_deploy_pushes_nothing(lab: Lab, work: Path) -> None:
    deploy(lab, work)  # as the first test left it, when this one runs alone
    result = deploy(lab, work)
    assert result["ok"]
    assert [p for d in result["devices"] for p in d["pushed"]] == []
