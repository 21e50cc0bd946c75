"""The agent's MQTT v5 session: presence, heartbeats, commands in and acks out.

paho's callbacks stop here: an arriving command is handed on as (payload,
arrival time) and everything after that is the agent's. Presence follows
DESIGN section 4: `online` retained on every (re)connect, `offline` retained
as the Last Will, and published by the agent itself on a clean stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from fleet import __version__
from fleet.wire import SCHEMA, Command, Heartbeat, State, encode, topic

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
# QoS 1 acks kept while the broker is away; beyond this they are dropped, not hoarded.
MAX_QUEUED = 64
OFFLINE_PUBLISH_TIMEOUT_S = 2.0

OnCommand = Callable[[bytes], None]


class Link:
    def __init__(self, device_id: str, host: str, port: int, on_command: OnCommand, *,
                 username: str | None = None, password: str | None = None) -> None:
        self._topics = {kind: topic(device_id, kind) for kind in ("hb", "state", "cmd", "ack")}
        self._host, self._port = host, port
        self._on_command = on_command
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-agent-{device_id}",
                             protocol=mqtt.MQTTv5)
        if username is not None:
            client.username_pw_set(username, password)
        client.will_set(self._topics["state"], _state("offline"), qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self._client = client
        self._gone = threading.Event()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def start(self) -> None:
        """Connect in paho's thread, which retries with backoff even if the broker is down now."""
        self._client.connect_async(self._host, self._port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        """Say `offline` ourselves (a clean stop fires no Last Will), then disconnect."""
        connected = self._client.is_connected()
        if connected:
            info = self._client.publish(self._topics["state"], _state("offline"), qos=1,
                                        retain=True)
            try:
                info.wait_for_publish(OFFLINE_PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as e:
                log.warning("offline state not confirmed: %s", e)
        self._gone.clear()
        self._client.disconnect()
        if connected:  # let paho's loop see the disconnect through, or it leaves its socket open
            self._gone.wait(OFFLINE_PUBLISH_TIMEOUT_S)
        self._client.loop_stop()

    def heartbeat(self, beat: Heartbeat) -> bool:
        """Publish at QoS 0; True if it went out (a missed beat is not worth queueing)."""
        if not self._client.is_connected():
            return False
        info = self._client.publish(self._topics["hb"], encode(beat), qos=0)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack(self, payload: bytes) -> None:
        self._client.publish(self._topics["ack"], payload, qos=1)

    def command(self, command: Command) -> bool:
        """Send a command to our own cmd topic (the echo that measures the link)."""
        if not self._client.is_connected():
            return False
        info = self._client.publish(self._topics["cmd"], encode(command), qos=1)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _connected(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                   _properties: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the connection: %s", self._host, self._port, reason)
            return
        log.info("connected to %s:%s", self._host, self._port)
        client.publish(self._topics["state"], _state("online"), qos=1, retain=True)
        client.subscribe(self._topics["cmd"], qos=1)

    def _disconnected(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                      reason: ReasonCode, _properties: Any) -> None:
        self._gone.set()
        if reason.is_failure:
            log.warning("disconnected from %s:%s: %s; reconnecting", self._host, self._port,
                        reason)

    def _message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_command(bytes(message.payload))
        except Exception:  # paho would swallow it and carry on; say what happened first
            log.exception("handling a command failed")


def _state(state: Literal["online", "offline"]) -> bytes:
    return encode(State(v=SCHEMA, state=state, agent=__version__))
