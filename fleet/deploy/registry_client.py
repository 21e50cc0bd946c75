"""The HTTP edge of fleet.deploy.registry: reads manifests, indexes and image configs.

The Docker Registry HTTP API v2 / OCI distribution spec, GETs only: over HTTPS (plain
HTTP only for registries named insecure, $FLEET_INSECURE_REGISTRIES, as docker's
`insecure-registries`), following a registry's anonymous Bearer challenge
(WWW-Authenticate, then its token service). Every byte read is hostile: bodies are
bounded before they are parsed, media types checked, sizes and sha256 digests compared
with the descriptor that named them; nothing read is ever run or put in a shell. The
token is sent only to the registry itself, never along a redirect to blob storage.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fleet.deploy.images import DIGEST
from fleet.deploy.registry import (
    CONFIG_MAX,
    INDEX_TYPES,
    MANIFEST_MAX,
    MANIFEST_TYPES,
    TOKEN_MAX,
    Descriptor,
    Reference,
    Resolved,
    Variant,
    arch_of,
    media_type,
    parse_challenge,
    parse_config,
    parse_index,
    parse_json,
    parse_manifest,
    parse_reference,
    pick,
    registry_says,
)
from fleet.errors import RegistryError
from fleet.model import Arch

# fetch(url, headers) -> (status, response headers lower-cased, at most `limit` + 1 bytes)
Fetch = Callable[[str, Mapping[str, str], int], tuple[int, Mapping[str, str], bytes]]


class Registry:
    """Reads what registries say an image is: manifests, indexes, configs. No pushes."""

    def __init__(self, insecure: Iterable[str] = (), *, fetch: Fetch | None = None,
                 timeout: float = 20) -> None:
        """`insecure`: registries (host:port) spoken to over plain HTTP."""
        self.insecure = frozenset(insecure)
        self._fetch = fetch or _urllib_fetch(timeout)
        self._tokens: dict[tuple[str, str], str] = {}

    def resolve(self, text: str) -> Resolved:
        """The image `text` names, with the variant for every platform fleet boards run."""
        ref = parse_reference(text)
        body, kind, digest = self._document(ref, ref.wanted, (*INDEX_TYPES, *MANIFEST_TYPES))
        if kind in MANIFEST_TYPES:
            platform, variant = self._variant(ref, digest, body)
            name = "/".join(p for p in platform if p)
            return Resolved(ref, digest, False, {variant.arch: variant} if variant else {},
                            (name,))
        entries = parse_index(body)
        variants = {}
        for arch in Arch:
            entry = pick(entries, arch)
            if entry is not None:
                child, _, _ = self._document(ref, entry.digest, MANIFEST_TYPES, entry)
                _, variants[arch] = self._variant(ref, entry.digest, child, arch)
        offered = tuple(dict.fromkeys(e.platform_name for e in entries
                                      if e.platform_name and e.platform[0] != "unknown"))
        return Resolved(ref, digest, True, {a: v for a, v in variants.items() if v}, offered)

    def _variant(self, ref: Reference, digest: str, manifest: Mapping[str, Any],
                 arch: Arch | None = None) -> tuple[tuple[str, str, str], Variant | None]:
        """A manifest's platform, and its variant if a fleet board runs it (as `arch`, an
        index's entry, else as its config says)."""
        config, layers = parse_manifest(manifest)
        platform, diff_ids = parse_config(self._blob(ref, config))
        if len(diff_ids) != len(layers):
            raise RegistryError(f"{ref}: config lists {len(diff_ids)} layers, manifest "
                                f"{len(layers)}")
        arch = arch or arch_of(platform)
        return platform, Variant(arch, digest, config, layers, diff_ids) if arch else None

    def _document(self, ref: Reference, wanted: str, types: tuple[str, ...],
                  expected: Descriptor | None = None) -> tuple[dict[str, Any], str, str]:
        """A manifest or index: its JSON, its media type, its digest (checked if pinned)."""
        headers, raw = self._get(ref, f"manifests/{wanted}", ", ".join(types), MANIFEST_MAX)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        _check(ref, raw, digest, wanted if DIGEST.fullmatch(wanted) else "", expected)
        body = parse_json(raw, f"{ref}'s manifest")
        try:
            kind = media_type(headers.get("content-type", ""), body, types)
        except RegistryError as e:
            raise RegistryError(f"{ref}: {e}") from None
        return body, kind, digest

    def _blob(self, ref: Reference, config: Descriptor) -> dict[str, Any]:
        if config.size > CONFIG_MAX:
            raise RegistryError(f"{ref}: config of {config.size} bytes, over {CONFIG_MAX}")
        _, raw = self._get(ref, f"blobs/{config.digest}", "*/*", CONFIG_MAX)
        _check(ref, raw, "sha256:" + hashlib.sha256(raw).hexdigest(), config.digest, config)
        return parse_json(raw, f"{ref}'s config")

    def _get(self, ref: Reference, path: str, accept: str,
             limit: int) -> tuple[Mapping[str, str], bytes]:
        scheme = "http" if ref.registry in self.insecure else "https"
        url = f"{scheme}://{ref.api_host}/v2/{ref.repository}/{path}"
        headers = {"Accept": accept}
        token = self._tokens.get((ref.registry, ref.repository))
        for attempt in range(2):
            if token:
                headers["Authorization"] = f"Bearer {token}"
            status, got, body = self._call(ref, url, headers, limit)
            if status == 401 and attempt == 0 and not token:
                token = self._token(ref, got.get("www-authenticate", ""))
                continue
            if status != 200:
                raise RegistryError(f"registry {ref.registry}: {ref}: "
                                    f"{registry_says(status, body)}")
            if len(body) > limit:
                raise RegistryError(f"registry {ref.registry}: {ref}: a reply over "
                                    f"{limit} bytes")
            return got, body
        raise RegistryError(f"registry {ref.registry}: {ref}: unauthorised")

    def _token(self, ref: Reference, challenge: str) -> str:
        """An anonymous pull token, as the registry's Bearer challenge asks for one."""
        scheme, params = parse_challenge(challenge)
        realm = params.get("realm", "")
        if scheme != "bearer" or not realm.startswith(("https://", "http://")):
            raise RegistryError(f"registry {ref.registry}: {ref}: unauthorised (it wants "
                                f"{scheme or 'credentials'}; fleet reads it anonymously)")
        query = {"scope": f"repository:{ref.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        status, _, body = self._call(ref, url, {}, TOKEN_MAX)
        if status != 200 or len(body) > TOKEN_MAX:
            raise RegistryError(f"registry {ref.registry}: {ref}: unauthorised (its token "
                                f"service said {registry_says(status, body)})")
        reply = parse_json(body, f"registry {ref.registry}'s token")
        token = reply.get("token") or reply.get("access_token")
        if not isinstance(token, str) or not token or len(token) > TOKEN_MAX \
                or not token.isprintable():
            raise RegistryError(f"registry {ref.registry}: its token service gave no token")
        self._tokens[(ref.registry, ref.repository)] = token
        return token

    def _call(self, ref: Reference, url: str, headers: Mapping[str, str],
              limit: int) -> tuple[int, Mapping[str, str], bytes]:
        try:
            return self._fetch(url, headers, limit)
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise RegistryError(f"registry {ref.registry}: {ref}: unreachable "
                                f"({reason})") from None


def _check(ref: Reference, raw: bytes, digest: str, pinned: str,
           expected: Descriptor | None) -> None:
    """The bytes are what was asked for: the pinned digest, the descriptor's size."""
    if pinned and digest != pinned:
        raise RegistryError(f"{ref}: the registry served {digest[:19]} for {pinned[:19]}")
    if expected is not None and len(raw) != expected.size:
        raise RegistryError(f"{ref}: {expected.digest[:19]} is {len(raw)} bytes, its "
                            f"descriptor says {expected.size}")


def _urllib_fetch(timeout: float) -> Fetch:
    def fetch(url: str, headers: Mapping[str, str],
              limit: int) -> tuple[int, Mapping[str, str], bytes]:
        request = urllib.request.Request(url)
        for name, value in headers.items():
            # Not carried across a redirect: a blob's storage must not see the token.
            request.add_unredirected_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return (response.status, {k.lower(): v for k, v in response.headers.items()},
                        response.read(limit + 1))
        except urllib.error.HTTPError as e:
            with e:
                return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read(limit + 1)

    return fetch
