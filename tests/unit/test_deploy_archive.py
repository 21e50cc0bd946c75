"""OCI archives as skopeo, buildah and docker 25+ write them: compressed layers, indexes,
hostile names."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.deploy import inflate
from fleet.deploy.archive import read_archive, read_member
from fleet.deploy.images import Image, ImageSource, load_mb, refusal
from fleet.deploy.push import PushResult, push
from fleet.errors import ImageError
from fleet.model import Arch
from fleet.ssh.connection import FakeConnection
from tests.unit.test_deploy_push import Board

OCI = "application/vnd.oci.image"
BASE = {"bin/sh": b"#!" + b"b" * 50_000}
APP = {"app/run": b"v1" * 30_000}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


def plain(data: bytes) -> bytes:
    return data


COMPRESS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "": (plain, ""), "gzip": (gzip.compress, "+gzip"), "zstd": (zstd, "+zstd")}


class Layout:
    """An OCI image layout being written: blobs by digest, then index.json, as one tar."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def blob(self, data: bytes, media_type: str, **extra: object) -> dict[str, object]:
        self.files["blobs/sha256/" + sha(data).removeprefix("sha256:")] = data
        return {"mediaType": media_type, "digest": sha(data), "size": len(data), **extra}

    def image(self, layers: list[tuple[dict[str, bytes] | bytes, str]], arch: str = "amd64",
              variant: str = "", diff_ids: list[str] | None = None,
              cmd: tuple[str, ...] = ("sh",)) -> dict[str, object]:
        """An image manifest's descriptor; each layer as (its files or tar, compression)."""
        plain = [t if isinstance(t, bytes) else tar_of(t) for t, _ in layers]
        config = {"architecture": arch, "os": "linux",
                  "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": list(cmd)},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha(t) for t in plain]}}
        if variant:
            config["variant"] = variant
        manifest = {
            "schemaVersion": 2, "mediaType": f"{OCI}.manifest.v1+json",
            "config": self.blob(json.dumps(config).encode(), f"{OCI}.config.v1+json"),
            "layers": [self.blob(COMPRESS[how][0](t), f"{OCI}.layer.v1.tar{COMPRESS[how][1]}")
                       for t, (_, how) in zip(plain, layers, strict=True)]}
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        return self.blob(json.dumps(manifest).encode(), f"{OCI}.manifest.v1+json",
                         platform=platform)

    def index(self, manifests: list[dict[str, object]]) -> dict[str, object]:
        """A multi-platform index's descriptor."""
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": f"{OCI}.index.v1+json",
                                     "manifests": manifests}).encode(), f"{OCI}.index.v1+json")

    def write(self, path: Path, manifests: list[dict[str, object]], name: str) -> Path:
        for descriptor in manifests:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
        path.write_bytes(tar_of(self.files))
        return path


def source(tmp_path: Path, *archives: Path) -> ImageSource:
    return ImageSource(archives, engine=False, cache=tmp_path / "cache")


def stored_bytes(src: ImageSource, image: Image, index: int) -> bytes:
    with src.open_layer(image, image.layers[index]) as f:
        return f.read()


@pytest.fixture
def compressed(tmp_path: Path) -> Path:
    oci = Layout()
    return oci.write(tmp_path / "app.tar", [oci.image([(BASE, "gzip"), (APP, "zstd")])],
                     "fleet/app:1")


def test_magic_bytes_tell_the_compression_as_docker_does() -> None:
    assert inflate.detect(gzip.compress(b"x")) == "gzip"
    assert inflate.detect(zstd(b"x")) == "zstd"
    assert inflate.detect(b"\x5e\x2a\x4d\x18" + b"\0" * 4) == "zstd"  # a skippable frame first
    assert inflate.detect(b"BZh91AY") == "bzip2"
    assert inflate.detect(b"\xfd7zXZ\x00\x00") == "xz"
    assert inflate.detect(tar_of(BASE)) == ""


