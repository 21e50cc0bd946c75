"""`make armv7-check`: the agent image for 32-bit Raspberry Pi OS, built and run under qemu-user.

A lab board's dockerd builds the armv7 context (msgspec compiled from its
locked sdist in the builder stage) on the lab's armhf Debian images, with
`--platform linux/arm/v7` as a board's build does, and runs the result: the
image says arm/v7, the kernel runs it as armv7l through qemu's binfmt_misc
handler, and msgspec and fleet.wire work in it.

Not collected by `make test` (the name is not test_*.py): cold, two armhf
debootstraps and msgspec's compile under qemu take minutes more than the
suite can spare; the unit tests check the context itself. It fails, never
skips, where qemu-user-static is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from docker.models.images import Image

from fleet.deploy import agent_image
from fleet.lab import images
from fleet.lab.spec import LabDevice
from fleet.model import Arch
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab

# Cold, the first test's fixtures debootstrap both armhf roots: past the suite's 600 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

lab = lab_fixture("iarm", "10.235.0.0/24", "--devices", "1", "--no-agent")
TAG = "fleet/agent:armv7-check"
BUILD_TIMEOUT_S = 1800  # msgspec's compile under qemu: minutes on 2 cores
ROUND_TRIP = """
import platform, msgspec._core
from fleet import wire
beat = wire.Heartbeat(
    v=wire.SCHEMA, seq=7, clock=1.5, cpu_pct=12.5, load1=0.4, mem_used_mb=300,
    mem_total_mb=924, mem_budget_mb=700, disk_used_mb=9000, disk_total_mb=29000,
    disk_budget_mb=23000, temp_c=51.2, throttled=["under-voltage"],
    impedance=wire.WireImpedance(latency_ms=5.0, processing_ms=20.0, queue=0,
                                 drift_ms=1.0, reliability=1.0))
assert wire.decode_heartbeat(wire.encode(beat)) == beat
try:
    wire.decode_heartbeat(b'{"v": 1}')
except wire.WireError:
    pass
else:
    raise AssertionError("a heartbeat without its fields was accepted")
print(platform.machine(), msgspec._core.__file__)
"""


@pytest.fixture(scope="module")
def engine(lab: Lab) -> Iterator[docker.DockerClient]:
    """The lab board's dockerd, with the armhf base and builder images loaded."""
    if (reason := images.foreign_ready(Arch.ARMV7)) is not None:
        pytest.fail(f"armv7 binaries cannot run here: {reason}")
    socket = lab.spec.docker_socket(LabDevice(0, "iarm-01", "", ""))
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=BUILD_TIMEOUT_S)
    try:
        for image in (images.AGENT_BASE_ARMV7, images.AGENT_BUILDER_ARMV7):
            with images.ensure(image).open("rb") as f:
                client.images.load(f)
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def agent(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Image:
    context = agent_image.context(tmp_path_factory.mktemp("armv7") / "context", Arch.ARMV7)
    built, _ = engine.images.build(
        path=str(context), tag=TAG, platform="linux/arm/v7", pull=False, rm=True,
        buildargs={"BASE": images.AGENT_BASE_ARMV7.tag,
                   "BUILDER": images.AGENT_BUILDER_ARMV7.tag})
    return built


def run(engine: docker.DockerClient, entrypoint: str, *args: str) -> str:
    """What `entrypoint ARGS` prints in a container of the agent image (no network)."""
    output: bytes = engine.containers.run(TAG, list(args), entrypoint=entrypoint,
                                          network_mode="none", remove=True)
    return output.decode()


def test_the_image_says_linux_arm_v7_as_a_boards_docker_checks(agent: Image) -> None:
    attrs = agent.attrs
    assert (attrs["Os"], attrs["Architecture"], attrs.get("Variant")) == ("linux", "arm", "v7")


def test_it_runs_as_armv7l_under_qemu(engine: docker.DockerClient, agent: Image) -> None:
    assert run(engine, "uname", "-m") == "armv7l\n"


def test_msgspec_is_compiled_for_armv7_and_the_wire_round_trips(
        engine: docker.DockerClient, agent: Image) -> None:
    machine, core = run(engine, "python3", "-c", ROUND_TRIP).split()
    assert machine == "armv7l"
    assert core == "/opt/fleet/site/msgspec/_core.cpython-311-arm-linux-gnueabihf.so"


def test_the_agent_starts_as_the_unprivileged_user(
        engine: docker.DockerClient, agent: Image) -> None:
    assert "--broker" in run(engine, "python3", "-m", "fleet.agent", "--help")
    assert run(engine, "id", "-u") == "65534\n"


def test_the_final_image_carries_no_compiler_and_stays_small(
        engine: docker.DockerClient, agent: Image) -> None:
    assert run(engine, "sh", "-c", "command -v gcc cc || echo none") == "none\n"
    base = engine.images.get(images.AGENT_BASE_ARMV7.tag)
    added_mb = (agent.attrs["Size"] - base.attrs["Size"]) / 2**20
    assert added_mb < 30, f"the agent adds {added_mb:.1f} MB to its base"

