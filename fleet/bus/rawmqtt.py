"""A minimal receive-only MQTT v5 subscriber: the ingest workers' hot path.

Why not paho here: paho's network loop costs tens of microseconds a message
in Python whatever the callback does. Measured on the 2-core bench machine
(broker, load generator and subscribers sharing it): one naive paho
subscriber sustains 36,000 heartbeats/s, two paho workers on a shared
subscription about 40,000/s together, so paho cannot reach the 2.5x target.
Cutting whole PUBLISH frames out of a receive buffer costs about 2 us a
message, and ingest with these workers sustains 108,000/s (`fleet bench
ingest`). Everything else (commands, acks, the agent) uses paho; this module
does only what ingest needs:

- CONNECT (clean start, optional username/password, TLS), SUBSCRIBE at QoS 0
  (the broker downgrades QoS 1 state messages, so there is nothing to
  acknowledge), PINGREQ to keep the connection alive, and PUBLISH parsing;
- topic aliases are never granted and a Maximum Packet Size is announced, so
  every PUBLISH carries its topic and none is larger than MAX_PACKET.

Errors: MqttError (a FleetError) for a refused or lost connection, and its
subclass FrameError for bytes that are not MQTT; nothing else escapes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence

from fleet.errors import FleetError

MAX_PACKET = 256 * 1024
RECV_BYTES = 256 * 1024
CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT = 2, 3, 9, 13, 14
PINGREQ = b"\xc0\x00"

Packet = tuple[int, bytes]  # (first byte: type and flags, body after the remaining length)


class MqttError(FleetError):
    """The broker refused us, or the connection broke."""


class FrameError(MqttError):
    """Bytes from the broker that are not a well-formed MQTT v5 packet."""


# -- encoding (also used by the benchmark's load generator) -------------------

def varint(n: int) -> bytes:
    """MQTT's variable byte integer (remaining length, property length)."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    raw = s.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(client_id: str, *, keepalive_s: int = 0, username: str | None = None,
                   password: str | None = None) -> bytes:
    """CONNECT with a clean start, announcing MAX_PACKET as our Maximum Packet Size."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    props = b"\x27" + MAX_PACKET.to_bytes(4, "big")
    body = (_string("MQTT") + bytes([5, flags]) + keepalive_s.to_bytes(2, "big")
            + varint(len(props)) + props + _string(client_id))
    body += _string(username) if username is not None else b""
    body += _string(password) if password is not None else b""
    return b"\x10" + varint(len(body)) + body


def subscribe_packet(packet_id: int, filters: Sequence[str]) -> bytes:
    """SUBSCRIBE to every filter at QoS 0, with no properties."""
    body = packet_id.to_bytes(2, "big") + b"\x00" + b"".join(_string(f) + b"\x00"
                                                               for f in filters)
    return b"\x82" + varint(len(body)) + body


def publish_packet(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH with no properties."""
    body = _string(topic) + b"\x00" + payload
    return b"\x30" + varint(len(body)) + body


# -- decoding -------------------------------------------------------------------

def _varint_at(buf: bytes, i: int) -> tuple[int, int] | None:
    """(value, index after it), or None if buf ends inside it."""
    value = shift = 0
    while i < len(buf):
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 21:
            raise FrameError("variable byte integer longer than 4 bytes")
    return None


def split(buf: bytes) -> tuple[list[Packet], bytes]:
    """The complete packets at the start of buf, and the incomplete rest."""
    packets: list[Packet] = []
    i, n = 0, len(buf)
    while i < n:
        found = _varint_at(buf, i + 1)
        if found is None:
            break
        length, start = found
        if length > MAX_PACKET:
            raise FrameError(f"packet of {length} bytes, more than the {MAX_PACKET} we accept")
        end = start + length
        if end > n:
            break
        packets.append((buf[i], buf[start:end]))
        i = end
    return packets, buf[i:]


