"""`fleet agent` / `python -m fleet.agent`: wire the parts together and beat until SIGTERM.

Threads: paho's network thread (presence, pings, command intake), one
command worker, zeroconf's, which answers mDNS queries, and this main
thread, which sends heartbeats and is the only one that handles signals.
`--once` prints one heartbeat instead (fleet.agent.once).
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from fleet.agent.advertise import Advertiser, advert
from fleet.agent.agent import Agent
from fleet.agent.config import AgentConfig, parse_args
from fleet.agent.engine import Engine
from fleet.agent.link import Link
from fleet.agent.probe import Probe
from fleet.agent.tracker import Tracker
from fleet.agent.worker import Worker
from fleet.wire import encode

log = logging.getLogger("fleet.agent")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent; 0 after a clean stop (SIGTERM or SIGINT), 2 for bad arguments."""
    argv = sys.argv[1:] if argv is None else argv
    if "--once" in argv:
        from fleet.agent import once

        return once.main(argv)
    try:
        config = parse_args(argv)
    except SystemExit as e:  # argparse: 0 for --help, 2 for a bad option
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(config, stop)
    return 0


def run(config: AgentConfig, stop: threading.Event) -> None:
    """Heartbeat every interval until `stop` is set, then leave cleanly (`offline` first)."""
    engine = Engine(config.docker_socket)
    tracker = Tracker()
    probe = Probe(engine=engine, disk_path=config.disk_path, memory_cgroup=config.memory_cgroup,
                  vcgencmd=shutil.which("vcgencmd"))
    agent: Agent | None = None

    def on_command(payload: bytes) -> None:
        if agent is not None:  # messages can only arrive after start(), but be sure
            agent.on_command(payload)

    link = Link(config.device_id, config.host, config.port, on_command,
                username=config.username, password=config.password)
    worker = Worker(engine.act, lambda a: link.ack(encode(a)), tracker, capacity=config.queue)
    agent = Agent(bus=link, read=probe.read, worker=worker, tracker=tracker,
                  budget=config.profile.budget, interval_s=config.interval_s,
                  alive_file=config.alive_file)
    log.info("agent %s (%s) for broker %s:%s, every %s s", config.device_id,
             config.profile.name, config.host, config.port, config.interval_s)
    worker.start()
    link.start()
    advertiser = Advertiser(advert(config.device_id, config.profile, ssh_port=config.ssh_port,
                                   host_key=config.ssh_host_key, model=probe.model),
                            config.advertise_addresses) if config.advertise else None
    try:
        if advertiser:
            advertiser.start()
        due = time.monotonic() + config.interval_s
        while not stop.wait(max(0.0, due - time.monotonic())):
            agent.tick()
            # Keep to the schedule, but after a stall start afresh rather than catch up in a burst.
            due = max(due + config.interval_s, time.monotonic())
    finally:
        if advertiser:
            advertiser.stop()
        worker.stop()
        link.stop()
