"""`fleet bench push`: a new version of an image sent to a lab device, only its new layer.

A one-device lab (no agent) has the lab's Debian base preloaded, as a board
that runs anything already has its base. v1 is that base, a generated "lib"
layer and an app layer; v2 shares base and lib and has its own app layer.
v1 is pushed, then v2 is measured: bytes sent against the bytes the device
lacked, and against a full `docker save` archive of v2. The baseline, in the
same run and over the same SSH connection: that full archive streamed into
`docker load`, as `docker save | ssh docker load` would.
"""

from __future__ import annotations

import io
import random
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

from fleet.config import inventory
from fleet.deploy.facts import gather
from fleet.deploy.images import MB, Image, ImageSource, read_archive
from fleet.deploy.push import PushResult, push
from fleet.lab import images, lab
from fleet.lab.spec import LabSpec
from fleet.ssh.connection import Connection, Result, Sent, SshConnection
from fleet.ssh.hostkeys import HostKey, KnownHosts

TARGET_RATIO = 1.05  # sent_mb <= 1.05 x missing_mb
LAB_NAME, LAB_SUBNET = "benchpu", "10.241.0.0/24"
LIB_MB, APP_MB = 8, 3
KEEP_FREE_MB = 500


class Counting:
    """A Connection that counts the commands run through it: a push's round trips."""

    def __init__(self, conn: SshConnection) -> None:
        self.conn, self.device, self.user, self.commands = conn, conn.device, conn.user, 0

    def run(self, command: str, *, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, sent: Sent | None = None) -> Result:
        self.commands += 1
        return self.conn.run(command, stdin=stdin, timeout=timeout, sent=sent)

    def put(self, data: bytes | BinaryIO, remote: str, *, mode: int = 0o644,
            sent: Sent | None = None) -> None:
        self.commands += 1
        self.conn.put(data, remote, mode=mode, sent=sent)

    def close(self) -> None:
        self.conn.close()


def run(seed: int = 1) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready object; `seed` makes the generated layers."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as root:
        spec = LabSpec.create(LAB_NAME, root=Path(root) / LAB_NAME, subnet=LAB_SUBNET)
        shelf = Path(root) / "images"
        shelf.mkdir()
        try:
            lab.up(spec, 1, agent=False)
            _build(shelf, random.Random(seed))
            figures = _measure(spec, Path(root), ImageSource([shelf], engine=False))
        finally:
            lab.down(spec)
    met = figures["sent_mb"] <= TARGET_RATIO * figures["missing_mb"]
    figures |= {"targets": {"sent_mb": f"<= {TARGET_RATIO} x missing_mb"},
                "met": {"sent_mb": met}}
    return {"benchmark": "push", "push": figures, "met": met}


def _build(shelf: Path, rnd: random.Random) -> None:
    """v1 and v2 over the lab's Debian base layer, as docker-archives on `shelf`."""
    [base_image] = read_archive(images.ensure(images.AGENT_BASE))
    base = shelf / "base.tar"
    with ImageSource().open_layer(base_image, base_image.layers[0]) as f, base.open("wb") as out:
        while chunk := f.read(MB):
            out.write(chunk)
    lib = _layer(shelf / "lib.tar", "usr/lib/app", LIB_MB, rnd)
    for version in ("1", "2"):
        app = _layer(shelf / f"app{version}.tar", "srv/app", APP_MB, rnd)
        images.write_archive(shelf / f"app-{version}.tar", [base, lib, app],
                             tag=f"fleet/bench-app:{version}", arch=images.HOST_ARCH,
                             cmd=("ls", "/srv/app"))
        app.unlink()
    base.unlink()
    lib.unlink()


def _layer(path: Path, directory: str, size_mb: int, rnd: random.Random) -> Path:
    """A layer of 1 MB files of random bytes (incompressible, like binaries and assets)."""
    with tarfile.open(path, "w") as tar:
        for n in range(size_mb):
            info = tarfile.TarInfo(f"{directory}/part-{n:03d}.bin")
            info.size, info.mode = MB, 0o644
            tar.addfile(info, io.BytesIO(rnd.randbytes(MB)))
    return path


def _measure(spec: LabSpec, root: Path, source: ImageSource) -> dict[str, Any]:
    [d] = spec.devices(1)
    known_hosts = KnownHosts(root / "known_hosts")
    known_hosts.pin(d.id, HostKey.parse((spec.ssh_dir(d) / "ssh_host_ed25519_key.pub")
                                        .read_text()))
    v1, v2 = source.find("fleet/bench-app:1"), source.find("fleet/bench-app:2")
    with SshConnection(inventory.load(spec.inventory).device(d.id), known_hosts) as ssh:
        conn = Counting(ssh)
        first = _push(conn, v1, source)
        commands = conn.commands
        second = _push(conn, v2, source)
        commands = conn.commands - commands
        started = time.monotonic()
        with v2.archive.open("rb") as archive:
            loaded = conn.run("docker load -q", stdin=archive)
        baseline = time.monotonic() - started
        if not loaded.ok:
            raise RuntimeError(f"baseline docker load failed: {loaded.why()}")
        ran = conn.run("docker run --rm fleet/bench-app:2")
    if not (ran.ok and "part-000.bin" in ran.text):
        raise RuntimeError(f"v2 did not run on the device: {ran.why()}")
    return {
        "missing_mb": round(second.missing_bytes / MB, 3),
        "sent_mb": round(second.sent_bytes / MB, 3),
        "full_save_mb": round(v2.archive.stat().st_size / MB, 3),
        "ratio_sent_vs_missing": round(second.sent_bytes / second.missing_bytes, 4),
        "ratio_sent_vs_full_save": round(second.sent_bytes / v2.archive.stat().st_size, 4),
        "seconds": round(second.seconds, 2),
        "full_load_seconds": round(baseline, 2),
        "ssh_commands": commands,  # facts, probe, send, load
        "layers_sent": second.layers_sent, "layers_skipped": second.layers_skipped,
        "v1_missing_mb": round(first.missing_bytes / MB, 3),
        "v1_sent_mb": round(first.sent_bytes / MB, 3),
        "v1_seconds": round(first.seconds, 2),
    }


def _push(conn: Connection, image: Image, source: ImageSource) -> PushResult:
    board = gather(conn)
    if board.arch is None:
        raise RuntimeError(f"the device's architecture {board.machine} is not one fleet knows")
    result = push(conn, image, source, board.layers, free_mb=board.disk_free_mb,
                  keep_free_mb=KEEP_FREE_MB, device_arch=board.arch)
    if result.refused:
        raise RuntimeError(f"push refused: {result.refused}")
    return result


__all__ = ["run"]
