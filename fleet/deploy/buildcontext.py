"""A build context -> the tar `docker build -` reads, and the digest that says it changed.

The context is hostile input: it is walked without following a link, a
symlink that points outside it is refused by name, every file is opened with
O_NOFOLLOW (a file swapped for a link between the walk and the read fails),
and the whole is bounded (MAX_CONTEXT_BYTES). `.dockerignore` is honoured as
docker's CLI reads it: Go filepath.Match patterns, `**` for any number of
directories, `!` exceptions, the last matching line winning, and a path
excluded when one of its parent directories is; the Dockerfile and
`.dockerignore` are always sent, as the CLI sends them.

The digest covers what the board's build sees (each path, its mode and kind,
its bytes or link) and the build's settings, not modification times, so an
unchanged context rebuilds nothing however it was checked out.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from fleet.config.build import INLINE_DOCKERFILE, Build
from fleet.errors import FleetError

MAX_CONTEXT_BYTES = 512 << 20  # a board's build of more than this is not an edge workload
_SPECIAL = re.compile(r"[.+()|{}$]")


class ContextError(FleetError):
    """A build context fleet will not send: it names the file and why."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One .dockerignore line: its cleaned text, whether it is an exception (`!`)."""

    text: str
    exception: bool
    regex: re.Pattern[str]

    @property
    def depth(self) -> int:
        return len(self.text.split("/"))


def patterns(text: str) -> tuple[Pattern, ...]:
    """A .dockerignore's lines -> patterns, as docker's CLI reads them."""
    found = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
            if not pattern:
                raise ContextError(".dockerignore: an exception `!` with no pattern")
        pattern = _clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
        found.append(Pattern(pattern, exception, re.compile(_regex(pattern))))
    return tuple(found)


def ignored(path: str, rules: Sequence[Pattern]) -> bool:
    """Whether `path` (relative, '/'-separated) is left out: the last pattern that matches it,
    or one of its parent directories to the pattern's depth, decides."""
    path = _clean(path)
    parent = posixpath.dirname(path)
    parents = parent.split("/") if parent else []
    result = False
    for rule in rules:
        match = rule.regex.match(path) is not None
        if not match and parents and rule.depth <= len(parents):
            match = rule.regex.match("/".join(parents[:rule.depth])) is not None
        if match:
            result = not rule.exception
    return result


def _clean(path: str) -> str:
    """Go's filepath.Clean on a '/' path: normpath, but '//a' is '/a' and '' is '.'."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _regex(pattern: str) -> str:
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and pattern[i:i + 1] == "*":
            i += 1
            if pattern[i:i + 1] == "/":  # `**/` is `**`
                i += 1
            out += ".*" if i == len(pattern) else "(.*/)?"
        elif ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            out += re.escape(pattern[i]) if i < len(pattern) else "\\\\"
            i += 1
        elif _SPECIAL.fullmatch(ch):
            out += "\\" + ch
        else:
            out += ch
    return out + "$"


@dataclass(frozen=True, slots=True)
class Packed:
    """A context packed for the board: the tar (a private temporary file, read once per
    board, at once), its bytes, its files and its digest."""

    path: Path
    size: int
    files: int
    digest: str

    def open(self) -> BinaryIO:
        return self.path.open("rb")

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def pack(build: Build, limit: int = MAX_CONTEXT_BYTES) -> Packed:
    """The build's context as a tar, with the digest of it and the build's settings."""
    fd, name = tempfile.mkstemp(prefix="fleet-context-", suffix=".tar")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            count, digest = _write(build, out, limit)
            size = out.tell()
    except BaseException:
        os.unlink(name)
        raise
    return Packed(Path(name), size, count, digest)


def _write(build: Build, out: IO[bytes], limit: int) -> tuple[int, str]:
    hasher = hashlib.sha256()
    count = total = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, body in _members(build, limit):
            data = b""
            if body is not None:
                with body:
                    data = body.read(limit - total + 1)
                info.size = len(data)
            count, total = count + 1, total + info.size
            if total > limit:
                raise ContextError(f"build context {build.context} is over "
                                   f"{limit >> 20} MB: leave out what the build does not "
                                   "need with a .dockerignore")
            hasher.update(f"{info.name}\0{info.type!r}\0{info.mode:o}\0{info.linkname}\0"
                          .encode())
            hasher.update(hashlib.sha256(data).digest())
            tar.addfile(info, io.BytesIO(data) if body is not None else None)
    hasher.update(repr(settings(build)).encode())
    return count, hasher.hexdigest()


def settings(build: Build) -> tuple[object, ...]:
    """What besides the context makes the built image what it is."""
    return (build.image, build.dockerfile, build.dockerfile_inline, build.args, build.target,
            build.labels)


def _members(build: Build, limit: int) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    root = build.context
    rules = patterns(_read_ignore(root))
    keep = {build.dockerfile, ".dockerignore"}
    if build.dockerfile_inline is not None:
        body = build.dockerfile_inline.encode()
        info = tarfile.TarInfo(INLINE_DOCKERFILE)
        info.size, info.mode = len(body), 0o644
        yield info, io.BytesIO(body)
    excepting = [r.text for r in rules if r.exception] + sorted(keep)
    for here, dirs, files in os.walk(root, followlinks=False):
        rel_dir = Path(here).relative_to(root).as_posix()
        for name in sorted(dirs):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not ignored(rel, rules):
                yield _entry(root, rel)
            elif not any(text.startswith(rel + "/") for text in excepting):
                dirs.remove(name)  # nothing under it can be an exception: not walked
        dirs.sort()
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel == INLINE_DOCKERFILE and build.dockerfile_inline is not None:
                continue
            if rel in keep or not ignored(rel, rules):
                yield _entry(root, rel)


def _read_ignore(root: Path) -> str:
    path = root / ".dockerignore"
    if path.is_symlink():
        raise ContextError(f"{path} is a symlink: fleet reads the context's own file only")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as e:
        raise ContextError(f"{path}: {e}") from None


def _entry(root: Path, rel: str) -> tuple[tarfile.TarInfo, IO[bytes] | None]:
    """One path of the context as a tar member: a directory, a regular file, or a symlink
    that stays inside the context (anything else, or a link out, is refused by name)."""
    path = root / rel
    st = os.lstat(path)
    info = tarfile.TarInfo(rel)
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        return info, None
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
            raise ContextError(f"build context: {rel} links to {target}, outside the context")
        info.type, info.linkname = tarfile.SYMTYPE, target
        return info, None
    if not stat.S_ISREG(st.st_mode):
        raise ContextError(f"build context: {rel} is not a file, directory or symlink")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ContextError(f"build context: {rel}: {e.strerror}") from None
    f = os.fdopen(fd, "rb")
    info.size = os.fstat(fd).st_size
    return info, f
