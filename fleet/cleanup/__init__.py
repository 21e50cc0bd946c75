"""Cleanup: what may be reclaimed (pure), a board's scan and reclaim, the daemon's janitor."""
