"""The Engine API client, against a small fake dockerd on a Unix socket."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from fleet.agent.engine import Engine, EngineError, NoSuchContainer

CONTAINERS = [{"Id": "a", "Names": ["/web"], "State": "running"},
              {"Id": "b", "Names": ["/db"], "State": "exited"},
              {"Id": "c", "Names": ["/cache"], "State": "running"}]
# What the fake engine answers to POST /containers/<name>/<action>.
STATUS = {"web": 204, "db": 304, "boom": 500}


class FakeDockerd(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path))
        self._reply(200, json.dumps(CONTAINERS).encode())

    def do_POST(self) -> None:
        self.requests.append(("POST", self.path))
        name = self.path.split("/")[2]
        status = STATUS.get(name, 404)
        body = b"" if status in (204, 304) else json.dumps({"message": f"no {name}"}).encode()
        self._reply(status, body)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def dockerd(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    FakeDockerd.requests = []
    with Server(path, FakeDockerd) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield path
        server.shutdown()


def test_container_counts(dockerd: str) -> None:
    assert Engine(dockerd).containers() == (2, 3)
    assert FakeDockerd.requests == [("GET", "/containers/json?all=1")]


def test_204_and_304_are_success(dockerd: str) -> None:
    Engine(dockerd).act("start", "web")
    Engine(dockerd).act("stop", "db")  # already stopped
    assert FakeDockerd.requests == [("POST", "/containers/web/start"),
                                    ("POST", "/containers/db/stop")]


def test_404_is_an_unknown_container_and_500_an_engine_error(dockerd: str) -> None:
    with pytest.raises(NoSuchContainer, match="unknown container 'nope'"):
        Engine(dockerd).act("restart", "nope")
    with pytest.raises(EngineError, match="HTTP 500 no boom"):
        Engine(dockerd).act("start", "boom")


def test_nothing_listening_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="No such file or directory"):
        Engine(str(tmp_path / "missing.sock")).containers()


def test_only_allow_listed_actions() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Engine("/nonexistent").act("kill", "web")
