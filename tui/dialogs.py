"""Modal screens: a confirmation before anything destructive, and the key help."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

KEYS = (
    ("everywhere", (("?", "this help"), ("ctrl+p", "command palette"),
                    ("f / p / d / c", "fleet, plan, deploy, cleanup view"), ("esc", "back"),
                    ("q", "quit"))),
    ("fleet", (("/", "filter by id, site, profile or state"), ("esc", "clear the filter"),
               ("s / S", "sort by the next column / reverse"),
               ("↑ ↓ pgup pgdn g G", "move"), ("enter", "the device's detail"))),
    ("plan", (("e, enter", "type a stack file's path, then plan it"),
              ("D", "deploy the plan (asks first)"),
              ("n", "dry run: read and plan, change nothing"))),
    ("deploy", (("", "each device's stage and push progress, live"),)),
    ("cleanup", (("c", "scan the devices shown, or the one open"),
                 ("space, enter", "select a device's category"), ("a", "select all / none"),
                 ("x", "remove the selected: lists each item, asks"),
                 ("r", "scan again"))),
)


def key_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    for view, keys in KEYS:
        table.add_row(f"[b]{view}[/b]", "")
        for key, what in keys:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class Confirm(ModalScreen[bool]):
    """A question with a default of no: enter or y confirms only on the action's own button."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,n", "answer(False)", "Cancel"),
                Binding("y", "answer(True)", "Yes")]

    def __init__(self, question: RenderableType, action: str) -> None:
        super().__init__()
        self.question = question
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            with VerticalScroll(id="question-box"):  # a long list of items scrolls
                yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self.action_label, variant="error", id="yes")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # a stray enter cancels

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Help(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static("[b]fleet[/b]: keys", id="help-title")
            with VerticalScroll(id="help-keys"):  # taller than a small terminal: it scrolls
                yield Static(key_table())
