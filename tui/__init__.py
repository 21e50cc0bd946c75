"""The Textual TUI (`fleet tui`): a client of fleet's public API only."""
