"""Registry references, manifests and indexes (shapes from the OCI image spec and docker's
docs), the pull/push decision, and what a failed `docker pull` is said to mean."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pytest

from fleet.deploy import transfer
from fleet.deploy.registry import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    arch_of,
    parse_challenge,
    parse_index,
    parse_reference,
    pick,
    registry_says,
)
from fleet.deploy.registry_client import Registry
from fleet.deploy.transfer import Transfer
from fleet.errors import ConfigError, RegistryError
from fleet.model import Arch


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "explicit"), [
    ("busybox", "docker.io", "library/busybox", "latest", False),
    ("fleet/app:1", "docker.io", "fleet/app", "1", False),
    ("ghcr.io/home-assistant/home-assistant:stable", "ghcr.io",
     "home-assistant/home-assistant", "stable", True),
    ("10.250.0.1:5000/fleet/web:1", "10.250.0.1:5000", "fleet/web", "1", True),
    ("localhost/app", "localhost", "app", "latest", True),
])
def test_references_are_read_as_docker_reads_them(text: str, registry: str, repository: str,
                                                  tag: str, explicit: bool) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.explicit) == (
        registry, repository, tag, explicit)


@pytest.mark.parametrize("text", ["Fleet/App", "app@sha256:1234", "a b", "host:5000/x:$(id)"])
def test_a_reference_docker_would_refuse_is_refused(text: str) -> None:
    with pytest.raises(RegistryError):
        parse_reference(text)


def _entry(arch: str, variant: str = "", os_name: str = "linux",
           kind: str = OCI_MANIFEST) -> dict[str, object]:
    platform = {"os": os_name, "architecture": arch, **({"variant": variant} if variant else {})}
    digest = "sha256:" + hashlib.sha256(f"{arch}{variant}{os_name}".encode()).hexdigest()
    return {"mediaType": kind, "digest": digest, "size": 525, "platform": platform}


def test_an_index_resolves_to_each_boards_platform_as_dockerd_picks() -> None:
    # A docker-library-style list: amd64, arm/v5, arm/v7, arm64/v8, and an attestation.
    entries = parse_index({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        _entry("amd64"), _entry("arm", "v5"), _entry("arm", "v7"), _entry("arm64", "v8"),
        _entry("unknown", os_name="unknown")]})
    picked = {arch: pick(entries, arch) for arch in Arch}
    assert {a: e.platform if e else None for a, e in picked.items()} == {
        Arch.AMD64: ("linux", "amd64", ""), Arch.ARM64: ("linux", "arm64", "v8"),
        Arch.ARMV7: ("linux", "arm", "v7")}


def test_an_armv7_board_takes_v6_when_there_is_no_v7_and_nothing_else_lacks_a_variant() -> None:
    entries = parse_index({"manifests": [_entry("arm", "v6"), _entry("windows", os_name="x")]})
    assert pick(entries, Arch.ARMV7) is not None
    assert pick(entries, Arch.ARM64) is None and pick(entries, Arch.AMD64) is None
    assert arch_of(("linux", "riscv64", "")) is None


@pytest.mark.parametrize("bad", [
    {"manifests": [{"mediaType": OCI_MANIFEST, "digest": "md5:abc", "size": 1}]},
    {"manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": -1}]},
    {"manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64,
                    "size": 1 << 50}]},
    {"manifests": "not a list"},
])
def test_hostile_descriptors_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RegistryError):
        parse_index(bad)


def test_a_bearer_challenge_is_read() -> None:
    scheme, params = parse_challenge('Bearer realm="https://auth.docker.io/token",'
                                     'service="registry.docker.io",'
                                     'scope="repository:library/busybox:pull"')
    assert scheme == "bearer"
    assert params["realm"] == "https://auth.docker.io/token"
    assert params["service"] == "registry.docker.io"


def test_registry_errors_are_named_from_their_codes() -> None:
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                   "detail": {"Tag": "nope"}}]}).encode()
    assert registry_says(404, body) == "no such tag"
    assert registry_says(401, b"") == "unauthorised"
    assert registry_says(500, b"<html>") == "HTTP 500"


class FakeRegistry:
    """Serves documents by URL; a token only after a Bearer challenge."""

    def __init__(self, documents: Mapping[str, tuple[str, bytes]]) -> None:
        self.documents = documents
        self.seen: list[tuple[str, Mapping[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str],
                 limit: int) -> tuple[int, Mapping[str, str], bytes]:
        self.seen.append((url, dict(headers)))
        if url.startswith("https://auth.example/token"):
            return 200, {}, json.dumps({"token": "t0k"}).encode()
        if headers.get("Authorization") != "Bearer t0k":
            return 401, {"www-authenticate": 'Bearer realm="https://auth.example/token",'
                                             'service="reg.example"'}, b""
        for suffix, (kind, body) in self.documents.items():
            if url.endswith(suffix):
                return 200, {"content-type": kind}, body[:limit + 1]
        return 404, {}, json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN"}]}).encode()


def _blob(doc: object) -> tuple[bytes, str]:
    raw = json.dumps(doc).encode()
    return raw, "sha256:" + hashlib.sha256(raw).hexdigest()


def _image(arch: str, variant: str = "") -> tuple[dict[str, tuple[str, bytes]], dict[str, object]]:
    """One platform's config and manifest as a registry serves them; and its index entry."""
    layer = "sha256:" + hashlib.sha256(arch.encode()).hexdigest()
    config, config_digest = _blob({"architecture": arch, "os": "linux",
                                   **({"variant": variant} if variant else {}),
                                   "rootfs": {"type": "layers", "diff_ids": [layer]}})
    manifest, manifest_digest = _blob({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer, "size": 1000}]})
    served = {f"/blobs/{config_digest}": ("application/octet-stream", config),
              f"/manifests/{manifest_digest}": (OCI_MANIFEST, manifest)}
    entry = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
             "platform": {"os": "linux", "architecture": arch,
                          **({"variant": variant} if variant else {})}}
    return served, entry


