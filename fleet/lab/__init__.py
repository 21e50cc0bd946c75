"""The fleet lab: a simulated fleet of boards on one Linux host (DESIGN section 9).

Each device is a network namespace on a bridge with its own mount and UTS
namespaces, so it has its own address, host name, /run, dockerd and sshd,
just as a board on the LAN would. A mosquitto broker listens on the bridge.
"""
