"""Pushing an image: refusals, the commands sent, resuming, run against a board that is a local sh.

The board is FakeConnection with a handler that runs each command in this
machine's `sh`, so the staging scripts really run (head, sha256sum, tar); its
`docker` is a stand-in that keeps what `docker load` was given and answers
`image inspect` with the id the test says it has.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.deploy.images import Image, ImageSource, read_archive
from fleet.deploy.push import (
    PushResult,
    _Chain,
    device_manifest,
    parse_probe,
    probe_command,
    push,
    staging_dir,
)
from fleet.errors import PushError, SshError
from fleet.model import Arch
from fleet.ssh.connection import FakeConnection, Result
from tests.unit.test_deploy_images import APP1, APP2, BASE, archive

FAKE_DOCKER = """#!/bin/sh
case "$1" in
  load) [ ! -e "$BOARD/load-fails" ] || { echo "Error: no space left on device" >&2; exit 1; }
        cat > "$BOARD/loaded.tar" ;;
  image) cat "$BOARD/id" ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac
"""


@dataclass
class Board:
    """A board in a directory: its staging root, its docker, what it was sent."""

    root: Path
    cut_after: int | None = None  # a link that breaks after this many bytes of the next send

    def __post_init__(self) -> None:
        (self.root / "bin").mkdir(parents=True)
        docker = self.root / "bin" / "docker"
        docker.write_text(FAKE_DOCKER)
        docker.chmod(0o755)

    @property
    def staging(self) -> str:
        return str(self.root / "incoming")

    def has(self, image: Image) -> None:
        (self.root / "id").write_text(image.id + "\n")

    def handle(self, command: str, stdin: bytes) -> Result:
        cut = self.cut_after if stdin else None  # the break comes while data is flowing
        if cut is not None:
            self.cut_after = None
        env = {"PATH": f"{self.root / 'bin'}:{os.environ['PATH']}", "BOARD": str(self.root)}
        done = subprocess.run(["sh", "-c", command], input=stdin[:cut], capture_output=True,
                              env=env, timeout=60, check=False)
        if cut is not None:
            raise SshError("fake: the SSH session failed: the link went down")
        return Result(command, done.returncode, done.stdout, done.stderr)

    def loaded(self) -> dict[str, bytes]:
        with tarfile.open(self.root / "loaded.tar") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


@pytest.fixture
def board(tmp_path: Path) -> Board:
    return Board(tmp_path / "board")


@pytest.fixture
def images(tmp_path: Path) -> tuple[Image, Image]:
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    [v1] = read_archive(archive(shelf, "fleet/app:1", [BASE, APP1]))
    [v2] = read_archive(archive(shelf, "fleet/app:2", [BASE, APP2]))
    return v1, v2


SOURCE = ImageSource(engine=False)


def send(board: Board, image: Image, present: frozenset[str] = frozenset(), *,
         free_mb: int = 10_000, arch: Arch = Arch.AMD64) -> tuple[FakeConnection, PushResult]:
    conn = FakeConnection(board.handle, device="pi-01")
    board.has(image)
    ticks = iter(range(100))
    result = push(conn, image, SOURCE, present, free_mb=free_mb, keep_free_mb=100,
                  device_arch=arch, staging=board.staging, clock=lambda: float(next(ticks)))
    return conn, result


def layer_bytes(image: Image, index: int) -> bytes:
    with SOURCE.open_layer(image, image.layers[index]) as f:
        return f.read()


def header(image: Image) -> bytes:
    """What every send starts with: the config, then the manifest for the board's archive."""
    return SOURCE.config(image) + device_manifest(image)


def chains(image: Image, upto: int) -> frozenset[str]:
    return frozenset(layer.chain_id for layer in image.layers[:upto])


