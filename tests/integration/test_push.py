"""Pushing images over real SSH to a lab device's real dockerd: only new layers, resumable, refused.

The images share the lab's busybox layer (preloaded on every device) and a
generated "lib" layer; each version adds its own app layer.
"""

from __future__ import annotations

import io
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.config import inventory
from fleet.deploy.facts import gather
from fleet.deploy.images import Image, ImageSource, needed_mb, read_archive
from fleet.deploy.push import PushResult, device_manifest, push, staging_dir
from fleet.errors import FleetError
from fleet.lab import images as lab_images
from fleet.lab.images import FOREIGN_ARCH, WORKLOAD, write_archive
from fleet.model import Device
from fleet.ssh import sudo
from fleet.ssh.connection import Sent, SshConnection
from fleet.ssh.hostkeys import KnownHosts
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration
KEEP_FREE_MB = 100
FILLER = "/var/lib/docker/fleet-test-filler"  # on the device's card (sparse: costs no real disk)


@dataclass
class Pushing:
    lab: Lab
    device: Device
    known_hosts: KnownHosts
    shelf: Path
    source: ImageSource

    def connect(self) -> SshConnection:
        return SshConnection(self.device, self.known_hosts)

    def image(self, ref: str) -> Image:
        return self.source.find(ref)

    def push(self, conn: SshConnection, image: Image, sent: Sent | None = None) -> PushResult:
        board = gather(conn)
        assert board.arch is not None
        return push(conn, image, self.source, board.layers, free_mb=board.disk_free_mb,
                    keep_free_mb=KEEP_FREE_MB, device_arch=board.arch, sent=sent)

    def has_v1(self, conn: SshConnection) -> None:
        """v1 on the board (pushed by the first test; again here if a test runs alone)."""
        assert self.push(conn, self.image("fleet/app:1")).refused is None


