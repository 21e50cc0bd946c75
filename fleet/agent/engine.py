"""The board's dockerd, spoken to over its Unix socket with the standard library's http.client.

Not the docker SDK: it brings requests and urllib3, 27 MB the agent cannot
afford on a 512 MB board; http.client is already loaded by paho.

    EngineError          dockerd did not answer, or answered with an error
    └── NoSuchContainer  404 for a container
"""

from __future__ import annotations

import http.client
import socket

import msgspec

from fleet.errors import FleetError

LIST_TIMEOUT_S = 2.0
# A stop waits for the container's own grace period (10 s by default) before SIGKILL.
ACTION_TIMEOUT_S = 60.0
ACTIONS = ("start", "stop", "restart")


class EngineError(FleetError):
    """dockerd did not answer, or refused."""


class NoSuchContainer(EngineError):
    """The engine has no container by that name."""


class _Summary(msgspec.Struct):
    State: str = ""


class _Message(msgspec.Struct):
    message: str = ""


_summaries = msgspec.json.Decoder(list[_Summary])
_message = msgspec.json.Decoder(_Message)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over an AF_UNIX socket: dockerd's local API."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Engine:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def _request(self, method: str, path: str, timeout: float) -> tuple[int, bytes]:
        conn = UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request(method, path, headers={"Host": "docker"})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or repr(e)
            raise EngineError(f"{self.socket_path}: {why}") from None
        finally:
            conn.close()

    def containers(self) -> tuple[int, int]:
        """(running, total) containers."""
        status, body = self._request("GET", "/containers/json?all=1", LIST_TIMEOUT_S)
        if status != 200:
            raise EngineError(f"list containers: HTTP {status} {_detail(body)}")
        try:
            summaries = _summaries.decode(body)
        except msgspec.DecodeError as e:
            raise EngineError(f"list containers: {e}") from None
        return sum(s.State == "running" for s in summaries), len(summaries)

    def act(self, action: str, name: str) -> None:
        """start, stop or restart a container; already in that state counts as done (304)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        status, body = self._request("POST", f"/containers/{name}/{action}", ACTION_TIMEOUT_S)
        if status in (204, 304):
            return
        if status == 404:
            raise NoSuchContainer(f"unknown container {name!r}")
        raise EngineError(f"{action} {name}: HTTP {status} {_detail(body)}")


def _detail(body: bytes) -> str:
    try:
        return _message.decode(body).message[:200]
    except msgspec.DecodeError:
        return body[:200].decode(errors="replace")
