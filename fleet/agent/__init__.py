"""The on-device agent: heartbeats, pings and allow-listed commands; it decides nothing.

It imports only what a 512 MB board can afford: no textual, fabric, paramiko
or docker SDK (DESIGN section 2).
"""