def layer(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def build_images(shelf: Path) -> None:
    """v1..v3 for this host's arch, one for another: busybox + lib + an app layer each."""
    [workload] = read_archive(lab_images.ensure(WORKLOAD))
    busybox = shelf / "busybox.tar"
    with ImageSource().open_layer(workload, workload.layers[0]) as f:
        busybox.write_bytes(f.read())
    rnd = random.Random(7)
    lib = layer(shelf / "lib.tar", {"lib/blob": rnd.randbytes(3 << 20)})
    apps = {"1": 1 << 20, "2": 1 << 20, "3": 4 << 20, "x": 1 << 20}
    for version, size in apps.items():
        app = layer(shelf / f"app{version}.tar", {"app/version": f"v{version}\n".encode(),
                                                  "app/blob": rnd.randbytes(size)})
        arch = FOREIGN_ARCH if version == "x" else WORKLOAD.arch
        write_archive(shelf / f"app-{version}.tar", [busybox, lib, app], tag=f"fleet/app:{version}",
                      arch=arch, cmd=("cat", "/app/version"))
    for scratch in ("busybox.tar", "lib.tar", *(f"app{v}.tar" for v in apps)):
        (shelf / scratch).unlink()


lab = lab_fixture("ipush", "10.240.0.0/24", "--devices", "1", "--no-agent")


@pytest.fixture(scope="module")
def ipush(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Pushing:
    [d] = lab.spec.devices(1)
    known_hosts = lab.pin(lab.root.parent / "known_hosts", d.id)
    shelf = tmp_path_factory.mktemp("shelf")
    build_images(shelf)
    return Pushing(lab, inventory.load(lab.spec.inventory).device(d.id), known_hosts, shelf,
                   ImageSource([shelf], engine=False))


def header(pushing: Pushing, image: Image) -> int:
    """The bytes every push sends besides layers: the config and the board's manifest."""
    return len(pushing.source.config(image)) + len(device_manifest(image))


def test_v1_is_pushed_and_runs(ipush: Pushing) -> None:
    v1 = ipush.image("fleet/app:1")
    with ipush.connect() as conn:
        assert conn.user == "pi"  # logged in as the board's user: the push goes through sudo
        result = ipush.push(conn, v1)
        assert result.refused is None
        # busybox was preloaded by the lab: lib and app go
        assert (result.layers_skipped, result.layers_sent) == (1, 2)
        assert result.missing_bytes == v1.layers[1].size + v1.layers[2].size
        assert result.sent_bytes == result.missing_bytes + header(ipush, v1)
        run = sudo.run(conn, "docker run --rm fleet/app:1")
        assert (run.exit_code, run.text) == (0, "v1\n")
        assert sudo.run(conn, f"test -e {staging_dir(v1)}").exit_code == 1


def test_v2_sends_only_its_new_layer(ipush: Pushing) -> None:
    v2 = ipush.image("fleet/app:2")
    with ipush.connect() as conn:
        ipush.has_v1(conn)
        result = ipush.push(conn, v2)
        assert (result.layers_skipped, result.layers_sent) == (2, 1)
        assert result.missing_bytes == v2.layers[2].size
        assert result.sent_bytes <= 1.05 * result.missing_bytes
        assert sudo.run(conn, "docker run --rm fleet/app:2").text == "v2\n"


def test_a_push_broken_mid_layer_resumes_with_the_rest(ipush: Pushing) -> None:
    v3 = ipush.image("fleet/app:3")
    new = v3.layers[2]
    with ipush.connect() as conn:
        ipush.has_v1(conn)
        sudo.run(conn, "docker rmi fleet/app:3")  # if an earlier run left it
    conn = ipush.connect()
    sent = [0]

    def cut_halfway(n: int) -> None:
        sent[0] += n
        if sent[0] >= new.size // 2:
            conn.close()

    with pytest.raises(FleetError, match=r"push again to resume|SSH session failed"):
        ipush.push(conn, v3, sent=cut_halfway)
    with ipush.connect() as conn:
        staged = sudo.run(conn, f"wc -c < {staging_dir(v3)}/{new.hex}.part")
        # How much of the half sent reached the disk before the cut depends on the host's
        # load (what was in flight is lost); what matters is that the rest, and only the
        # rest, is sent next.
        assert staged.ok and 0 < int(staged.text) < new.size
        result = ipush.push(conn, v3)
        assert result.resumed_bytes == int(staged.text)
        assert result.sent_bytes - header(ipush, v3) == new.size - result.resumed_bytes
        assert sudo.run(conn, "docker run --rm fleet/app:3").text == "v3\n"


def test_the_wrong_architecture_is_refused_before_sending(ipush: Pushing) -> None:
    foreign = ipush.image("fleet/app:x")
    with ipush.connect() as conn:
        result = ipush.push(conn, foreign)
        assert result.refused == f"image fleet/app:x is {FOREIGN_ARCH}, device is {WORKLOAD.arch}"
        assert (result.sent_bytes, result.layers_sent) == (0, 0)
        assert sudo.run(conn, f"test -e {staging_dir(foreign)}").exit_code == 1
        assert sudo.run(conn, "docker image inspect fleet/app:x").exit_code == 1


def test_a_nearly_full_card_is_refused_before_sending(ipush: Pushing) -> None:
    v3 = ipush.image("fleet/app:3")
    with ipush.connect() as conn:
        ipush.has_v1(conn)
        sudo.run(conn, "docker rmi fleet/app:3")  # its own layer goes with it: needed again
        sudo.run(conn, f"rm -rf {staging_dir(v3)}")  # what an earlier, broken push staged
        before = gather(conn)
        need = needed_mb(v3.layers[2].size)
        # leave the card just short of the new layer's room plus what is kept free
        fill_kb = (before.disk_free_mb - KEEP_FREE_MB - need + 1) * 1024
        assert sudo.run(conn, f"fallocate -l {fill_kb}K {FILLER}").ok
        try:
            result = ipush.push(conn, v3)
            assert result.refused is not None and f"needs {need} MB for new layers" in \
                result.refused and f"{KEEP_FREE_MB} MB kept free" in result.refused
            assert result.sent_bytes == 0
            assert sudo.run(conn, f"test -e {staging_dir(v3)}").exit_code == 1
        finally:
            assert sudo.run(conn, f"rm -f {FILLER}").ok
        assert ipush.push(conn, v3).refused is None  # room again: it goes


def test_an_image_only_the_local_engine_has_is_saved_once(ipush: Pushing, tmp_path: Path
                                                           ) -> None:
    [d] = ipush.lab.spec.devices(1)
    source = ImageSource(docker_host=f"unix://{ipush.lab.spec.docker_socket(d)}",
                         cache=tmp_path)
    image = source.find("fleet/workload")
    [workload] = read_archive(lab_images.ensure(WORKLOAD))
    assert (image.ref, image.id, image.arch) == ("fleet/workload:latest", workload.id,
                                                 WORKLOAD.arch)
    saved = sorted(tmp_path.iterdir())
    assert [p.name for p in saved] == [workload.hex + ".tar"]
    stamp = saved[0].stat().st_mtime_ns
    assert source.find("fleet/workload:latest").id == workload.id
    assert saved[0].stat().st_mtime_ns == stamp
