"""Junk on a lab device, as a real board's card gathers it, for `fleet cleanup` to find.

Two old images nothing uses (junk/old:1, :2), two stopped containers with data
in their writable layers (stopped1, stopped2), a running container with a big
log (noisy) and two month-old files in /tmp (junk-1, junk-2): every byte of it
random, so no filesystem or layer store can shrink it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.errors import LabError

LOG_LINE = 8000  # the noisy log's line: long, so json-file's framing is under 1 % of it


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes to plant; each of images, stopped and tmp twice over."""

    image: int = 0
    stopped: int = 0
    log: int = 0
    tmp: int = 0

    @property
    def planted(self) -> dict[str, int]:
        """fleet.cleanup.rules category -> bytes, as it will be planted."""
        return {"unused-images": 2 * self.image, "stopped": 2 * self.stopped,
                "logs": self.log // LOG_LINE * LOG_LINE, "tmp": 2 * self.tmp}


def to_fill(used: int, total: int, pct: float) -> Junk:
    """Junk that takes a disk from `used` to `pct` % of `total`."""
    gap = int(total * pct / 100) - used
    if gap <= 0:
        raise LabError(f"the card is already {100 * used / total:.0f} % full, over {pct:g} %")
    return spread(gap)


def spread(size: int) -> Junk:
    """`size` bytes of junk over its kinds: 24 % images, 20 % stopped containers, 14 % log,
    42 % /tmp."""
    return Junk(image=size * 12 // 100, stopped=size * 10 // 100, log=size * 14 // 100,
                tmp=size * 21 // 100)


def script(junk: Junk, image: str = "fleet/workload:latest") -> str:
    """sh that plants `junk` on the board it runs on (needs its dockerd and `image`'s
    busybox), and returns once all of it is on the card."""
    lines = junk.log // LOG_LINE
    return f"""set -eu
# Images first: committing one holds its blob twice for a moment.
for n in 1 2; do
    docker run --name mk$n {image} sh -c 'head -c {junk.image} /dev/urandom >/blob'
    docker commit mk$n junk/old:$n >/dev/null
    docker rm mk$n >/dev/null
done
for n in 1 2; do
    docker run --name stopped$n {image} sh -c 'head -c {junk.stopped} /dev/urandom >/blob'
done
docker run -d --name noisy {image} sh -c \\
    'awk "BEGIN {{ s = sprintf(\\"%{LOG_LINE - 1}s\\", \\"\\"); \\
                  for (i = 0; i < {lines}; i++) print s }}"; exec sleep 100000' >/dev/null
for n in 1 2; do
    head -c {junk.tmp} /dev/urandom >/tmp/junk-$n
    touch -d '30 days ago' /tmp/junk-$n
done
log=$(docker inspect --format '{{{{.LogPath}}}}' noisy)
while [ "$(stat -c %s "$log" 2>/dev/null || echo 0)" -lt {lines * LOG_LINE} ]; do
    sleep 0.2
done
"""
