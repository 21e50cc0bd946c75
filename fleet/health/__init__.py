"""The fleet's health: the view built from heartbeats, liveness, impedance, the store."""
