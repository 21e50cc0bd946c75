"""A throwaway mosquitto on loopback, for benchmarks and tests that need only a broker."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from fleet.errors import LabError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def loopback_mosquitto(directory: Path, port: int | None = None) -> Iterator[int]:
    """mosquitto on 127.0.0.1 (on `port`, or a free one) until the block ends; yields its port.

    Its queues are deep enough that a slow subscriber is late, not cut off.
    """
    port = port or free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_queued_bytes 0\n")
    with open(directory / "mosquitto.log", "wb") as log:
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if broker.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"mosquitto did not start; see {directory / 'mosquitto.log'}")
            time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)
