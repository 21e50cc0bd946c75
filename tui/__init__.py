"""The Textual TUI (`fleet tui`): a client of the controller through tui.client's interface."""
