"""Sending an image to a board over SSH: only the layers it lacks, resumable, checked on arrival.

Three commands on one connection, whatever the image, each as root (fleet.ssh.sudo: the
staging dir and docker are root's):
1. probe: how much of each missing layer an earlier, broken push left staged;
2. send: the config, a manifest and the rest of every missing layer, on one
   stdin; the board appends each layer to its staged file and checks its sha256.
   A layer goes as `docker load` on the board reads it (imagemodel.LOADABLE):
   plain or gzip (bzip2, xz) as the archive stores it, zstd inflated here first;
3. load: `docker load` an archive tarred on the board from the staged files
   (layers the board has are named in the manifest but not sent: docker skips
   a layer whose chain it has), check the image id, remove the staging dir.

A board is refused (wrong architecture, too little disk) before anything is sent.
"""

from __future__ import annotations

import io
import json
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, BinaryIO

from fleet.deploy.images import Image, ImageSource, Layer, missing, refusal
from fleet.errors import PushError, SshError
from fleet.model import Arch
from fleet.ssh import sudo
from fleet.ssh.connection import CHUNK, Connection, Result, Sent

STAGING = "/var/lib/fleet/incoming"
_DONE = -1  # a staged layer already checked: nothing to send, nothing to check
# After a broken link the board's end of the old session may still be appending what
# reached it; each step waits for it (and for any other push of the image) to finish.
_LOCKED = ('mkdir -p "$d" && if command -v flock >/dev/null 2>&1; then '
           'exec 9>"$d/.lock" && flock -w 300 9; fi')
# Each layer (NAME BYTES FROM SHA256): truncate unless resuming, append the rest from stdin,
# check size and the sha256 of what was sent (the plain tar's, or the compressed file's
# that docker inflates), then give it its final name. A wrong checksum removes the staged
# file: the next push starts that layer afresh rather than appending to bad bytes forever.
_LAYER_FUNCTION = """\
layer() {
  [ "$3" -gt 0 ] || : > "$1.part"
  head -c "$(($2 - $3))" >> "$1.part"
  got=$(wc -c < "$1.part")
  if [ "$got" -ne "$2" ]; then
    echo "layer $1: $got of $2 bytes staged (the stream ended early)" >&2; exit 3
  fi
  if ! echo "$4  $1.part" | sha256sum -c --status; then
    rm -f "$1.part"; echo "layer $1: sha256 mismatch, staged copy removed" >&2; exit 4
  fi
  mv -f "$1.part" "$1.tar"
}
"""


@dataclass(frozen=True, slots=True)
class PushResult:
    """What one push did on one board, or why it was refused."""

    device: str
    ref: str
    image_id: str
    missing_bytes: int  # bytes of the layers the board lacked, as sent (compressed or not)
    sent_bytes: int  # bytes written to the board: layers (from their resume offsets) and config
    layers_sent: int
    layers_skipped: int  # layers the board had
    resumed_bytes: int = 0  # bytes of missing layers an earlier push had already staged
    refused: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.refused is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def staging_dir(image: Image, root: str = STAGING) -> str:
    return f"{root}/{image.hex}"


def push(conn: Connection, image: Image, source: ImageSource, present: frozenset[str], *,
         free_mb: int, keep_free_mb: int, device_arch: Arch, sent: Sent | None = None,
         staging: str = STAGING, clock: Callable[[], float] = time.monotonic) -> PushResult:
    """Send `image` to the board unless it is refused; raises PushError or SshError on failure."""
    started = clock()
    need = missing(image, present)
    result = PushResult(
        conn.device, image.ref, image.id, missing_bytes=sum(layer.sent_size for layer in need),
        sent_bytes=0, layers_sent=0, layers_skipped=len(image.layers) - len(need))
    reason = refusal(image, device_arch, free_mb, keep_free_mb, present)
    if reason is not None:
        return replace(result, refused=reason, seconds=clock() - started)
    directory = staging_dir(image, staging)
    offsets = _probe(conn, directory, need) if need else {}
    total = [0]

    def counted(n: int) -> None:
        total[0] += n
        if sent is not None:
            sent(n)

    config = source.config(image)
    command, parts = send_plan(image, need, offsets, directory, config)
    with io.BufferedReader(_Chain(parts(source)), CHUNK) as stream:
        _checked(sudo.run(conn, command, stdin=stream, sent=counted), conn,
                 f"staging {image.ref}")
    _checked(sudo.run(conn, load_command(image, need, directory)), conn, f"loading {image.ref}")
    resumed = sum(layer.sent_size if offsets.get(layer.hex) == _DONE else offsets.get(layer.hex, 0)
                  for layer in need)
    return replace(result, sent_bytes=total[0], layers_sent=len(need), resumed_bytes=resumed,
                    seconds=clock() - started)


