"""What every view shares: the typed app, and a failed worker shown as a notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from tui.app import FleetApp


def notify_failure(event: Worker.StateChanged) -> None:
    """A worker that raised: its error as a notification (never a traceback)."""
    worker = event.worker
    if event.state is WorkerState.ERROR:
        worker.node.app.notify(str(worker.error) or type(worker.error).__name__,
                               title=worker.name or "error", severity="error")


class View(Screen[None]):
    """A screen of the fleet app."""

    @property
    def fleet_app(self) -> FleetApp:
        return cast("FleetApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(event)  # StateChanged does not bubble: each view says its own failures
