"""The fleet table widget: renders only the rows on screen, so 1,000 devices cost 40 lines.

Textual's DataTable measures every cell of every row when rows change: with
1,000 devices re-sorted four times a second that took about 250 ms a
refresh here. This widget keeps the arranged rows as values and formats a
line only when the compositor asks for it (the Line API).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui import rows
from tui.client import DeviceRow


class FleetTable(Widget, can_focus=True):
    """Devices, one per line, under a fixed header; a cursor; enter opens one."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"fleet-table--header", "fleet-table--cursor"}
    DEFAULT_CSS = """
    FleetTable { height: 1fr; }
    FleetTable > .fleet-table--header { background: $panel; }
    FleetTable > .fleet-table--cursor { background: $accent 40%; }
    FleetTable:focus > .fleet-table--cursor { background: $accent; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
        Binding("enter", "open", "Open", show=True),
    ]

    class Opened(Message):
        """The user asked for one device's detail."""

        def __init__(self, device: str) -> None:
            super().__init__()
            self.device = device

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[DeviceRow] = []
        self.now = 0.0
        self.sort = "id"
        self.reverse = False
        self.empty_text = "no devices"
        self.cursor = 0
        self.top = 0

    @property
    def current(self) -> DeviceRow | None:
        return self.rows[self.cursor] if self.rows else None

    def show(self, arranged: Sequence[DeviceRow], now: float, *, sort: str, reverse: bool,
             empty_text: str = "no devices") -> None:
        """New rows; the cursor stays on the device it was on, if that device is still shown."""
        keep = self.current.id if self.current else None
        self.rows, self.now = list(arranged), now
        self.sort, self.reverse, self.empty_text = sort, reverse, empty_text
        at = next((k for k, r in enumerate(self.rows) if r.id == keep), None)
        self._place(self.cursor if at is None else at)
        self.refresh()

    # -- drawing ---------------------------------------------------------------

    @property
    def _body_height(self) -> int:
        return max(1, self.size.height - 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._strip(rows.header(self.sort, self.reverse), width,
                               "fleet-table--header")
        index = self.top + y - 1
        if index >= len(self.rows):
            if index == 0:
                return self._strip(Text(self.empty_text, style="dim italic"), width)
            return Strip.blank(width, self.rich_style)
        component = "fleet-table--cursor" if index == self.cursor else None
        return self._strip(rows.line(self.rows[index], self.now), width, component)

    def _strip(self, text: Text, width: int, component: str | None = None) -> Strip:
        style = self.rich_style
        if component is not None:
            style += self.get_component_rich_style(component)
        segments = [Segment(s.text, style + s.style if s.style else style)
                    for s in text.render(self.app.console)]
        return Strip(segments).adjust_cell_length(width, style)

    # -- moving ----------------------------------------------------------------

    def _place(self, cursor: int) -> None:
        self.cursor = max(0, min(cursor, len(self.rows) - 1))
        height = self._body_height
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + height:
            self.top = self.cursor - height + 1
        self.top = max(0, min(self.top, max(0, len(self.rows) - height)))

    def action_move(self, by: int) -> None:
        self._place(self.cursor + by)
        self.refresh()

    def action_page(self, by: int) -> None:
        self._place(self.cursor + by * self._body_height)
        self.refresh()

    def action_jump(self, to: int) -> None:
        self._place(to if to >= 0 else len(self.rows) - 1)
        self.refresh()

    def action_open(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current.id))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1 and self.top + event.y - 1 < len(self.rows):
            self._place(self.top + event.y - 1)
            self.refresh()
            if event.chain == 2:
                self.action_open()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.action_move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.action_move(-3)

    def on_resize(self, event: events.Resize) -> None:
        self._place(self.cursor)
