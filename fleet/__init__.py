"""fleet: an edge fleet manager for Raspberry Pi and Jetson boards."""

__version__ = "0.1.0"
