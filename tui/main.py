"""`fleet tui`: the app on the real controller, embedded in this process, over the inventory."""

from __future__ import annotations

from collections.abc import Sequence
from multiprocessing import resource_tracker
from pathlib import Path

from fleet.config import inventory, paths
from tui import cleaning, deploying
from tui.app import FleetApp
from tui.embedded import EmbeddedClient, controller


def run(inventory_path: Path, *, store_path: Path | None = None, stack: str | None = None,
        known_hosts: Path | None = None, interfaces: Sequence[str] = ()) -> int:
    """Open the TUI until the user quits; the controller stops with it."""
    inv = inventory.load(inventory_path)
    state = paths.state_db(store_path)  # as `fleet daemon`: events are kept
    client = EmbeddedClient(
        inv, controller(inv, state, interfaces=interfaces),
        deployer=deploying.deployer(inv, state, known_hosts),
        cleaner=cleaning.SshCleaner(inv, known_hosts))
    # The ingest's multiprocessing primitives start Python's resource tracker, which is
    # handed sys.stderr's descriptor. While the app runs, Textual's stand-in for stderr has
    # none (fileno() is -1) and the start fails ("bad value(s) in fds_to_keep"): start the
    # tracker now, while stderr is the terminal.
    resource_tracker.ensure_running()
    app = FleetApp(client, stack=stack, has_store=True)
    app.run()
    return app.return_code or 0
