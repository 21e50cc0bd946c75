"""Reading images from archives, and the pure decisions about them: missing layers, refusals."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from fleet.deploy.images import (
    MB,
    Image,
    ImageSource,
    chain_ids,
    missing,
    needed_mb,
    normalize_ref,
    read_archive,
    refusal,
)
from fleet.errors import ImageError
from fleet.lab.images import write_archive
from fleet.model import Arch


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(path: Path, files: dict[str, bytes]) -> Path:
    """A layer: a tar of `files`, written to `path`."""
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def archive(tmp_path: Path, tag: str, layers: list[dict[str, bytes]],
            arch: Arch = Arch.AMD64, name: str = "") -> Path:
    paths = [layer_tar(tmp_path / f"layer-{i}-{hashlib.md5(repr(f).encode()).hexdigest()}.tar", f)
             for i, f in enumerate(layers)]
    out = tmp_path / (name or tag.replace("/", "_").replace(":", "_") + ".tar")
    write_archive(out, paths, tag=tag, arch=arch, cmd=("sh",))
    return out


BASE = {"bin/sh": b"#!" + b"b" * 5000}
APP1 = {"app/run": b"v1" * 3000}
APP2 = {"app/run": b"v2" * 4000}


def to_oci(legacy: Path, out: Path, *, with_manifest: bool = True) -> Path:
    """The same image in docker 25's layout: blobs/sha256/..., index.json, manifest.json."""
    with tarfile.open(legacy) as src:
        manifest = json.loads(src.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = src.extractfile(manifest["Config"]).read()  # type: ignore[union-attr]
        layers = [src.extractfile(name).read() for name in manifest["Layers"]]  # type: ignore[union-attr]
    blobs = {sha(b).removeprefix("sha256:"): b for b in [config, *layers]}
    oci_manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(b),
                    "size": len(b)} for b in layers]}).encode()
    blobs[sha(oci_manifest).removeprefix("sha256:")] = oci_manifest
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(oci_manifest),
        "size": len(oci_manifest),
        "annotations": {"io.containerd.image.name": f"docker.io/{manifest['RepoTags'][0]}"}}]}
    files = {f"blobs/sha256/{h}": b for h, b in blobs.items()}
    files["index.json"] = json.dumps(index).encode()
    files["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    if with_manifest:
        files["manifest.json"] = json.dumps([{
            "Config": f"blobs/sha256/{sha(config).removeprefix('sha256:')}",
            "RepoTags": manifest["RepoTags"],
            "Layers": [f"blobs/sha256/{sha(b).removeprefix('sha256:')}" for b in layers]}]).encode()
    return layer_tar(out, files)


def layer_bytes(image: Image, index: int) -> bytes:
    with ImageSource().open_layer(image, image.layers[index]) as f:
        return f.read()


def test_reads_a_legacy_archive(tmp_path: Path) -> None:
    path = archive(tmp_path, "fleet/app:1", [BASE, APP1], arch=Arch.ARM64)
    [image] = read_archive(path)
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
    assert (image.ref, image.id, image.arch, image.os) == \
        ("fleet/app:1", sha(config), Arch.ARM64, "linux")
    bodies = [layer_bytes(image, i) for i in range(2)]
    assert [layer.diff_id for layer in image.layers] == [sha(b) for b in bodies]
    assert [layer.size for layer in image.layers] == [len(b) for b in bodies]
    assert image.size == sum(len(b) for b in bodies)
    assert image.layers[0].chain_id == image.layers[0].diff_id
    assert ImageSource().config(image) == config


def test_both_oci_layouts_read_as_the_same_image(tmp_path: Path) -> None:
    legacy = archive(tmp_path, "fleet/app:1", [BASE, APP1])
    [want] = read_archive(legacy)
    for with_manifest in (True, False):
        oci = to_oci(legacy, tmp_path / f"oci-{with_manifest}.tar", with_manifest=with_manifest)
        [image] = read_archive(oci)
        assert (image.ref, image.id, image.arch) == (want.ref, want.id, want.arch)
        assert [(x.diff_id, x.chain_id, x.size) for x in image.layers] == \
            [(x.diff_id, x.chain_id, x.size) for x in want.layers]
        assert [layer_bytes(image, i) for i in range(2)] == [layer_bytes(want, i) for i in range(2)]


def test_a_layer_linked_to_another_reads_through_the_link(tmp_path: Path) -> None:
    """docker's legacy save writes a repeated layer once and links the repeat to it."""
    one = layer_tar(tmp_path / "one.tar", APP1)
    data = one.read_bytes()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"diff_ids": [sha(data), sha(data)]}}).encode()
    out = tmp_path / "linked.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(one, arcname="a/layer.tar")
        link = tarfile.TarInfo("b/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../a/layer.tar"
        tar.addfile(link)
        for name, body in (("c.json", config), ("manifest.json", json.dumps([{
                "Config": "c.json", "RepoTags": ["x:1"],
                "Layers": ["a/layer.tar", "b/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    [image] = read_archive(out)
    assert layer_bytes(image, 1) == data
    assert image.size == len(data)  # one file, counted once
    assert len(missing(image, ())) == 1  # and sent once


@pytest.mark.parametrize(("platform", "arch"), [
    ({"architecture": "arm64", "variant": "v8"}, Arch.ARM64),
    ({"architecture": "arm", "variant": "v7"}, Arch.ARMV7),
    ({"architecture": "amd64"}, Arch.AMD64),
])
def test_platforms_fleet_knows(tmp_path: Path, platform: dict[str, str], arch: Arch) -> None:
    assert read_archive(config_only(tmp_path, platform))[0].arch is arch


@pytest.mark.parametrize("platform", [{"architecture": "arm", "variant": "v6"},
                                      {"architecture": "s390x"}, {}])
def test_platforms_no_board_runs_are_named(tmp_path: Path, platform: dict[str, str]) -> None:
    with pytest.raises(ImageError, match="which no fleet board runs"):
        read_archive(config_only(tmp_path, platform))


def config_only(tmp_path: Path, platform: dict[str, str]) -> Path:
    config = json.dumps({**platform, "os": "linux", "rootfs": {"diff_ids": []}}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": None, "Layers": []}]).encode()
    return layer_tar(tmp_path / "c.tar", {"c.json": config, "manifest.json": manifest})


@pytest.mark.parametrize(("files", "message"), [
    ({"x": b""}, "no manifest.json or index.json"),
    ({"manifest.json": b"{"}, "manifest.json is not JSON"),
    ({"manifest.json": b'[{"Config": "c.json", "Layers": ["l.tar"]}]', "c.json": b"{}"},
     "not an image config"),
    ({"manifest.json": b'[{"Config": "c.json", "Layers": ["l.tar"]}]',
      "c.json": b'{"rootfs": {"diff_ids": []}}'}, "lists 0 layers, the manifest 1"),
    ({"manifest.json": b'[{"Config": "c.json", "Layers": ["l.tar"]}]',
      "c.json": b'{"rootfs": {"diff_ids": ["sha256:' + b"0" * 64 + b'"]}}'}, "archive lacks"),
])
def test_a_broken_archive_says_what_is_wrong(tmp_path: Path, files: dict[str, bytes],
                                             message: str) -> None:
    with pytest.raises(ImageError, match=message):
        read_archive(layer_tar(tmp_path / "bad.tar", files))


def test_not_a_tar_at_all(tmp_path: Path) -> None:
    (tmp_path / "junk.tar").write_bytes(b"not a tar" * 100)
    with pytest.raises(ImageError, match=r"junk\.tar: not a readable image archive"):
        read_archive(tmp_path / "junk.tar")


def test_open_layer_from_an_offset_resumes_the_bytes(tmp_path: Path) -> None:
    [image] = read_archive(archive(tmp_path, "fleet/app:1", [BASE, APP1]))
    whole = layer_bytes(image, 1)
    source = ImageSource()
    for offset in (0, 1, 512, len(whole) - 1, len(whole)):
        with source.open_layer(image, image.layers[1], offset) as f:
            assert f.read() == whole[offset:]
    with pytest.raises(ValueError, match="outside layer"):
        source.open_layer(image, image.layers[1], len(whole) + 1)


@pytest.mark.parametrize(("given_ref", "normal"), [
    ("busybox", "busybox:latest"),
    ("docker.io/library/busybox:1.36", "busybox:1.36"),
    ("docker.io/grafana/grafana", "grafana/grafana:latest"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost:5000/app:2", "localhost:5000/app:2"),
    ("fleet/app:1", "fleet/app:1"),
    ("sha256:" + "a" * 64, "sha256:" + "a" * 64),
])
def test_normalize_ref(given_ref: str, normal: str) -> None:
    assert normalize_ref(given_ref) == normal


def test_chain_ids_follow_dockers_rule() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == (a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest())
    assert chain_ids([b, a])[1] != chain_ids([a, b])[1]


def present_of(*images: Image) -> frozenset[str]:
    return frozenset(layer.chain_id for image in images for layer in image.layers)


def test_missing_layers(tmp_path: Path) -> None:
    [v1] = read_archive(archive(tmp_path, "fleet/app:1", [BASE, APP1]))
    [v2] = read_archive(archive(tmp_path, "fleet/app:2", [BASE, APP2]))
    [solo] = read_archive(archive(tmp_path, "fleet/solo:1", [APP1]))
    assert missing(v2, ()) == v2.layers
    assert missing(v2, present_of(v1)) == (v2.layers[1],)
    assert missing(v1, present_of(v1)) == ()
    # APP1's content is on the board, but over BASE: docker needs the file again here.
    assert missing(solo, present_of(v1)) == solo.layers


def test_refused_for_the_wrong_architecture_whatever_the_disk(tmp_path: Path) -> None:
    [image] = read_archive(archive(tmp_path, "fleet/x:1", [APP1], arch=Arch.ARM64))
    assert refusal(image, Arch.AMD64, free_mb=10_000, keep_free_mb=0) == \
        "image fleet/x:1 is arm64, device is amd64"
    assert refusal(image, Arch.ARM64, free_mb=10_000, keep_free_mb=0) is None


def test_refused_for_disk_counting_new_layers_twice(tmp_path: Path) -> None:
    big = {"blob": bytes(3 * MB)}
    [v1] = read_archive(archive(tmp_path, "fleet/big:1", [BASE, big]))
    new = v1.layers[1].size  # a little over 3 MB: the tar's headers
    assert needed_mb(new) == 7 and needed_mb(0) == 0
    assert refusal(v1, Arch.AMD64, 107, 100, present_of(v1)) is None  # nothing new
    assert refusal(v1, Arch.AMD64, 107 + 1, 100, {v1.layers[0].chain_id}) is None
    assert refusal(v1, Arch.AMD64, 107, 100, {v1.layers[0].chain_id}) is None
    assert refusal(v1, Arch.AMD64, 106, 100, {v1.layers[0].chain_id}) == (
        "image fleet/big:1 needs 7 MB for new layers (staged and unpacked), "
        "106 MB free, 100 MB kept free")


def test_find_looks_in_files_and_directories(tmp_path: Path) -> None:
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    archive(shelf, "fleet/app:1", [BASE, APP1])
    archive(shelf, "fleet/app:2", [BASE, APP2])
    (shelf / "junk.tar").write_bytes(b"junk")
    lone = archive(tmp_path, "fleet/lone:1", [APP1])
    source = ImageSource([shelf, lone], engine=False)
    assert source.find("fleet/app:2").ref == "fleet/app:2"
    assert source.find("docker.io/fleet/lone:1").archive == lone
    with pytest.raises(ImageError) as caught:
        source.find("fleet/app:3")
    assert str(caught.value).startswith(f"image fleet/app:3 not found; looked in: {shelf};")
    assert "junk.tar (unreadable" in str(caught.value)
    assert str(lone) in str(caught.value)


def test_find_names_fleet_images_and_a_silent_engine(tmp_path: Path) -> None:
    source = ImageSource.from_env([], environ={"FLEET_IMAGES": str(tmp_path / "none")},
                                  docker_host=f"unix://{tmp_path}/docker.sock")
    with pytest.raises(ImageError) as caught:
        source.find("busybox")
    message = str(caught.value)
    assert message.startswith(f"image busybox:latest not found; looked in: {tmp_path}/none "
                              "(missing); the docker engine at unix://")
    assert "not answering" in message
