"""PURE: a running deploy's state per device, from its DeployEvents, for the deploy view."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tui.client import DeployEvent, DeployOutcome

ENDED = {"done": "ok", "failed": "failed"}


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    device: str
    stage: str = "waiting"
    expected: int = 0  # bytes it will be sent, if it is pushed anything
    sent: int = 0
    result: str = ""  # "", "ok" or "failed"
    error: str = ""
    wave: int | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the push sent; 1 when it ended well, None while nothing is measured."""
        if self.result == "ok":
            return 1.0
        return min(1.0, self.sent / self.expected) if self.expected else None


class Board:
    """Every device a deploy has spoken of, in the order it first did, and how it ended."""

    def __init__(self, stack: str, *, dry_run: bool = False) -> None:
        self.stack = stack
        self.dry_run = dry_run
        self.devices: dict[str, DeviceProgress] = {}
        self.outcome: DeployOutcome | None = None
        self.events = 0

    def apply(self, event: DeployEvent) -> None:
        self.events += 1
        now = self.devices.get(event.device) or DeviceProgress(event.device)
        if event.kind == "stage":
            now = replace(now, stage=event.text, result=ENDED.get(event.text, now.result))
        elif event.kind == "expect":
            now = replace(now, expected=event.nbytes)
        elif event.kind == "sent":
            now = replace(now, sent=now.sent + event.nbytes)
        if event.wave is not None:
            now = replace(now, wave=event.wave)
        self.devices[event.device] = now

    def finish(self, outcome: DeployOutcome) -> None:
        """The final word: each device's result and error, whatever its last stage said."""
        self.outcome = outcome
        for d in outcome.devices:
            now = self.devices.get(d.device) or DeviceProgress(d.device)
            stage = now.stage if d.ok and not outcome.dry_run else (
                f"{d.changed} change(s) planned" if d.ok else "failed")
            self.devices[d.device] = replace(now, result="ok" if d.ok else "failed",
                                             error=d.error, stage=stage)

    @property
    def running(self) -> bool:
        return self.outcome is None

    def counts(self) -> tuple[int, int, int]:
        """(ok, failed, still going)."""
        ok = sum(d.result == "ok" for d in self.devices.values())
        failed = sum(d.result == "failed" for d in self.devices.values())
        return ok, failed, len(self.devices) - ok - failed
