"""The deploy view: a running (or the last) deploy, each device's stage and push progress."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from tui import rows
from tui.base import View
from tui.board import Board, DeviceProgress

RESULT_STYLE = {"ok": "green", "failed": "bold red", "": "cyan"}


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _progress(d: DeviceProgress) -> Text:
    fraction = d.fraction
    if fraction is None:
        return Text("…" if not d.result else "-", style="dim")
    text = rows.bar(100 * fraction)
    if d.expected:
        text.append(f" {_mb(d.sent)}/{_mb(d.expected)}", style="dim")
    return text


def title(board: Board | None) -> Text:
    if board is None:
        return Text("no deploy yet: plan a stack (p), then D to deploy it", style="dim")
    ok, failed, going = board.counts()
    kind = "dry run" if board.dry_run else "deploy"
    text = Text(f"{kind} {board.stack}  ", style="bold")
    if board.running:
        text.append("running", style="bold cyan")
    elif board.outcome is not None and board.outcome.ok:
        text.append("done", style="bold green")
    else:
        text.append("FAILED", style="bold red")
    text.append(f"   {ok} ok  {failed} failed  {going} in progress")
    return text


def render_board(board: Board | None) -> RenderableType:
    """A row per device; a wave column once the rollout reports waves."""
    if board is None:
        return Text("")
    waves = any(d.wave is not None for d in board.devices.values())
    table = Table("device", *(["wave"] if waves else []), "stage", "progress", "result",
                  box=None, padding=(0, 2), expand=True)
    ordered = sorted(board.devices.values(),
                     key=lambda d: (d.wave if d.wave is not None else -1)) if waves \
        else list(board.devices.values())
    for d in ordered:
        wave = [str(d.wave) if d.wave is not None else "-"] if waves else []
        result = Text(d.result or "…", style=RESULT_STYLE[d.result])
        if d.error:
            result.append(f"  {d.error}", style="red")
        table.add_row(Text(d.device, style="bold"), *wave, escape(d.stage), _progress(d), result)
    parts: list[RenderableType] = [table]
    if board.outcome is not None and board.outcome.error:
        parts.append(Text(board.outcome.error, style="bold red"))
    return Group(*parts)


class DeployScreen(View):
    """Shows the app's deploy board, repainted when the app has drained new progress."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.switch_mode('fleet')", "Back")]

    def compose(self) -> ComposeResult:
        yield Static(title(None), id="deploy-title")
        with VerticalScroll(id="deploy-box"):
            yield Static(id="board")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "deploy_tick", self._redraw)

    def _redraw(self, _: object = None) -> None:
        board = self.fleet_app.board
        self.query_one("#deploy-title", Static).update(title(board))
        self.query_one("#board", Static).update(render_board(board))
