"""Brokers' start-up: the lab's, and a throwaway mosquitto on loopback for benchmarks and tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fleet.errors import LabError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(host: str, port: int, log: Path, *,
                   died: Callable[[], bool] = lambda: False, timeout: float = 10) -> None:
    """Return once a broker accepts connections on host:port, or say which log to read."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
            return
        if died() or time.monotonic() > deadline:
            raise LabError(f"mosquitto did not start; see {log}")
        time.sleep(0.05)


@contextlib.contextmanager
def loopback_mosquitto(directory: Path, port: int | None = None) -> Iterator[int]:
    """mosquitto on 127.0.0.1 (on `port`, or a free one) until the block ends; yields its port.

    Its queues are deep enough that a slow subscriber is late, not cut off.
    """
    port = port or free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_queued_bytes 0\n")
    log = directory / "mosquitto.log"
    with open(log, "wb") as output:
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=output, stderr=output)
    try:
        wait_listening("127.0.0.1", port, log, died=lambda: broker.poll() is not None)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)