def probe_command(directory: str, layers: Sequence[Layer]) -> str:
    """For each layer: `HEX done` once staged and checked, else `HEX BYTES` staged so far."""
    hexes = " ".join(layer.hex for layer in layers)
    return (f"set -eu; d={shlex.quote(directory)}; {_LOCKED}\n"
            f'for h in {hexes}; do if [ -f "$d/$h.tar" ]; then echo "$h done"; '
            'elif [ -f "$d/$h.part" ]; then echo "$h $(wc -c < "$d/$h.part")"; '
            'else echo "$h 0"; fi; done\n')


def parse_probe(text: str, layers: Sequence[Layer]) -> dict[str, int]:
    """probe_command's output -> where to resume each layer (_DONE: staged and checked)."""
    sizes = {layer.hex: layer.sent_size for layer in layers}
    offsets: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2 or fields[0] not in sizes:
            raise PushError(f"probe: unexpected line {line!r}")
        hex_, staged = fields
        if staged == "done":
            offsets[hex_] = _DONE
        elif staged.isdigit():
            # More than the layer holds cannot be resumed from: start it afresh.
            offsets[hex_] = int(staged) if int(staged) <= sizes[hex_] else 0
        else:
            raise PushError(f"probe: unexpected line {line!r}")
    if offsets.keys() != sizes.keys():
        raise PushError(f"probe: no answer for layers {sorted(sizes.keys() - offsets.keys())}")
    return offsets


Parts = Callable[[ImageSource], Iterator[BinaryIO]]


def send_plan(image: Image, need: Sequence[Layer], offsets: dict[str, int], directory: str,
              config: bytes) -> tuple[str, Parts]:
    """The send command, and what its stdin is made of, in the order it reads it."""
    manifest = device_manifest(image)
    lines = ["set -eu", f"d={shlex.quote(directory)}", _LOCKED, 'cd "$d"',
             f"head -c {len(config)} > {image.hex}.json",
             f"head -c {len(manifest)} > manifest.json", _LAYER_FUNCTION.rstrip()]
    todo = [(layer, offsets.get(layer.hex, 0)) for layer in need
            if offsets.get(layer.hex, 0) != _DONE]
    lines += [f"layer {layer.hex} {layer.sent_size} {offset} {layer.sent_hex}"
              for layer, offset in todo]

    def parts(source: ImageSource) -> Iterator[BinaryIO]:
        yield io.BytesIO(config)
        yield io.BytesIO(manifest)
        for layer, offset in todo:
            yield source.open_layer(image, layer, offset)

    return "\n".join(lines) + "\n", parts


def device_manifest(image: Image) -> bytes:
    """The manifest of the archive assembled on the board: staged files under flat names."""
    tags = [] if image.ref == image.id else [image.ref]
    return json.dumps([{"Config": f"{image.hex}.json", "RepoTags": tags,
                        "Layers": [f"{layer.hex}.tar" for layer in image.layers]}]).encode()


def load_command(image: Image, need: Sequence[Layer], directory: str) -> str:
    """Load the staged archive, check the image is there by its id, remove the staging dir.

    `--remove-files` drops each staged file once tar has read it, so the board
    never holds the staged copy and docker's own copy of a layer at once.
    """
    files = " ".join(["manifest.json", f"{image.hex}.json", *(f"{x.hex}.tar" for x in need)])
    ref = shlex.quote(image.ref)
    return "\n".join([
        "set -eu", f"d={shlex.quote(directory)}", _LOCKED, 'cd "$d"', "rc=0",
        f"tar --remove-files -cf - {files} | docker load -q >&2 || rc=$?",
        'cd / && rm -rf "$d"',
        '[ "$rc" -eq 0 ] || exit "$rc"',
        # The ref and id from a stack and an archive reach sh only as quoted words.
        f"ref={ref} want={shlex.quote(image.id)}",
        "id=$(docker image inspect --format '{{.Id}}' \"$ref\")",
        '[ "$id" = "$want" ] || { echo "$ref is $id after loading, not $want" >&2; exit 5; }',
        "",
    ])


def _probe(conn: Connection, directory: str, need: Sequence[Layer]) -> dict[str, int]:
    return parse_probe(_checked(sudo.run(conn, probe_command(directory, need)), conn, "probe"),
                       need)


def _checked(result: Result, conn: Connection, step: str) -> str:
    if result.exit_code == -1:  # paramiko's word for a session that ended without a status
        raise SshError(f"{conn.device}: {step}: the connection closed before the board "
                       "answered; what was staged is kept, push again to resume")
    if not result.ok:
        raise PushError(f"{conn.device}: {step}: {result.why()}")
    return result.text


class _Chain(io.RawIOBase):
    """Several files read as one stream, each opened only when the one before it is done."""

    def __init__(self, parts: Iterator[BinaryIO]) -> None:
        self._parts = parts
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self._current is None:
                self._current = next(self._parts, None)
                if self._current is None:
                    return 0
            data = self._current.read(len(buffer))
            if data:
                buffer[:len(data)] = data
                return len(data)
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()
