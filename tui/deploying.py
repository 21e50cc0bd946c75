"""A deploy run for the TUI, as `fleet deploy STACK` runs it, with progress as DeployEvents.

Runs on the caller's (worker) thread. The deploy is recorded in the state
store before it acts, on a connection of this thread's own (SQLite's WAL lets
it write beside the controller's).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fleet.config import paths, stack
from fleet.deploy import apply as rollout
from fleet.deploy.images import ImageSource
from fleet.health import store
from fleet.model import Inventory
from fleet.render.deploy import deploy_json
from fleet.ssh import hostkeys
from fleet.ssh.connection import SshConnection
from tui.client import DeployEvent, DeployOutcome, DeviceOutcome, OnProgress
from tui.embedded import Deployer

PARALLEL = 4
TIMEOUT_S = 10.0


class Forward:
    """rollout.Progress -> DeployEvents for `on_progress`."""

    def __init__(self, on_progress: OnProgress) -> None:
        self._tell = on_progress

    def stage(self, device: str, text: str) -> None:
        self._tell(DeployEvent(device, "stage", text))

    def expect(self, device: str, nbytes: int) -> None:
        self._tell(DeployEvent(device, "expect", nbytes=nbytes))

    def sent(self, device: str, nbytes: int) -> None:
        self._tell(DeployEvent(device, "sent", nbytes=nbytes))


def deployer(inventory: Inventory, store_path: Path | None,
             known_hosts: Path | None = None) -> Deployer:
    """A deploy of the inventory's devices with the CLI's defaults for hosts and images."""

    def deploy(stack_path: str, on_progress: OnProgress, dry_run: bool) -> DeployOutcome:
        wanted = stack.load_stack(stack_path)
        known = hostkeys.KnownHosts(paths.known_hosts(known_hosts))
        source = ImageSource.from_env()
        progress = Forward(on_progress)
        devices = inventory.devices
        prepared = rollout.prepare(
            wanted, devices, lambda d: SshConnection(d, known, timeout=TIMEOUT_S), source,
            parallel=max(PARALLEL, 8), now=time.time(), progress=progress)
        try:
            if prepared.plan.unplaced:
                return DeployOutcome(wanted.name, False, dry_run=dry_run, error=(
                    f"{len(prepared.plan.unplaced)} replica(s) do not fit: nothing was "
                    "changed (the plan view says why)"))
            if dry_run:
                outcomes = tuple(DeviceOutcome(d, True, changed=len(s.changes))
                                 for d, s in prepared.steps.items())
                failed = tuple(DeviceOutcome(d, False, why) for d, why in prepared.failed.items())
                return DeployOutcome(wanted.name, not failed, outcomes + failed, dry_run=True)
            with store.Store(store_path) as db:
                deployment = db.deployment_started(
                    time.time(), wanted.name, json.dumps(deploy_json(prepared, None, None)),
                    {d: f"{len(s.changes)} change(s)" for d, s in prepared.steps.items()})
                keep_free = {d.id: d.profile.reserve.free_disk_pct for d in devices}
                results = rollout.apply(prepared, source, parallel=PARALLEL,
                                        keep_free_pct=keep_free, progress=progress)
                db.deployment_finished(deployment, time.time(),
                                       {r.device: (r.ok, r.error) for r in results})
        finally:
            prepared.close()
        return DeployOutcome(
            wanted.name, all(r.ok for r in results),
            tuple(DeviceOutcome(r.device, r.ok, r.error, r.changed, r.seconds) for r in results),
            deployment=deployment)

    return deploy
