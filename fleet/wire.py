"""MQTT topics and payloads (DESIGN section 4): the only code that knows the wire format.

Payloads are JSON with the schema version in `v`. They are decoded with
msgspec straight into typed, frozen structs, validating as they go: a
380-byte heartbeat decodes in 0.6 us here, where json.loads alone, into an
untyped dict, takes 3.9 us; that matters at 6,000 heartbeats a second.
Unknown fields are ignored, so a newer agent can add some without breaking
an older controller; a different `v` is refused. So a field is added, with a
default for the agents that do not send it, without changing `v`: the
heartbeat's `run` came that way.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeVar

import msgspec

from fleet.errors import FleetError, InvalidDeviceIdError
from fleet.model import validate_device_id

SCHEMA = 1
PREFIX = "fleet/v1/dev"
Kind = Literal["hb", "state", "cmd", "ack"]
KINDS: tuple[Kind, ...] = ("hb", "state", "cmd", "ack")

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]
MiB = Annotated[int, msgspec.Meta(ge=0)]
RunId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
M = TypeVar("M", "Heartbeat", "Command", "Ack", "State")


class WireError(FleetError):
    """A topic or payload that does not follow the protocol."""


class WireImpedance(msgspec.Struct, frozen=True):
    latency_ms: NonNegative
    processing_ms: NonNegative
    queue: Count
    drift_ms: NonNegative
    reliability: Annotated[float, msgspec.Meta(ge=0, le=1)]


class Gpu(msgspec.Struct, frozen=True):
    """A Jetson's integrated GPU and the module's power (fields after load_pct may be absent)."""

    load_pct: Annotated[float, msgspec.Meta(ge=0, le=100)]
    # The module's input power: its input rail (VDD_IN, POM_5V_IN), or where it has none
    # (AGX Xavier, AGX Orin) the sum of the supplies it monitors.
    power_mw: Count | None = None
    freq_mhz: Count | None = None  # the GPU's clock now
    rails_mw: dict[str, Count] = msgspec.field(default_factory=dict)  # every monitored rail


class Containers(msgspec.Struct, frozen=True):
    running: Count
    total: Count


class Heartbeat(msgspec.Struct, frozen=True):
    """What an agent says about its board every few seconds."""

    v: int
    seq: Count
    clock: float  # the agent's Unix time when it sent this, to watch its drift
    cpu_pct: Annotated[float, msgspec.Meta(ge=0, le=100)]
    load1: NonNegative
    mem_used_mb: MiB
    mem_total_mb: MiB
    mem_budget_mb: MiB
    disk_used_mb: MiB
    disk_total_mb: MiB
    disk_budget_mb: MiB
    impedance: WireImpedance
    temp_c: float | None = None  # the board's main temperature: its hottest CPU/SoC zone
    throttled: list[str] | None = None  # Pi only: flags now and since boot
    gpu: Gpu | None = None  # Jetson only
    containers: Containers | None = None  # None: the board's dockerd did not answer
    problems: list[str] = msgspec.field(default_factory=list)  # e.g. "disk full"
    # The agent's configured interval: what liveness expects before it has intervals to go on.
    interval_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # Made afresh each time the agent starts, whose seq starts again at 1: a heartbeat is newer
    # than another of the same run if its seq is higher. None from agents older than the field.
    run: RunId | None = None
    # What the board says it is (a device tree's model, a Jetson's nv_tegra_release), so a
    # board whose inventory profile disagrees can be flagged. None where it says nothing.
    model: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    # Every temperature sensor the board has (thermal zones by type, or tegrastats' names);
    # temp_c is the main one of them. None from agents older than the field.
    temps_c: dict[str, float] | None = None


CommandKind = Literal["ping", "start", "stop", "restart"]
COMMAND_KINDS: tuple[CommandKind, ...] = ("ping", "start", "stop", "restart")
# Final, so that mypy reads each as its Literal and an Ack accepts it as a result.
READY: Final = 1
TRANSIT: Final = 0
CONFLICT: Final = -1


class Command(msgspec.Struct, frozen=True):
    """A request to one agent: run `kind` with `args` at time `at` (now if None)."""

    v: int
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    kind: CommandKind
    sent: float  # the sender's Unix time, echoed back in the ack for round trips
    args: dict[str, str] = msgspec.field(default_factory=dict)
    at: float | None = None  # the instant T the work should take effect
    ttl_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0


class Ack(msgspec.Struct, frozen=True):
    """An agent's answer: READY (+1, done), TRANSIT (0, queued) or CONFLICT (-1, refused/failed)."""

    v: int
    id: str
    kind: str
    result: Literal[1, 0, -1]
    sent: float  # the command's `sent`, so the sender needs no table of its own
    received: float  # agent clock when the command arrived
    done: float | None = None  # agent clock when the work took effect
    queue: Count = 0
    detail: str = ""


class State(msgspec.Struct, frozen=True):
    """The retained presence message: `online` on connect, `offline` as the Last Will."""

    v: int
    state: Literal["online", "offline"]
    agent: str = ""  # agent version


_heartbeat = msgspec.json.Decoder(Heartbeat)
_command = msgspec.json.Decoder(Command)
_ack = msgspec.json.Decoder(Ack)
_state = msgspec.json.Decoder(State)
_encoder = msgspec.json.Encoder()


def topic(device_id: str, kind: Kind) -> str:
    return f"{PREFIX}/{validate_device_id(device_id)}/{kind}"


def parse_topic(name: str) -> tuple[str, Kind]:
    """`fleet/v1/dev/<id>/<kind>` -> (id, kind), with the id validated."""
    head, _, rest = name.rpartition("/")
    prefix, _, device_id = head.rpartition("/")
    if prefix != PREFIX or rest not in KINDS:
        raise WireError(f"not a fleet device topic: {name!r}")
    try:
        return validate_device_id(device_id), rest
    except InvalidDeviceIdError as e:
        raise WireError(f"topic {name!r}: {e}") from None


def _decode(decoder: msgspec.json.Decoder[M], what: str, payload: bytes) -> M:
    """Decode and validate one message; any fault is a WireError naming it."""
    try:
        message = decoder.decode(payload)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise WireError(f"bad {what}: {e}") from None
    if message.v != SCHEMA:
        raise WireError(f"bad {what}: schema version {message.v}, this side reads {SCHEMA}")
    return message


def decode_heartbeat(payload: bytes) -> Heartbeat:
    return _decode(_heartbeat, "heartbeat", payload)


def decode_command(payload: bytes) -> Command:
    return _decode(_command, "command", payload)


def decode_ack(payload: bytes) -> Ack:
    return _decode(_ack, "ack", payload)


def decode_state(payload: bytes) -> State:
    return _decode(_state, "state", payload)


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)
