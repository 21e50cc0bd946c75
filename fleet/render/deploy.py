"""How `fleet deploy` shows itself: the diff against what runs, progress bars, results, JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from fleet.deploy.apply import DeviceResult, Prepared
from fleet.deploy.operations import Action, DeviceSteps

_ORDER = (Action.PULL, Action.PUSH, Action.BUILD, Action.FILE, Action.NETWORK, Action.CREATE,
          Action.REPLACE, Action.START, Action.REMOVE, Action.PRUNE)


# Changes listed per device before "... and N more": enough to see what kind of change it
# is, few enough that 136 services on a board (or 1,000 boards) stay readable.
STEPS_SHOWN = 5


def render_diff(prepared: Prepared, *, every_step: bool = False,
                verbose: bool = False) -> RenderableType:
    """Per device, what would change: counted by kind, the first few changes listed (every
    change if `verbose`; every step, keeps too, if `every_step`)."""
    lines = [Text(f"deploy {prepared.stack.name}: the plan against what runs", style="bold")]
    for device, steps in prepared.steps.items():
        if steps.blocked:
            lines.append(Text(f"{device}: blocked: {steps.blocked}", style="red"))
            continue
        lines.append(Text(f"{device}: {_device_counts(steps)}",
                          style="bold" if steps.changes else ""))
        listed = steps.steps if every_step else steps.changes
        shown = listed if every_step or verbose else listed[:STEPS_SHOWN]
        lines += [Text(f"  {step}") for step in shown]
        if len(listed) > len(shown):
            lines.append(Text(f"  ... and {len(listed) - len(shown)} more (--verbose lists "
                              "every change, --json every step)", style="dim"))
    for device, why in prepared.failed.items():
        lines.append(Text(f"{device}: unreachable: {why}", style="red"))
    counts = Counter(s.action for steps in prepared.steps.values() for s in steps.steps)
    summary = ", ".join(f"{counts[a]} {a}" for a in (*_ORDER, Action.KEEP) if counts[a])
    lines.append(Text(f"steps: {summary or 'none'}", style="bold"))
    return Group(*lines)


def _device_counts(steps: DeviceSteps) -> str:
    """`271 to change (136 file, 135 create), 0 kept`."""
    kinds = Counter(s.action for s in steps.changes)
    detail = ", ".join(f"{kinds[a]} {a}" for a in _ORDER if kinds[a])
    return (f"{len(steps.changes)} to change" + (f" ({detail})" if detail else "")
            + f", {len(steps.of(Action.KEEP))} kept")


def render_results(results: Sequence[DeviceResult]) -> RenderableType:
    table = Table("device", "result", "changed", "sent", "seconds", "detail",
                  box=box.SIMPLE_HEAD, title="deploy results")
    for r in results:
        result = Text("ok", style="green") if r.ok else Text("FAILED", style="bold red")
        sent = sum(p.sent_bytes for p in r.pushed)
        outcome = Counter(r.applied.outcomes.values()) if r.applied else Counter()
        detail = r.error or ", ".join(f"{n} {verb}" for verb, n in sorted(outcome.items()))
        if r.room:
            detail = f"{detail} (making room: {r.room})" if detail else f"making room: {r.room}"
        table.add_row(r.device, result, str(r.changed), _mb(sent) if sent else "-",
                      f"{r.seconds:.1f}", detail or ("no change" if r.ok else ""))
    failed = sum(not r.ok for r in results)
    summary = (f"{len(results) - failed} of {len(results)} devices ok"
               + (f", {failed} failed" if failed else ""))
    return Group(table, Text(summary, style="bold red" if failed else "bold"))


def deploy_json(prepared: Prepared, results: Sequence[DeviceResult] | None,
                deployment: int | None) -> dict[str, Any]:
    """`fleet deploy --json`: each device's steps and, unless a dry run, its result."""
    by_device = {r.device: r for r in results or ()}
    devices = []
    for device in [*prepared.steps, *prepared.failed]:
        steps = prepared.steps.get(device)
        entry: dict[str, Any] = {"device": device, "steps": _steps_json(steps)}
        if device in prepared.failed:
            entry.update(ok=False, error=prepared.failed[device])
        r = by_device.get(device)
        if r is not None:
            entry.update(ok=r.ok, error=r.error, seconds=round(r.seconds, 3), room=r.room,
                         outcomes=dict(r.applied.outcomes) if r.applied else {},
                         pushed=[{"image": p.ref, "missing_bytes": p.missing_bytes,
                                  "sent_bytes": p.sent_bytes} for p in r.pushed],
                         pulled=[{"image": p.ref, "image_id": p.image_id,
                                  "download_bytes": p.download_bytes} for p in r.pulled])
        devices.append(entry)
    return {
        "stack": prepared.stack.name, "deployment": deployment, "dry_run": results is None,
        "ok": results is not None and all(r.ok for r in results),
        "devices": devices,
        "images": dict(prepared.how),
        "unplaced": [{"service": u.service, "replica": u.replica, "reasons": dict(u.reasons)}
                     for u in prepared.plan.unplaced],
    }


def _steps_json(steps: DeviceSteps | None) -> list[dict[str, str]]:
    if steps is None:
        return []
    return [{"action": str(s.action), "target": s.target, "detail": s.detail}
            for s in steps.steps]


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


class Bars:
    """rich progress bars on stderr, one per device: what it is doing, and bytes pushed."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    @classmethod
    def columns(cls) -> tuple[Any, ...]:
        return (TextColumn("{task.fields[device]:<14}"), TextColumn("{task.description:<28}"),
                BarColumn(), DownloadColumn(), TimeElapsedColumn())

    def _task(self, device: str) -> TaskID:
        if device not in self._tasks:
            self._tasks[device] = self._progress.add_task("", total=None, device=device)
        return self._tasks[device]

    def stage(self, device: str, text: str) -> None:
        task = self._task(device)
        if text in ("done", "failed"):
            total = self._progress.tasks[task].total or 1
            self._progress.update(task, description=text, total=total, completed=total)
        else:
            self._progress.update(task, description=text)

    def expect(self, device: str, nbytes: int) -> None:
        self._progress.update(self._task(device), total=nbytes)

    def sent(self, device: str, nbytes: int) -> None:
        self._progress.advance(self._task(device), nbytes)
