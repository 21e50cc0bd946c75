"""A deploy for the TUI through fleet.actions.deploy, `fleet deploy STACK`'s own sequence, with
progress as DeployEvents.

Runs on the caller's (worker) thread. The store is opened on that thread when
the deploy is about to act (SQLite's WAL lets it write beside the
controller's connection). As the CLI's, it makes room on a board too full
for its images.
"""

from __future__ import annotations

from pathlib import Path

from fleet.actions.deploy import Collaborators, Deployed, Options, deploy
from fleet.config import paths, stack
from fleet.deploy.images import ImageSource
from fleet.health import store
from fleet.model import Inventory
from fleet.ssh import hostkeys
from fleet.ssh.local import connect
from tui.client import DeployEvent, DeployOutcome, DeviceOutcome, OnProgress
from tui.embedded import Deployer

PARALLEL = 4
TIMEOUT_S = 10.0


class Forward:
    """fleet.fanout.Progress -> DeployEvents for `on_progress`."""

    def __init__(self, on_progress: OnProgress) -> None:
        self._tell = on_progress

    def stage(self, device: str, text: str) -> None:
        self._tell(DeployEvent(device, "stage", text))

    def expect(self, device: str, nbytes: int) -> None:
        self._tell(DeployEvent(device, "expect", nbytes=nbytes))

    def sent(self, device: str, nbytes: int) -> None:
        self._tell(DeployEvent(device, "sent", nbytes=nbytes))


def outcome(done: Deployed) -> DeployOutcome:
    """The use case's answer as the client interface's value."""
    name = done.prepared.stack.name
    if done.unplaced:
        return DeployOutcome(name, False, dry_run=done.dry_run, error=(
            f"{len(done.prepared.plan.unplaced)} replica(s) do not fit: nothing was changed "
            "(the plan view says why)"))
    failed = tuple(DeviceOutcome(d, False, why) for d, why in done.prepared.failed.items())
    if not done.acted:
        would = tuple(DeviceOutcome(d, True, changed=len(s.changes))
                      for d, s in done.prepared.steps.items())
        return DeployOutcome(name, done.ok, would + failed, dry_run=True)
    return DeployOutcome(
        name, done.ok,
        tuple(DeviceOutcome(r.device, r.ok, r.error, r.changed, r.seconds) for r in done.results),
        deployment=done.deployment)


def deployer(inventory: Inventory, store_path: Path | None,
             known_hosts: Path | None = None) -> Deployer:
    """A deploy of the inventory's devices with the CLI's defaults for hosts and images."""

    def run(stack_path: str, on_progress: OnProgress, dry_run: bool) -> DeployOutcome:
        known = hostkeys.KnownHosts(paths.known_hosts(known_hosts))
        using = Collaborators(lambda d: connect(d, known, timeout=TIMEOUT_S),
                              ImageSource.from_env(), lambda: store.Store(store_path),
                              progress=Forward(on_progress))
        return outcome(deploy(stack.load_stack(stack_path), inventory.devices, using,
                              Options(dry_run=dry_run, parallel=PARALLEL)))

    return run
