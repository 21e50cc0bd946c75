"""Use cases the CLI and the TUI both call: each takes its collaborators as parameters."""