def test_a_fresh_board_gets_every_layer_in_three_commands(board: Board,
                                                          images: tuple[Image, Image]) -> None:
    v1, _ = images
    conn, result = send(board, v1)
    probe, _, load = (command for command, _ in conn.calls)
    assert all(layer.hex in probe for layer in v1.layers)
    layers = [layer_bytes(v1, i) for i in range(2)]
    assert conn.calls[1][1] == header(v1) + b"".join(layers)
    assert "docker load" in load and "--remove-files" in load
    manifest = json.dumps([{"Config": f"{v1.hex}.json", "RepoTags": ["fleet/app:1"],
                            "Layers": [f"{x.hex}.tar" for x in v1.layers]}]).encode()
    assert board.loaded() == {"manifest.json": manifest, f"{v1.hex}.json": SOURCE.config(v1),
                              **{f"{x.hex}.tar": b for x, b in zip(v1.layers, layers,
                                                                   strict=True)}}
    assert result == PushResult("pi-01", "fleet/app:1", v1.id, sum(map(len, layers)),
                                len(conn.calls[1][1]), 2, 0, 0, None, 1.0)
    assert not Path(staging_dir(v1, board.staging)).exists()


def test_a_second_version_sends_only_its_new_layer(board: Board,
                                                   images: tuple[Image, Image]) -> None:
    v1, v2 = images
    conn, result = send(board, v2, chains(v1, 2))
    assert v2.layers[1].hex in conn.calls[0][0] and v2.layers[0].hex not in conn.calls[0][0]
    app2 = layer_bytes(v2, 1)
    assert conn.calls[1][1] == header(v2) + app2
    assert set(board.loaded()) == {"manifest.json", f"{v2.hex}.json", f"{v2.layers[1].hex}.tar"}
    assert (result.missing_bytes, result.sent_bytes, result.layers_sent,
            result.layers_skipped) == (len(app2), len(header(v2) + app2), 1, 1)


def test_nothing_missing_sends_config_and_manifest_and_loads(board: Board,
                                                             images: tuple[Image, Image]) -> None:
    v1, _ = images
    conn, result = send(board, v1, chains(v1, 2))
    assert [data for _, data in conn.calls] == [header(v1), b""]  # no probe: nothing to resume
    assert set(board.loaded()) == {"manifest.json", f"{v1.hex}.json"}
    assert (result.missing_bytes, result.layers_sent, result.layers_skipped) == (0, 0, 2)


@pytest.mark.parametrize(("arch", "free_mb", "reason"), [
    (Arch.ARM64, 10_000, "image fleet/app:1 is amd64, device is arm64"),
    (Arch.AMD64, 100, "image fleet/app:1 needs 1 MB for new layers (staged and unpacked), "
                      "100 MB free, 100 MB kept free"),
])
def test_a_refused_board_is_sent_nothing(board: Board, images: tuple[Image, Image],
                                         arch: Arch, free_mb: int, reason: str) -> None:
    v1, _ = images
    conn, result = send(board, v1, free_mb=free_mb, arch=arch)
    assert conn.calls == []
    assert (result.refused, result.sent_bytes, result.layers_sent, result.ok) == \
        (reason, 0, 0, False)
    assert not (board.root / "incoming").exists()


def test_a_broken_link_resumes_where_it_stopped(board: Board,
                                                images: tuple[Image, Image]) -> None:
    v1, _ = images
    base, app = layer_bytes(v1, 0), layer_bytes(v1, 1)
    board.cut_after = len(header(v1)) + 3000  # 3000 bytes into the first layer
    with pytest.raises(SshError, match="link went down"):
        send(board, v1)
    part = Path(staging_dir(v1, board.staging), f"{v1.layers[0].hex}.part")
    assert part.read_bytes() == base[:3000]

    conn, result = send(board, v1)
    first = v1.layers[0].hex
    assert f"layer {first} {len(base)} 3000 {first}\n" in conn.calls[1][0]
    assert conn.calls[1][1] == header(v1) + base[3000:] + app
    assert (result.resumed_bytes, result.sent_bytes) == (3000, len(conn.calls[1][1]))
    assert board.loaded()[f"{v1.layers[0].hex}.tar"] == base


def test_a_layer_staged_and_checked_before_the_break_is_not_sent_again(
        board: Board, images: tuple[Image, Image]) -> None:
    v1, _ = images
    base, app = layer_bytes(v1, 0), layer_bytes(v1, 1)
    board.cut_after = len(header(v1)) + len(base) + 10  # 10 bytes into the second layer
    with pytest.raises(SshError):
        send(board, v1)
    conn, result = send(board, v1)
    assert f"layer {v1.layers[0].hex} " not in conn.calls[1][0]
    assert conn.calls[1][1] == header(v1) + app[10:]
    assert result.resumed_bytes == len(base) + 10
    loaded = board.loaded()
    assert (loaded[f"{v1.layers[0].hex}.tar"], loaded[f"{v1.layers[1].hex}.tar"]) == (base, app)


