"""A fast heartbeat load generator: pre-built QoS 0 MQTT PUBLISH packets written to a raw socket.

One paho publisher cannot offer much more than 10,000 messages/s here, and the
ingest benchmark must offer well past 20,000/s. Writing pre-built packets,
a tick's worth per `sendall`, costs almost nothing per message, so the
generator is never what limits a measurement. It only publishes: it reads
the CONNACK and nothing after it (QoS 0 needs no acknowledgements).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence

from fleet.bus.rawmqtt import connect_packet, publish_packet
from fleet.wire import SCHEMA, Containers, Heartbeat, WireImpedance, encode, topic

TICK_S = 0.01  # pacing granularity: the packets of one tick go out in one sendall


def device_ids(count: int) -> list[str]:
    return [f"sim-{k:05d}" for k in range(count)]


def heartbeat(rng: random.Random, seq: int) -> Heartbeat:
    """A plausible Pi 4B heartbeat (about 380 bytes encoded)."""
    return Heartbeat(
        v=SCHEMA, seq=seq, clock=round(time.time(), 3), cpu_pct=round(rng.uniform(0, 100), 1),
        load1=round(rng.uniform(0, 4), 2), mem_used_mb=rng.randrange(500, 7000),
        mem_total_mb=8192, mem_budget_mb=7840, disk_used_mb=rng.randrange(4000, 25000),
        disk_total_mb=30_005, disk_budget_mb=24_005,
        impedance=WireImpedance(round(rng.uniform(1, 30), 1), round(rng.uniform(5, 80), 1),
                                rng.randrange(0, 4), round(rng.uniform(0, 5), 1), 1.0),
        temp_c=round(rng.uniform(40, 80), 1), throttled=[],
        containers=Containers(running=rng.randrange(0, 136), total=140),
    )


# Every seq has nine digits, so a packet's length (and its MQTT remaining length) never changes
# as its seq rises: a packet is its device's template with the digits put in.
SEQ_BASE = 100_000_000


class Packets:
    """Each device's heartbeat PUBLISH, its seq rising by one each time the devices come round.

    The ingest keeps a device's newest heartbeat by seq, so a replayed packet
    would be stale and cost it less than a real one: every packet offered is new.
    """

    def __init__(self, ids: Sequence[str], seed: int = 1) -> None:
        rng = random.Random(seed)
        marker = b'"seq":%d' % SEQ_BASE
        self._templates: list[tuple[bytes, bytes]] = []
        for d in ids:
            packet = publish_packet(topic(d, "hb"), encode(heartbeat(rng, SEQ_BASE)))
            prefix, found, suffix = packet.partition(marker)
            assert found, "the encoded heartbeat has its seq where the template expects it"
            self._templates.append((prefix + b'"seq":', suffix))
        self._next = 0  # packets taken so far: device next % n, round next // n

    def __len__(self) -> int:
        return len(self._templates)

    def take(self, count: int) -> bytes:
        """The next `count` packets, cycling through the devices, as one buffer."""
        n, start = len(self._templates), self._next
        self._next += count
        return b"".join(prefix + b"%d" % (SEQ_BASE + 1 + k // n) + suffix
                        for k in range(start, start + count)
                        for prefix, suffix in (self._templates[k % n],))


def open_publisher(host: str, port: int, client_id: str) -> socket.socket:
    """A connected socket that has had its CONNACK."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    connack = sock.recv(64)
    # 0x20 CONNACK, remaining length, flags, reason code 0 = success
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the load generator: {connack!r}")
    return sock


def offer(sock: socket.socket, packets: Packets, rate: float, count: int) -> float:
    """Send `count` packets at `rate`/s (0: as fast as possible).

    Returns the seconds it took. Pacing is per tick with a running schedule, so
    a late tick is caught up by the next one rather than lost.
    """
    per_tick = max(1, round(rate * TICK_S)) if rate else 500
    started = time.perf_counter()
    sent = 0
    while sent < count:
        take = min(per_tick, count - sent)
        sock.sendall(packets.take(take))
        sent += take
        if rate:
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return time.perf_counter() - started
