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


def heartbeat_packets(ids: Sequence[str], seed: int = 1) -> list[bytes]:
    """One PUBLISH per device, to its heartbeat topic."""
    rng = random.Random(seed)
    return [publish_packet(topic(d, "hb"), encode(heartbeat(rng, k))) for k, d in enumerate(ids)]


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


def offer(sock: socket.socket, packets: Sequence[bytes], rate: float, count: int) -> float:
    """Send `count` packets, cycling through `packets`, at `rate`/s (0: as fast as possible).

    Returns the seconds it took. Pacing is per tick with a running schedule, so
    a late tick is caught up by the next one rather than lost.
    """
    per_tick = max(1, round(rate * TICK_S)) if rate else 500
    started = time.perf_counter()
    sent, k, n = 0, 0, len(packets)
    while sent < count:
        take = min(per_tick, count - sent)
        chunk = [packets[(k + j) % n] for j in range(take)]
        sock.sendall(b"".join(chunk))
        k, sent = (k + take) % n, sent + take
        if rate:
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return time.perf_counter() - started
