"""Layer bytes as docker reads them: compression told by magic bytes, inflated, checked.

`docker load` does not trust a media type: it sniffs the first bytes of each
layer file (pkg/archive's DetectCompression), so fleet does the same. gzip,
bzip2 and xz inflate with the standard library; zstd through the `zstd` tool
(Debian's package, as `zstd -dcq` with no shell), since Python 3.11 has no zstd.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import subprocess
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from fleet.deploy.imagemodel import BZIP2, GZIP, PLAIN, XZ, ZSTD
from fleet.errors import ImageError

CHUNK = 1 << 20
# No layer of a board's image comes near this; a decompression bomb stops here.
MAX_INFLATED = 64 << 30


def detect(head: bytes) -> str:
    """The compression whose magic bytes start `head` (PLAIN when none does)."""
    if head.startswith(b"\x1f\x8b\x08"):
        return GZIP
    if head.startswith(b"BZh"):
        return BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ
    # A zstd frame, or a skippable frame (magic 0x184D2A5?, little-endian) before one.
    if head.startswith(b"\x28\xb5\x2f\xfd") or (
            len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"):
        return ZSTD
    return PLAIN


def inflating(stored: BinaryIO, compression: str) -> BinaryIO:
    """A stream of the plain tar inside `stored` (closing it closes `stored`)."""
    if compression == PLAIN:
        return stored
    if compression == GZIP:
        return _buffered(_Closing(gzip.GzipFile(fileobj=stored, mode="rb"), stored))
    if compression == BZIP2:
        return _buffered(_Closing(bz2.BZ2File(stored, "rb"), stored))
    if compression == XZ:
        return _buffered(_Closing(lzma.LZMAFile(stored, "rb"), stored))
    if compression == ZSTD:
        return _buffered(_Zstd(stored))
    raise ValueError(f"unknown compression {compression!r}")


def _buffered(raw: io.RawIOBase) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(raw, CHUNK))


def check(stored: BinaryIO, compression: str, diff_id: str, name: str) -> tuple[int, str]:
    """(uncompressed bytes, sha256 of the stored bytes) of a layer whose diff_id is checked.

    ImageError naming the layer when its contents are not what the config says."""
    stored_hash = hashlib.sha256()
    plain_hash, size = hashlib.sha256(), 0
    try:
        with inflating(_buffered(_Hashing(stored, stored_hash.update)), compression) as plain:
            while chunk := plain.read(CHUNK):
                size += len(chunk)
                if size > MAX_INFLATED:
                    raise ImageError(f"layer {name}: inflates past {MAX_INFLATED >> 30} GiB")
                plain_hash.update(chunk)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise ImageError(f"layer {name}: not valid {compression} data ({e})") from None
    got = "sha256:" + plain_hash.hexdigest()
    if got != diff_id:
        raise ImageError(f"layer {name}: its uncompressed tar is {got}, the image config "
                         f"says {diff_id}: the archive is corrupt or was altered")
    return size, "sha256:" + stored_hash.hexdigest()


class _Hashing(io.RawIOBase):
    """A file read through, every byte also given to `seen`."""

    def __init__(self, f: BinaryIO, seen: Callable[[bytes], Any]) -> None:
        self._f, self._seen = f, seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._f.read(len(buffer))
        self._seen(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class _Closing(io.RawIOBase):
    """A decompressing reader that also closes the file under it (gzip and bz2 do not)."""

    def __init__(self, reader: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile,
                 under: BinaryIO) -> None:
        self._reader, self._under = reader, under

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._reader.readinto(buffer)

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._under.close()
            super().close()


class _Zstd(io.RawIOBase):
    """`zstd -dcq` fed `stored` by a thread; its stdout read as this stream."""

    def __init__(self, stored: BinaryIO) -> None:
        self._stored = stored
        try:
            self._proc = subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            stored.close()
            raise ImageError("a zstd-compressed layer needs the zstd tool on this machine "
                             "(apt install zstd)") from None
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        assert self._proc.stdin is not None
        try:
            while chunk := self._stored.read(CHUNK):
                self._proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # zstd stopped early (bad data) or the reader closed: its exit code says
        finally:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        assert self._proc.stdout is not None
        got: int = self._proc.stdout.readinto(buffer)  # type: ignore[attr-defined]
        if not got:
            self._feeder.join()
            assert self._proc.stderr is not None
            why = self._proc.stderr.read().decode(errors="replace").strip()
            if self._proc.wait() != 0:
                raise OSError(f"zstd: {why or 'exit ' + str(self._proc.returncode)}")
        return got

    def close(self) -> None:
        if not self.closed:
            self._proc.kill()
            self._proc.wait()
            self._feeder.join()
            for pipe in (self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    pipe.close()
            self._stored.close()
        super().close()
