"""The lab's registry: the CNCF distribution registry on the bridge, standing in for a public one.

`fleet lab up` runs Debian's `docker-registry` (distribution 2.8) on the bridge address,
plain HTTP, so each board's dockerd is told it is an insecure registry. The lab then
publishes its images to it over the registry's own HTTP API (a blob upload, then a
manifest PUT), with no public registry and no buildx:

- `fleet/web:1`: one docker v2 manifest, the workload for this host's platform;
- `fleet/multi:1`: an OCI image index, a runnable variant for this host and one for
  the other 64-bit platform (the same busybox files claiming it);
- `fleet/foreign-only:1`: an OCI index with no variant for this host's boards (the
  other 64-bit platform and arm/v7), which a deploy here must refuse before sending.

The layer is the workload's own, gzip-compressed as registries serve layers. The
registry's process is found and stopped by `fleet lab down` through its config's path
under the lab's root, as the lab's other daemons are.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import time
from dataclasses import dataclass

from fleet.deploy.images import ImageSource, read_archive
from fleet.deploy.registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from fleet.errors import LabError
from fleet.lab import images
from fleet.lab.host import spawn
from fleet.lab.spec import REGISTRY_PORT, LabSpec
from fleet.model import Arch

WEB = "fleet/web:1"
MULTI = "fleet/multi:1"
FOREIGN_ONLY = "fleet/foreign-only:1"
_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def address(spec: LabSpec) -> str:
    """host:port of the lab's registry, as a board's dockerd and an image name spell it."""
    return spec.registry


def config_yaml(spec: LabSpec) -> str:
    """distribution's configuration: files under the lab's root, HTTP on the bridge, no auth."""
    root = spec.root / "registry"
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {address(spec)}",
        "",
    ])


def start(spec: LabSpec, timeout: float = 20) -> None:
    """Run the registry and wait until its API answers."""
    directory = spec.root / "registry"
    directory.mkdir(exist_ok=True)
    conf = directory / "config.yml"
    conf.write_text(config_yaml(spec))
    spawn(["docker-registry", "serve", str(conf)], directory / "registry.log")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _request(spec, "GET", "/v2/")[0] == 200:
                return
        if time.monotonic() > deadline:
            raise LabError(f"the registry did not answer at {address(spec)}; see "
                           f"{directory / 'registry.log'}")
        time.sleep(0.1)


@dataclass(frozen=True, slots=True)
class _Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data),
                **extra}


def publish(spec: LabSpec) -> dict[str, str]:
    """Push the lab's images (see the module's docstring); each name -> its digest."""
    layer_tar = _workload_layer()
    layer = gzip.compress(layer_tar, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    foreign = images.FOREIGN_ARCH
    published = {}
    manifest = _image(spec, "fleet/web", images.HOST_ARCH, layer, diff_id, docker=True)
    published[WEB] = _put_manifest(spec, WEB, manifest)
    for name, archs in ((MULTI, (images.HOST_ARCH, foreign)),
                        (FOREIGN_ONLY, (foreign, Arch.ARMV7))):
        repository = name.partition(":")[0]
        entries = [_image(spec, repository, arch, layer, diff_id, docker=False).descriptor(
            platform=_platform(arch)) for arch in archs]
        index = _Blob(OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                             "manifests": entries}).encode())
        published[name] = _put_manifest(spec, name, index)
    return published


def _workload_layer() -> bytes:
    archive = images.ensure(images.WORKLOAD)
    image = read_archive(archive)[0]
    with ImageSource([archive], engine=False).open_layer(image, image.layers[0]) as f:
        return f.read()


def _platform(arch: Arch) -> dict[str, str]:
    architecture, variant = images.OCI_PLATFORMS[arch]
    return {"os": "linux", "architecture": architecture, **({"variant": variant} if variant
                                                             else {})}


def _image(spec: LabSpec, repository: str, arch: Arch, layer: bytes, diff_id: str, *,
           docker: bool) -> _Blob:
    """Upload one platform's config and layer; its manifest (not yet put) as a blob."""
    config = _Blob(_DOCKER_CONFIG if docker else _OCI_CONFIG, json.dumps({
        **_platform(arch),
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": list(images.WORKLOAD.cmd)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "fleet lab registry"}],  # not the archive's image
    }, sort_keys=True).encode())
    blob = _Blob(_DOCKER_LAYER if docker else _OCI_LAYER, layer)
    for content in (config, blob):
        _upload(spec, repository, content)
    kind = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = _Blob(kind, json.dumps({"schemaVersion": 2, "mediaType": kind,
                                       "config": config.descriptor(),
                                       "layers": [blob.descriptor()]}).encode())
    if not docker:  # an index's entries are pushed by digest before the index names them
        _put_manifest(spec, f"{repository}@{manifest.digest}", manifest)
    return manifest


def _upload(spec: LabSpec, repository: str, blob: _Blob) -> None:
    """A monolithic upload: POST for a session, PUT the bytes with their digest."""
    if _request(spec, "HEAD", f"/v2/{repository}/blobs/{blob.digest}")[0] == 200:
        return
    status, headers, body = _request(spec, "POST", f"/v2/{repository}/blobs/uploads/")
    location = headers.get("location", "")
    if status != 202 or not location:
        raise LabError(f"registry: starting an upload to {repository}: {status} {body[:200]!r}")
    path = location.split(address(spec), 1)[-1]
    status, _, body = _request(spec, "PUT", path + ("&" if "?" in path else "?") +
                               f"digest={blob.digest}", blob.data,
                               {"Content-Type": "application/octet-stream"})
    if status != 201:
        raise LabError(f"registry: uploading {blob.digest[:19]} to {repository}: {status} "
                       f"{body[:200]!r}")


def _put_manifest(spec: LabSpec, name: str, manifest: _Blob) -> str:
    repository, at, digest = name.partition("@")
    if not at:
        repository, _, digest = name.partition(":")
    status, _, body = _request(spec, "PUT", f"/v2/{repository}/manifests/{digest}",
                               manifest.data, {"Content-Type": manifest.media_type})
    if status != 201:
        raise LabError(f"registry: putting {name}: {status} {body[:300]!r}")
    return manifest.digest


def _request(spec: LabSpec, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(spec.bridge_ip, REGISTRY_PORT, timeout=30)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()

