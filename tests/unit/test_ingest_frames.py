"""fleet.bus.rawmqtt: MQTT v5 frames cut from a byte stream, whatever its chunking or content."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.bus.rawmqtt import (
    MAX_PACKET,
    FrameError,
    Frames,
    publish,
    publish_packet,
    split,
    subscribe_packet,
    varint,
)

topics = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
payloads = st.binary(max_size=600)


@pytest.mark.parametrize(("n", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
])
def test_varint_matches_the_spec_examples(n: int, encoded: bytes) -> None:
    assert varint(n) == encoded


@given(topics, payloads)
def test_publish_round_trips(topic: str, payload: bytes) -> None:
    packets, rest = split(publish_packet(topic, payload))
    assert rest == b""
    assert [publish(*p) for p in packets] == [(topic, payload)]


def test_a_qos1_publish_skips_its_packet_id_and_properties() -> None:
    # topic "a/b", packet id 7, properties: payload format indicator = 1
    body = b"\x00\x03a/b" + b"\x00\x07" + b"\x02\x01\x01" + b"hello"
    assert publish(0x32, body) == ("a/b", b"hello")


def test_incomplete_packets_wait_for_more_bytes() -> None:
    whole = publish_packet("t", b"x" * 300)
    for cut in range(len(whole)):
        assert split(whole[:cut]) == ([], whole[:cut])


@given(st.lists(st.tuples(topics, payloads), max_size=8), st.lists(st.integers(1, 700)))
def test_any_chunking_gives_the_same_messages(messages: list[tuple[str, bytes]],
                                              cuts: list[int]) -> None:
    stream = b"".join(publish_packet(t, p) for t, p in messages)
    frames, got, at = Frames(), [], 0
    for size in [*cuts, len(stream)]:
        got += [publish(*p) for p in frames.feed(stream[at:at + size])]
        at += size
    assert got == messages


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        for first, body in Frames().feed(data):
            if first >> 4 == 3:
                publish(first, body)


@given(st.integers(0, 255), st.binary(max_size=300))
def test_arbitrary_publish_bodies_raise_only_frame_error(first: int, body: bytes) -> None:
    with contextlib.suppress(FrameError):
        publish(first, body)


@pytest.mark.parametrize(("data", "fragment"), [
    (b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"),
    (b"\x30" + varint(MAX_PACKET + 1), "more than"),
])
def test_malformed_lengths_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(FrameError, match=fragment):
        split(data)


@pytest.mark.parametrize(("first", "body", "fragment"), [
    (0x20, b"\x00\x00", "not a PUBLISH"),
    (0x36, b"\x00\x00", "not a PUBLISH"),  # QoS 3
    (0x30, b"\x00", "too short"),
    (0x30, b"\x00\x09ab", "runs past"),
    (0x30, b"\x00\x02\xff\xfe\x00", "not UTF-8"),
    (0x30, b"\x00\x01a\x05", "properties"),
])
def test_malformed_publishes_are_refused(first: int, body: bytes, fragment: str) -> None:
    with pytest.raises(FrameError, match=fragment):
        publish(first, body)


def test_subscribe_packet_layout() -> None:
    assert subscribe_packet(1, ["a/+"]) == b"\x82\x09\x00\x01\x00\x00\x03a/+\x00"
