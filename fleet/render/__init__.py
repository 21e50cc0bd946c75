"""Terminal rendering (rich) and JSON of plans, status, deploys, discoveries and cleanups."""
