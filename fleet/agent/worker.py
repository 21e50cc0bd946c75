"""The command worker: one thread runs queued commands in order, never paho's network thread.

A container stop can take ten seconds; run on paho's thread it would stall
every ping and acknowledgement behind it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Literal

from fleet.agent.commands import Refuse, admit
from fleet.agent.engine import EngineError, NoSuchContainer
from fleet.agent.tracker import Tracker
from fleet.wire import CONFLICT, READY, SCHEMA, TRANSIT, Ack, Command

log = logging.getLogger(__name__)

Act = Callable[[str, str], None]  # (action, container name); raises EngineError
Reply = Callable[[Ack], None]


def ack(command: Command, result: Literal[1, 0, -1], received: float, *,
        done: float | None = None, queue: int = 0, detail: str = "") -> Ack:
    return Ack(v=SCHEMA, id=command.id, kind=command.kind, result=result, sent=command.sent,
               received=received, done=done, queue=queue, detail=detail)


class Worker:
    def __init__(self, act: Act, reply: Reply, tracker: Tracker, *, capacity: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._act = act
        self._reply = reply
        self._tracker = tracker
        self._capacity = capacity
        self._clock = clock
        self._jobs: queue.SimpleQueue[tuple[Command, float] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-agent-worker", daemon=True)

    @property
    def depth(self) -> int:
        """Commands waiting behind the one being run: the impedance's queue."""
        with self._lock:
            return self._waiting

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    def offer(self, command: Command, received: float) -> None:
        """Queue a start/stop/restart, or refuse it at once; from paho's thread, so it never blocks.

        The decision and the count are made under one lock, so two arrivals
        cannot both take the last place.
        """
        with self._lock:
            decision = admit(command, now=received, waiting=self._waiting, busy=self._busy,
                             capacity=self._capacity)
            if not isinstance(decision, Refuse):
                self._waiting += 1
                depth = self._waiting
        if isinstance(decision, Refuse):
            self._tracker.finished(ready=False)
            self._reply(ack(command, CONFLICT, received, queue=self.depth,
                            detail=decision.detail))
            return
        self._jobs.put((command, received))
        if decision.transit:
            self._reply(ack(command, TRANSIT, received, queue=depth))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
                self._busy = True
            try:
                self._execute(*job)
            except Exception:  # the worker must outlive any one command
                log.exception("command %s failed unexpectedly", job[0].id)
            finally:
                with self._lock:
                    self._busy = False

    def _execute(self, command: Command, received: float) -> None:
        if command.at is not None:
            while (delay := command.at - self._clock()) > 0:
                if self._stop.wait(delay):
                    self._finish(command, received, detail="agent stopping")
                    return
        if self._stop.is_set():
            self._finish(command, received, detail="agent stopping")
            return
        started = time.monotonic()
        name = command.args["container"]
        try:
            self._act(command.kind, name)
        except EngineError as e:
            detail = str(e) if isinstance(e, NoSuchContainer) else f"engine error: {e}"
            self._finish(command, received, detail=detail)
            return
        duration_ms = (time.monotonic() - started) * 1000
        self._tracker.finished(ready=True, duration_ms=duration_ms)
        self._reply(ack(command, READY, received, done=self._clock(), queue=self.depth))

    def _finish(self, command: Command, received: float, *, detail: str) -> None:
        """A command that will not take effect: CONFLICT, counted against reliability.

        Its duration is not a processing time: a refused connection is quick
        and would make the board look faster than it is.
        """
        self._tracker.finished(ready=False)
        self._reply(ack(command, CONFLICT, received, queue=self.depth, detail=detail))
