"""The agent on each lab device: its image built on the device's own dockerd, and run there.

It runs as a real board would run it: the agent image, host network (here the
device's network namespace), the engine's socket, sshd's public host key (whose
fingerprint it advertises over mDNS), its device tree (what it says it is), and
not root. One thing is lab-only: the device's memory cgroup is mounted
read-only at /fleet/cgroup so that the agent reports the memory its device uses
(all of a lab device's containers share that cgroup) rather than the host's 24 GB.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from fleet import __version__
from fleet.agent.board import DEVICE_TREE_MOUNT
from fleet.errors import LabError
from fleet.lab import device, images
from fleet.lab.spec import LabDevice, LabSpec

IMAGE = f"fleet/agent:{__version__}"
CONTAINER = "fleet-agent"
CGROUP_MOUNT = "/fleet/cgroup"
SSH_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"  # where a board's sshd keeps it
DEVICE_TREE = "/sys/firmware/devicetree/base"  # in the device's own namespace (fleet.lab.firmware)


def _client(spec: LabSpec, d: LabDevice, timeout: int = 120) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{spec.docker_socket(d)}", timeout=timeout)


def build(spec: LabSpec, d: LabDevice, context: Path) -> None:
    """Build the agent image from `context` on the device's engine, on the lab's Debian base."""
    client = _client(spec, d, timeout=300)
    try:
        client.images.build(path=str(context), tag=IMAGE, rm=True, pull=False,
                            buildargs={"BASE": images.AGENT_BASE.tag})
    except docker.errors.DockerException as e:
        raise LabError(f"{d.id}: building the agent image: {e}") from e
    finally:
        client.close()


def start(spec: LabSpec, d: LabDevice, interval: float = 5.0) -> None:
    """Run the agent container, restarted by the engine unless stopped on purpose."""
    engine_group = os.stat(spec.docker_socket(d)).st_gid
    # The agent (uid 65534) reads it: ssh-keygen makes it 0644 under the usual umask only.
    host_key = spec.ssh_dir(d) / "ssh_host_ed25519_key.pub"
    host_key.chmod(0o644)
    client = _client(spec, d)
    try:
        client.containers.run(
            IMAGE, name=CONTAINER, detach=True, network_mode="host",
            restart_policy={"Name": "unless-stopped"},
            user="65534:65534", group_add=[str(engine_group)],
            volumes={"/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                     str(device.memory_cgroup(spec, d)): {"bind": CGROUP_MOUNT, "mode": "ro"},
                     str(host_key): {"bind": SSH_HOST_KEY, "mode": "ro"},
                     # As bootstrap.sh mounts a board's: docker masks /sys/firmware.
                     DEVICE_TREE: {"bind": f"/{DEVICE_TREE_MOUNT}", "mode": "ro"}},
            environment={"FLEET_AGENT_ID": d.id, "FLEET_AGENT_BROKER": spec.broker,
                         "FLEET_AGENT_PROFILE": d.profile,
                         "FLEET_AGENT_INTERVAL": str(interval),
                         "FLEET_AGENT_MEMORY_CGROUP": CGROUP_MOUNT,
                         "FLEET_AGENT_SSH_HOST_KEY": SSH_HOST_KEY,
                         "FLEET_AGENT_SSH_PORT": "22"})
    except docker.errors.DockerException as e:
        raise LabError(f"{d.id}: starting the agent: {e}") from e
    finally:
        client.close()


def stop(spec: LabSpec, d: LabDevice, timeout: int = 10) -> None:
    """Stop the agent as `docker stop` does: SIGTERM, so it leaves cleanly (and unadvertises).

    The engine then leaves it stopped, its restart policy being unless-stopped.
    """
    _on_agent(spec, d, "stopping", lambda agent: agent.stop(timeout=timeout))


def resume(spec: LabSpec, d: LabDevice) -> None:
    """Start the stopped agent container again, as it was."""
    _on_agent(spec, d, "starting", lambda agent: agent.start())


def _on_agent(spec: LabSpec, d: LabDevice, doing: str,
              action: Callable[[Container], object]) -> None:
    client = _client(spec, d)
    try:
        action(client.containers.get(CONTAINER))
    except docker.errors.NotFound:
        raise LabError(f"{d.id}: no agent container ({CONTAINER}) on this device") from None
    except docker.errors.DockerException as e:
        raise LabError(f"{d.id}: {doing} the agent: {e}") from e
    finally:
        client.close()


def container(spec: LabSpec, d: LabDevice) -> Container | None:
    """The agent's container on the device, if there is one."""
    client = _client(spec, d, timeout=10)
    try:
        found: Container = client.containers.get(CONTAINER)
        return found
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as e:
        raise LabError(f"{d.id}: asking the engine for the agent: {e}") from e
    finally:
        client.close()


def running(spec: LabSpec, d: LabDevice) -> bool:
    found = container(spec, d)
    return found is not None and found.status == "running"


def pid(spec: LabSpec, d: LabDevice) -> int:
    """The agent's process id as this host sees it (0 if it is not running)."""
    found = container(spec, d)
    return int(found.attrs["State"]["Pid"]) if found is not None else 0
