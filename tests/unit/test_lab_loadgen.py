"""fleet.lab.loadgen: every packet offered is a valid heartbeat, each device's seq rising."""

from __future__ import annotations

from fleet.bus.rawmqtt import publish, split
from fleet.lab import loadgen
from fleet.wire import decode_heartbeat, parse_topic


def decoded(buf: bytes) -> list[tuple[str, int]]:
    packets, rest = split(buf)
    assert rest == b""
    out = []
    for first, body in packets:
        topic, payload = publish(first, body)
        device, kind = parse_topic(topic)
        assert kind == "hb"
        out.append((device, decode_heartbeat(payload).seq))
    return out


def test_each_round_of_the_devices_carries_the_next_seq() -> None:
    ids = loadgen.device_ids(3)
    packets = loadgen.Packets(ids, seed=1)
    first = decoded(packets.take(4))
    rest = decoded(packets.take(5))  # a later call goes on where the last one stopped
    base = loadgen.SEQ_BASE
    assert first + rest == [(ids[0], base + 1), (ids[1], base + 1), (ids[2], base + 1),
                            (ids[0], base + 2), (ids[1], base + 2), (ids[2], base + 2),
                            (ids[0], base + 3), (ids[1], base + 3), (ids[2], base + 3)]


def test_a_packet_keeps_its_length_as_its_seq_rises() -> None:
    packets = loadgen.Packets(loadgen.device_ids(1), seed=1)
    assert len({len(packets.take(1)) for _ in range(50)}) == 1
