"""The wire format: topics, heartbeat round trips, and bad payloads refused cleanly."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.wire import (
    READY,
    Ack,
    Command,
    Heartbeat,
    State,
    WireError,
    decode_ack,
    decode_command,
    decode_heartbeat,
    decode_state,
    encode,
    parse_topic,
    topic,
)
from tests.kit import heartbeat


def test_topics_round_trip() -> None:
    assert topic("pi-01", "hb") == "fleet/v1/dev/pi-01/hb"
    assert parse_topic("fleet/v1/dev/pi-01/ack") == ("pi-01", "ack")


@pytest.mark.parametrize("name", [
    "fleet/v1/dev/Pi-01/hb", "fleet/v1/dev/pi-01/hbx", "fleet/v2/dev/pi-01/hb",
    "fleet/v1/dev//hb", "fleet/v1/dev/pi-01/extra/hb", "hb", "",
])
def test_bad_topics_are_refused(name: str) -> None:
    with pytest.raises(WireError):
        parse_topic(name)


def test_heartbeat_round_trip() -> None:
    hb = heartbeat(seq=7, clock=1_795_000_000.5, cpu_pct=12.5, temp_c=51.2, run="5f0c2a9e")
    assert decode_heartbeat(encode(hb)) == hb


def test_unknown_fields_from_a_newer_agent_are_ignored() -> None:
    document = json.loads(encode(heartbeat()))
    document["fan_rpm"] = 3000
    assert decode_heartbeat(json.dumps(document).encode()) == heartbeat()


def test_a_heartbeat_names_the_agents_run_and_an_older_agents_need_not() -> None:
    hb = heartbeat(run="5f0c2a9e1b7d4c38")
    assert decode_heartbeat(encode(hb)).run == "5f0c2a9e1b7d4c38"
    document = json.loads(encode(hb))
    del document["run"]
    assert decode_heartbeat(json.dumps(document).encode()) == heartbeat(run=None)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"v": 2}, "schema version 2"),
    ({"run": ""}, "run"),
    ({"run": "x" * 65}, "run"),
    ({"cpu_pct": 130}, "cpu_pct"),
    ({"mem_used_mb": -1}, "mem_used_mb"),
    ({"seq": "seven"}, "seq"),
    ({"impedance": {"latency_ms": 1}}, "impedance"),
])
def test_bad_heartbeats_name_the_field(change: dict[str, object], fragment: str) -> None:
    document = json.loads(encode(heartbeat()))
    document.update(change)
    with pytest.raises(WireError, match=fragment):
        decode_heartbeat(json.dumps(document).encode())


@given(st.binary())
def test_any_bytes_decode_or_raise_wire_error(payload: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_heartbeat(payload)


@given(st.dictionaries(st.sampled_from(list(Heartbeat.__struct_fields__)),
                       st.one_of(st.none(), st.integers(), st.floats(), st.text(),
                                 st.lists(st.integers()))))
def test_wrong_field_types_raise_wire_error(document: dict[str, object]) -> None:
    with contextlib.suppress(WireError):
        decode_heartbeat(msgspec.json.encode(document))


MESSAGES = [
    (decode_command, Command(v=1, id="c-1", kind="start", sent=10.0, args={"container": "web"},
                             at=12.5, ttl_s=5.0)),
    (decode_ack, Ack(v=1, id="c-1", kind="start", result=READY, sent=10.0, received=10.01,
                     done=12.5, queue=2, detail="")),
    (decode_state, State(v=1, state="offline", agent="0.1.0")),
]


@pytest.mark.parametrize(("decode", "message"), MESSAGES)
def test_commands_acks_and_presence_round_trip(decode: Any, message: msgspec.Struct) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize("payload", [
    b'{"v": 1, "id": "", "kind": "start", "sent": 1}',  # an empty id
    b'{"v": 1, "id": "x", "kind": "reboot", "sent": 1}',  # not on the allow-list
    b'{"v": 1, "id": "x", "kind": "ping", "sent": 1, "ttl_s": 0}',
    b'{"v": 2, "id": "x", "kind": "ping", "sent": 1}',
])
def test_commands_outside_the_protocol_are_refused(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode_command(payload)


@given(st.binary(), st.sampled_from([decode_command, decode_ack, decode_state]))
def test_any_bytes_decode_or_raise_wire_error_for_every_message(payload: bytes,
                                                                decode: Any) -> None:
    with contextlib.suppress(WireError):
        decode(payload)