def test_compressed_layers_are_checked_once_and_sent_as_docker_20_10_loads_them(
        tmp_path: Path, compressed: Path) -> None:
    [raw] = read_archive(compressed)
    assert [(layer.compression, layer.size) for layer in raw.layers] == [("gzip", 0), ("zstd", 0)]
    src = source(tmp_path, compressed)
    image = src.find("fleet/app:1")
    base, app = tar_of(BASE), tar_of(APP)
    assert [layer.diff_id for layer in image.layers] == [sha(base), sha(app)]
    assert [layer.size for layer in image.layers] == [len(base), len(app)]
    # gzip goes as stored (docker 20.10 inflates it); zstd is inflated here first.
    sent_gzip = stored_bytes(src, image, 0)
    assert inflate.detect(sent_gzip) == "gzip" and gzip.decompress(sent_gzip) == base
    assert stored_bytes(src, image, 1) == app
    gz, zs = image.layers
    assert (gz.sent_size, gz.sent_hex) == (gz.stored, hashlib.sha256(
        stored_bytes(src, image, 0)).hexdigest())
    assert (zs.sent_size, zs.sent_hex) == (len(app), zs.hex)
    with src.open_layer(image, zs, offset=1000) as f:  # a resumed zstd layer
        assert f.read() == app[1000:]
    assert load_mb(image.layers) == -(-(gz.stored + len(base) + 2 * len(app)) // (1 << 20))
    # The check is kept by the stored digest: the next source trusts it without inflating.
    assert len(list((tmp_path / "cache" / "layers").glob("*.json"))) == 2


def test_a_layer_whose_contents_differ_from_its_diff_id_refuses_the_image(tmp_path: Path) -> None:
    oci = Layout()
    path = oci.write(tmp_path / "bad.tar", [oci.image(
        [(BASE, "gzip"), (APP, "zstd")], diff_ids=[sha(tar_of(BASE)), sha(b"something else")])],
        "fleet/bad:1")
    with pytest.raises(ImageError, match=r"layer blobs/sha256/[0-9a-f]{64} of fleet/bad:1: "
                                         r"its uncompressed tar is sha256:"):
        source(tmp_path, path).find("fleet/bad:1")


def test_a_multi_platform_index_resolves_to_each_boards_variant(tmp_path: Path) -> None:
    oci = Layout()
    arm64 = oci.image([(BASE, "gzip"), (APP, "gzip")], arch="arm64", variant="v8")
    amd64 = oci.image([(BASE, "zstd")], arch="amd64")
    absent = {"mediaType": f"{OCI}.manifest.v1+json", "digest": sha(b"not saved"), "size": 9,
              "platform": {"architecture": "riscv64", "os": "linux"}}
    attestation = oci.blob(b'{"config": {}}', f"{OCI}.manifest.v1+json",
                           platform={"architecture": "unknown", "os": "unknown"},
                           annotations={"vnd.docker.reference.type": "attestation-manifest"})
    index = oci.index([amd64, arm64, absent, attestation])
    path = oci.write(tmp_path / "multi.tar", [index], "fleet/multi:1")
    found = read_archive(path)
    assert [(i.ref, i.arch) for i in found] == [("fleet/multi:1", Arch.AMD64),
                                                ("fleet/multi:1", Arch.ARM64)]
    assert {i.platforms for i in found} == {(Arch.AMD64, Arch.ARM64)}
    src = source(tmp_path, path)
    on_arm = src.find("fleet/multi:1", Arch.ARM64)
    assert (on_arm.arch, len(on_arm.layers)) == (Arch.ARM64, 2)
    first = src.find("fleet/multi:1")
    assert src.for_arch(first, Arch.ARM64).id == on_arm.id
    assert refusal(on_arm, Arch.ARM64, 10_000, 100) is None
    assert refusal(src.for_arch(first, Arch.ARMV7), Arch.ARMV7, 10_000, 100) == \
        "image fleet/multi:1 has no variant for armv7 (it has amd64, arm64)"
    with pytest.raises(ImageError, match=r"has no variant for armv7 \(it has amd64, arm64\)"):
        src.find("fleet/multi:1", Arch.ARMV7)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../x"])
def test_a_name_leading_out_of_the_archive_is_refused(tmp_path: Path, name: str) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"diff_ids": [sha(b"x")]}}).encode()
    path = tmp_path / "evil.tar"
    path.write_bytes(tar_of({"c.json": config, "manifest.json": json.dumps(
        [{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": [name]}]).encode()}))
    with pytest.raises(ImageError, match="points outside the archive"):
        read_archive(path)


def test_metadata_is_read_only_up_to_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.tar"
    path.write_bytes(tar_of({"config.json": b"{" + b" " * 5000 + b"}"}))
    assert read_member(path, "config.json", limit=6000).startswith(b"{")
    with pytest.raises(ImageError, match=r"config\.json is 5002 bytes, more than the 4096"):
        read_member(path, "config.json", limit=4096)


def test_a_push_stages_gzip_as_stored_and_zstd_inflated_each_checked_on_the_board(
        tmp_path: Path, compressed: Path) -> None:
    board = Board(tmp_path / "board")
    src = source(tmp_path, compressed)
    image = src.find("fleet/app:1")
    board.has(image)
    conn = FakeConnection(board.handle, device="pi-01")
    result = push(conn, image, src, frozenset(), free_mb=10_000, keep_free_mb=100,
                  device_arch=Arch.AMD64, staging=board.staging, clock=lambda: 0.0)
    gz, zs = image.layers
    assert isinstance(result, PushResult) and result.ok
    assert result.missing_bytes == gz.stored + zs.size
    loaded = board.loaded()
    assert gzip.decompress(loaded[f"{gz.hex}.tar"]) == tar_of(BASE)
    assert loaded[f"{zs.hex}.tar"] == tar_of(APP)
    assert f"layer {gz.hex} {gz.stored} 0 {gz.sent_hex}\n" in conn.calls[1][0]
    assert f"layer {zs.hex} {zs.size} 0 {zs.hex}\n" in conn.calls[1][0]