def test_an_index_is_read_through_a_bearer_token_and_each_variant_sized() -> None:
    amd, amd_entry = _image("amd64")
    arm, arm_entry = _image("arm64", "v8")
    index, _ = _blob({"schemaVersion": 2, "mediaType": OCI_INDEX,
                      "manifests": [amd_entry, arm_entry]})
    fake = FakeRegistry({**amd, **arm, "/manifests/1": (OCI_INDEX, index)})
    resolved = Registry(fetch=fake).resolve("reg.example/app:1")
    assert resolved.index and resolved.archs == {Arch.AMD64, Arch.ARM64}
    assert resolved.lacks(Arch.ARMV7).endswith("(the registry has it for linux/amd64, "
                                               "linux/arm64/v8)")
    variant = resolved.variants[Arch.ARM64]
    assert variant.download_bytes == variant.config.size + 1000
    assert variant.missing_bytes([variant.diff_ids[0]]) == 0  # the board has its one layer
    assert fake.seen[0][0] == "https://reg.example/v2/app/manifests/1"
    assert "scope=repository%3Aapp%3Apull" in fake.seen[1][0]


def test_a_served_manifest_that_is_not_what_its_digest_says_is_refused() -> None:
    amd, amd_entry = _image("amd64")
    index, _ = _blob({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd_entry]})
    tampered = {k: (kind, body + b" ") if "/manifests/sha256" in k else (kind, body)
                for k, (kind, body) in amd.items()}
    fake = FakeRegistry({**tampered, "/manifests/1": (OCI_INDEX, index)})
    with pytest.raises(RegistryError, match="served sha256"):
        Registry(fetch=fake).resolve("reg.example/app:1")


def test_a_missing_tag_names_the_registry() -> None:
    with pytest.raises(RegistryError, match=r"registry reg\.example: .*no such tag"):
        Registry(fetch=FakeRegistry({})).resolve("reg.example/app:nope")


@pytest.mark.parametrize(("ref", "asked", "local", "way"), [
    ("ghcr.io/home-assistant/home-assistant:stable", None, True, Transfer.PULL),
    ("fleet/app:1", None, True, Transfer.PUSH),
    ("fleet/app:1", None, False, Transfer.PULL),
    ("ghcr.io/x/y:1", Transfer.PUSH, False, Transfer.PUSH),
    ("fleet/app:1", Transfer.PULL, True, Transfer.PULL),
])
def test_how_a_board_gets_an_image(ref: str, asked: Transfer | None, local: bool,
                                   way: Transfer) -> None:
    assert transfer.decide(ref, asked, local)[0] is way


# What docker 20.10 said pulling from the lab's registry (distribution 2.8), and docker's
# messages for a registry that wants credentials.
@pytest.mark.parametrize(("output", "why"), [
    ("Error response from daemon: manifest for 10.0.0.1:5000/fleet/web:nope not found: "
     "manifest unknown: manifest unknown", "no such tag"),
    ("1: Pulling from fleet/foreign-only\nno matching manifest for linux/amd64 in the "
     "manifest list entries", "no variant for this board"),
    ('Error response from daemon: Get "http://10.0.0.1:5999/v2/": dial tcp 10.0.0.1:5999: '
     "connect: connection refused", "unreachable (connection refused)"),
    ('Error response from daemon: Get "https://nosuchhost.invalid/v2/": dial tcp: lookup '
     "nosuchhost.invalid on 10.255.255.53:53: no such host", "unreachable (the board cannot"),
    ("Error response from daemon: pull access denied for fleet/private, repository does not "
     "exist or may require 'docker login': denied: requested access to the resource is "
     "denied", "unauthorised"),
])
def test_a_failed_pull_names_the_registry_and_why(output: str, why: str) -> None:
    said = transfer.pull_failure("10.0.0.1:5000/fleet/web:1", output)
    assert said.startswith("pulling 10.0.0.1:5000/fleet/web:1 from 10.0.0.1:5000: " + why)


def test_the_pull_command_quotes_the_reference() -> None:
    assert transfer.pull_command("reg.example/a:1") == (
        "docker pull --quiet reg.example/a:1 >/dev/null && "
        "docker image inspect --format '{{.Id}}' reg.example/a:1")


def test_x_fleet_transfer_names_match_the_enum() -> None:
    from fleet.config.stack import TRANSFERS

    assert set(TRANSFERS) == {t.value for t in Transfer}


def test_x_fleet_transfer_is_read_and_an_unknown_one_refused_by_name() -> None:
    from fleet.config import stack

    text = "services:\n  web:\n    image: fleet/workload:latest\n    x-fleet: {transfer: %s}\n"
    assert stack.loads(text % "pull")[0].transfer == "pull"
    with pytest.raises(ConfigError, match=r"x-fleet\.transfer 'scp'"):
        stack.loads(text % "scp")