def publish(first: int, body: bytes) -> tuple[str, bytes]:
    """A PUBLISH packet's (topic, payload)."""
    qos = (first >> 1) & 3
    if first >> 4 != PUBLISH or qos == 3:
        raise FrameError(f"not a PUBLISH packet: first byte {first:#04x}")
    if len(body) < 2:
        raise FrameError("PUBLISH too short for its topic length")
    end = 2 + int.from_bytes(body[:2], "big")
    if end > len(body):
        raise FrameError("PUBLISH topic runs past the packet")
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        raise FrameError("PUBLISH topic is not UTF-8") from None
    found = _varint_at(body, end + (2 if qos else 0))  # skip the packet id at QoS 1 and 2
    if found is None or found[0] + found[1] > len(body):
        raise FrameError("PUBLISH properties run past the packet")
    return topic, body[found[0] + found[1]:]


class Frames:
    """Reassembles packets from received chunks, whatever their boundaries."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[Packet]:
        packets, self._rest = split(self._rest + data if self._rest else data)
        return packets


# -- the subscriber ---------------------------------------------------------------

class Subscriber:
    """One connection that subscribes to `filters` at QoS 0 and hands back what arrives."""

    def __init__(self, host: str, port: int, filters: Sequence[str], *, client_id: str,
                 tls: bool = False, username: str | None = None, password: str | None = None,
                 keepalive_s: int = 30) -> None:
        self.host, self.port, self.filters = host, port, tuple(filters)
        self.client_id, self.tls = client_id, tls
        self._credentials = (username, password)
        self.keepalive_s = keepalive_s
        self._sock: socket.socket | None = None
        self._frames = Frames()
        self._sent = self._heard = 0.0

    def connect(self, timeout: float = 10.0) -> None:
        """Connect, subscribe, and return once the broker has granted every subscription."""
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout)
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            self._sock, self._frames = sock, Frames()
            username, password = self._credentials
            self._send(connect_packet(self.client_id, keepalive_s=self.keepalive_s,
                                      username=username, password=password))
            self._expect(CONNACK, timeout, lambda body: body[1:2] == b"\x00")
            self._send(subscribe_packet(1, self.filters))
            self._expect(SUBACK, timeout, lambda body: all(code < 0x80 for code in
                                                           _suback_codes(body)))
        except OSError as e:
            self.close()
            raise MqttError(f"broker {self.host}:{self.port}: {e}") from None
        except MqttError:
            self.close()
            raise

    def _expect(self, kind: int, timeout: float, ok: Callable[[bytes], bool]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for first, body in self._receive(deadline - time.monotonic()):
                if first >> 4 == kind:
                    if not ok(body):
                        raise MqttError(f"broker {self.host}:{self.port} refused: "
                                        f"packet type {kind}, {body[:8].hex()}")
                    return
        raise MqttError(f"broker {self.host}:{self.port}: no answer in {timeout} s")

    def read(self, timeout: float) -> list[tuple[str, bytes]]:
        """The messages that arrive within `timeout` seconds (often fewer, never blocks longer)."""
        messages = []
        for first, body in self._receive(timeout):
            kind = first >> 4
            if kind == PUBLISH:
                messages.append(publish(first, body))
            elif kind == DISCONNECT:
                raise MqttError(f"broker {self.host}:{self.port} disconnected us: {body[:1].hex()}")
        now = time.monotonic()
        if now - self._sent > self.keepalive_s / 2:
            self._send(PINGREQ)
        if now - self._heard > self.keepalive_s * 1.5:  # not even a PINGRESP
            raise MqttError(f"broker {self.host}:{self.port}: silent for "
                            f"{self.keepalive_s * 1.5:.0f} s")
        return messages

    def _receive(self, timeout: float) -> list[Packet]:
        if self._sock is None:
            raise MqttError("not connected")
        try:
            self._sock.settimeout(max(timeout, 0.001))
            data = self._sock.recv(RECV_BYTES)
        except (TimeoutError, ssl.SSLWantReadError):
            return []
        except OSError as e:
            raise MqttError(f"broker {self.host}:{self.port}: {e}") from None
        if not data:
            raise MqttError(f"broker {self.host}:{self.port} closed the connection")
        self._heard = time.monotonic()
        return self._frames.feed(data)

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise MqttError("not connected")
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise MqttError(f"broker {self.host}:{self.port}: {e}") from None
        self._sent = time.monotonic()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
            self._sock.close()
            self._sock = None


def _suback_codes(body: bytes) -> bytes:
    found = _varint_at(body, 2)  # after the packet id: properties, then one code per filter
    if found is None:
        raise FrameError("SUBACK too short")
    return body[found[0] + found[1]:]