def test_a_corrupt_partial_is_removed_and_sent_afresh(board: Board,
                                                      images: tuple[Image, Image]) -> None:
    v1, _ = images
    directory = Path(staging_dir(v1, board.staging))
    directory.mkdir(parents=True)
    part = directory / f"{v1.layers[0].hex}.part"
    part.write_bytes(b"garbage" * 10)
    with pytest.raises(PushError, match=r"pi-01: staging fleet/app:1: layer \w+: sha256 mismatch"):
        send(board, v1)
    assert not part.exists()
    conn, result = send(board, v1)
    assert conn.calls[1][1] == header(v1) + layer_bytes(v1, 0) + layer_bytes(v1, 1)
    assert result.resumed_bytes == 0
    assert board.loaded()[f"{v1.layers[0].hex}.tar"] == layer_bytes(v1, 0)


def test_a_load_that_fails_is_a_push_error_and_leaves_no_staging(
        board: Board, images: tuple[Image, Image]) -> None:
    v1, _ = images
    (board.root / "load-fails").touch()
    with pytest.raises(PushError, match="pi-01: loading fleet/app:1: Error: no space left"):
        send(board, v1)
    assert not Path(staging_dir(v1, board.staging)).exists()


def test_an_image_id_other_than_the_pushed_one_is_an_error(board: Board,
                                                           images: tuple[Image, Image]) -> None:
    v1, v2 = images
    conn = FakeConnection(board.handle, device="pi-01")
    board.has(v2)
    with pytest.raises(PushError, match=f"fleet/app:1 is {v2.id} after loading, not {v1.id}"):
        push(conn, v1, SOURCE, frozenset(), free_mb=10_000, keep_free_mb=0,
             device_arch=Arch.AMD64, staging=board.staging)


def test_sent_is_told_every_byte(board: Board, images: tuple[Image, Image]) -> None:
    v1, _ = images
    told: list[int] = []
    board.has(v1)
    result = push(FakeConnection(board.handle), v1, SOURCE, frozenset(), free_mb=10_000,
                  keep_free_mb=0, device_arch=Arch.AMD64, sent=told.append,
                  staging=board.staging)
    assert sum(told) == result.sent_bytes > result.missing_bytes


def test_parse_probe(images: tuple[Image, Image]) -> None:
    v1, _ = images
    a, b = v1.layers
    assert parse_probe(f"{a.hex} done\n{b.hex} 12\n", v1.layers) == {a.hex: -1, b.hex: 12}
    assert parse_probe(f"{a.hex} 0\n{b.hex} {b.size + 1}\n", v1.layers) == {a.hex: 0, b.hex: 0}
    for bad in (f"{a.hex} x\n{b.hex} 0", f"{a.hex} 0", "sha256 0", f"{a.hex} 0 0"):
        with pytest.raises(PushError, match="probe"):
            parse_probe(bad, v1.layers)


def test_probe_command_reports_what_is_staged(tmp_path: Path, images: tuple[Image, Image]
                                              ) -> None:
    v1, _ = images
    a, b = v1.layers
    directory = tmp_path / "in dir"
    directory.mkdir()
    (directory / f"{a.hex}.tar").write_bytes(b"x")
    (directory / f"{b.hex}.part").write_bytes(b"12345")
    out = subprocess.run(["sh", "-c", probe_command(str(directory), v1.layers)],
                         capture_output=True, text=True, check=True).stdout
    assert parse_probe(out, v1.layers) == {a.hex: -1, b.hex: 5}


def test_chain_reads_parts_in_order_in_any_chunk_size() -> None:
    parts = [b"abc", b"", b"defgh", b"i" * 5003]
    for size in (1, 2, 7, 4096):
        stream = io.BufferedReader(_Chain(io.BytesIO(p) for p in parts), 4)
        got = bytearray()
        while chunk := stream.read(size):
            got += chunk
        assert bytes(got) == b"".join(parts)
