"""`fleet enroll` without a board: the agent's config, the playbook's report read, a fake board."""

from __future__ import annotations

import base64
import io
import platform
import re
import shlex
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from fleet.deploy import agent_build, agent_image, enroll
from fleet.deploy.enroll import EnrollResult, Settings, Step
from fleet.errors import (
    ConfigError,
    HostKeyChangedError,
    HostKeyNotPinnedError,
    SshAuthError,
    SshConnectError,
)
from fleet.fanout import Stages
from fleet.model import Arch, Broker, Device, SshTarget
from fleet.ssh import playbooks
from fleet.ssh.connection import FakeConnection, Result
from tests.kit import device

IMAGE = "fleet/agent:0.1.0-0123456789ab"
FINGERPRINT = "SHA256:" + "Q" * 43
CONTAINER = "4f1c" * 16
ROOT = SshTarget(user="root")  # enroll's commands go as they are, without sudo
FIRST_RUN = f"""step docker ok
step agent-image built
step config written
step password written
step host-key ok
step agent started {CONTAINER}
step old-images removed 1
"""
RERUN = f"""step docker ok
step agent-image present
step config unchanged
step password unchanged
step host-key ok
step agent running {CONTAINER}
step old-images none
"""


def settings(**overrides: Any) -> Settings:
    fields: dict[str, Any] = {"broker": Broker(host="10.0.0.1"), "image": IMAGE,
                              "base": "python:3.11-slim-bookworm"}
    return Settings(**(fields | overrides))


# -- the agent's config -----------------------------------------------------------------------

def test_the_agent_env_names_the_device_its_profile_broker_and_sshd() -> None:
    env = enroll.agent_env(device("pi-01", ssh=SshTarget(user="root", port=2222)),
                           Broker(host="10.0.0.1", port=8883), password=False)
    assert env == {"FLEET_AGENT_ID": "pi-01", "FLEET_AGENT_PROFILE": "pi4b-8g",
                   "FLEET_AGENT_BROKER": "10.0.0.1:8883", "FLEET_AGENT_SSH_PORT": "2222",
                   "FLEET_AGENT_SSH_HOST_KEY": "/etc/ssh/ssh_host_ed25519_key.pub"}


def test_credentials_are_a_user_name_and_a_password_file_never_the_password() -> None:
    broker = Broker(host="mqtt.lan", username="fleet", password_file=Path("/x"))
    env = enroll.agent_env(device("pi-01", ssh=ROOT), broker, password=True)
    assert env["FLEET_AGENT_USERNAME"] == "fleet"
    assert env["FLEET_AGENT_PASSWORD_FILE"] == enroll.PASSWORD_MOUNT
    assert "FLEET_AGENT_PASSWORD" not in env


def test_an_ipv6_broker_is_bracketed() -> None:
    env = enroll.agent_env(device("pi-01", ssh=ROOT), Broker(host="fd00::1"), password=False)
    assert env["FLEET_AGENT_BROKER"] == "[fd00::1]:1883"


@pytest.mark.parametrize(("broker", "field"), [
    (Broker(host="127.0.0.1"), "broker.host"),
    (Broker(host="localhost"), "broker.host"),
    (Broker(host="::1"), "broker.host"),
    (Broker(host="10.0.0.1", tls=True), "broker.tls"),
])
def test_a_broker_no_board_could_use_is_refused(broker: Broker, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        enroll.check_broker(broker)
    assert refused.value.field == field


def test_the_env_file_is_one_literal_line_per_setting() -> None:
    assert enroll.env_file({"A": "1", "B": "x y=z"}) == "A=1\nB=x y=z\n"
    with pytest.raises(ConfigError, match="FLEET_AGENT_USERNAME"):
        enroll.env_file({"FLEET_AGENT_USERNAME": "a\nFLEET_AGENT_ID=evil"})


def test_the_password_is_read_as_the_agent_reads_it(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\r\n")
    assert enroll.read_password(Broker(password_file=secret)) == "s3cret"
    assert enroll.read_password(Broker()) is None
    secret.write_text("two\nlines\n")
    with pytest.raises(ConfigError, match="one line"):
        enroll.read_password(Broker(password_file=secret))
    with pytest.raises(ConfigError, match="cannot read"):
        enroll.read_password(Broker(password_file=tmp_path / "missing"))


def test_the_password_goes_to_the_playbook_in_base64_on_stdin() -> None:
    then = enroll.playbook_then("p@ss 'word'")
    [call, argument] = shlex.split(then)
    assert call == "fleet_bootstrap"
    assert base64.b64decode(argument) == b"p@ss 'word'\n"
    assert enroll.playbook_then(None) == "fleet_bootstrap ''"


def test_the_playbook_and_python_agree_on_paths() -> None:
    script = playbooks.script("bootstrap")
    assert f"PASSWORD_MOUNT={enroll.PASSWORD_MOUNT}\n" in script
    assert f"HOST_KEY={enroll.HOST_KEY}\n" in script
    assert re.search(r"^fleet_bootstrap\(\) \{$", script, re.MULTILINE)
    assert "set -eu" in script


# -- the playbook's report --------------------------------------------------------------------

@pytest.mark.parametrize(("output", "code", "error", "changes"), [
    (FIRST_RUN, 0, None, ["agent-image built", "config written", "password written",
                          f"agent started {CONTAINER}", "old-images removed 1"]),
    (RERUN, 0, None, []),
    ("step docker ok\nstep agent-image present\nstep config written\nstep password none\n"
     "step host-key missing\nstep agent replaced abc\nstep old-images none\n", 0, None,
     ["config written", "agent replaced abc"]),
    ("step docker ok\nerror agent-image docker build on python:3.11: no space left on device\n",
     1, "agent-image: docker build on python:3.11: no space left on device", []),
    ("step docker installed\n", 2, "the playbook failed (exit 2): sh: 1: FLEET_IMAGE: "
     "parameter not set", ["docker installed"]),
])
def test_the_report_says_what_changed_or_why_it_failed(output: str, code: int,
                                                       error: str | None,
                                                       changes: list[str]) -> None:
    stderr = b"sh: 1: FLEET_IMAGE: parameter not set\n" if code == 2 else b""
    result = enroll.parse("pi-01", Result("sh -s", code, output.encode(), stderr))
    assert result.error == error
    assert result.ok is (error is None)
    assert [f"{s.name} {s.outcome}" + (f" {s.detail}" if s.detail else "")
            for s in result.changes] == changes


def test_the_container_id_comes_from_the_agent_step() -> None:
    result = enroll.parse("pi-01", Result("sh -s", 0, FIRST_RUN.encode()))
    assert result.container == CONTAINER
    assert enroll.parse("pi-01", Result("sh -s", 1, b"")).container == ""


def test_an_agent_that_falls_over_points_at_its_logs() -> None:
    result = enroll.parse("pi-01", Result("sh -s", 1, b"error agent it did not stay up: "
                                                     b"--profile: unknown profile\n"))
    assert result.error == "agent: it did not stay up: --profile: unknown profile"
    assert "docker logs fleet-agent" in result.hint


def test_summary_counts_changed_unchanged_and_failed() -> None:
    results = [EnrollResult("a", (Step("config", "written"),)),
               EnrollResult("b", (Step("config", "unchanged"),)),
               EnrollResult("c", error="x")]
    assert enroll.summary(results) == {"changed": 1, "unchanged": 1, "failed": 1}
    assert enroll.result_json(results[0])["steps"] == {"config": "written"}


# -- a fake board -----------------------------------------------------------------------------

class Board:
    """A board that answers enroll's three commands, counting how often it was asked."""

    def __init__(self, *, image: str = "present", report: str = RERUN, code: int = 0) -> None:
        self.image, self.report, self.code = image, report, code

    def __call__(self, command: str, stdin: bytes) -> tuple[int, str] | Result:
        if "sh -s" in command:
            return self.code, self.report
        if "agent-context" in command:
            return 0, ""
        if "docker image inspect" in command:
            return 0, f"{self.image}\n"
        raise AssertionError(f"unexpected command {command!r}")


class Contexts(agent_build.Contexts):
    """A build context that costs nothing to make, with a count of how often it was made."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[Arch] = []

    def get(self, arch: Arch) -> bytes:
        self.made.append(arch)
        return b"CONTEXT-" + str(arch).encode()


def run(devices: list[Device], boards: dict[str, FakeConnection], **kwargs: Any
        ) -> list[EnrollResult]:
    def connect(d: Device) -> FakeConnection:
        return boards[d.id]

    return enroll.enroll(devices, connect, kwargs.pop("settings", settings()),
                         contexts=kwargs.pop("contexts", Contexts()), **kwargs)


def test_an_enrolled_board_takes_a_check_and_the_playbook_and_no_context() -> None:
    conn = FakeConnection(Board(image="present"))
    [result] = run([device("pi-01", ssh=ROOT)], {"pi-01": conn})
    assert result.ok and not result.changes and not result.sent_context
    assert len(conn.calls) == 2
    command, stdin = conn.calls[1]
    assert command.startswith("env ") and command.endswith(" sh -s")
    assert "FLEET_CONTEXT='' " in command
    assert f"FLEET_IMAGE={IMAGE} " in command
    assert "FLEET_AGENT_ID=pi-01" in command
    assert stdin.decode().startswith(playbooks.script("bootstrap"))
    assert stdin.decode().endswith("\nfleet_bootstrap ''\n")


def test_a_board_without_the_image_is_sent_its_context_once_then_builds_it() -> None:
    conn = FakeConnection(Board(image="missing", report=FIRST_RUN))
    contexts = Contexts()
    [result] = run([device("pi-01", ssh=ROOT)], {"pi-01": conn}, contexts=contexts)
    assert result.ok and result.sent_context
    assert contexts.made == [Arch.ARM64]
    assert [c for c, _ in conn.calls][1].endswith(f"mv -f {enroll.CONTEXT_PATH}"
                                                  f".fleet-partial {enroll.CONTEXT_PATH}")
    assert conn.calls[1][1] == b"CONTEXT-arm64"
    assert f"FLEET_CONTEXT={enroll.CONTEXT_PATH} " in conn.calls[2][0]


def test_the_password_never_appears_on_a_command_line() -> None:
    conn = FakeConnection(Board(image="missing", report=FIRST_RUN))
    password = "hunter2-very-secret"
    broker = Broker(host="10.0.0.1", username="fleet", password_file=Path("/pw"))
    run([device("pi-01")], {"pi-01": conn},
        settings=settings(broker=broker, password=password))
    assert all(password not in command for command, _ in conn.calls)
    encoded = base64.b64encode(f"{password}\n".encode())
    assert encoded in conn.calls[-1][1]
    assert password not in repr(settings(password=password))


def test_a_user_other_than_root_goes_through_sudo_without_a_prompt() -> None:
    conn = FakeConnection(Board(image="missing", report=FIRST_RUN), device="pi-01", user="pi")
    run([device("pi-01")], {"pi-01": conn})
    assert all(c.startswith("sudo -n sh -c ") for c, _ in conn.calls)
    inner = shlex.split(conn.calls[-1][0])[-1]
    assert inner.startswith("env ") and inner.endswith(" sh -s")


def test_sudo_that_wants_a_password_says_what_to_do() -> None:
    def board(command: str, stdin: bytes) -> Result:
        return Result(command, 1, b"", b"sudo: a password is required\n")

    conn = FakeConnection(board, device="pi-01", user="pi")
    [result] = run([device("pi-01")], {"pi-01": conn})
    assert result.error == ("pi on pi-01 needs passwordless sudo: add `pi ALL=(ALL) NOPASSWD: "
                            "ALL` to /etc/sudoers.d/010_pi-nopasswd (or log in as root)")
    assert len(conn.calls) == 1  # nothing sent, nothing run after sudo said no


def test_one_failing_board_never_stops_the_others_and_results_keep_their_order() -> None:
    devices = [device(f"pi-0{n}", ssh=ROOT) for n in range(1, 6)]
    boards = {d.id: FakeConnection(Board(report=FIRST_RUN), device=d.id) for d in devices}
    unpinned = HostKeyNotPinnedError("pi-02", offered=FINGERPRINT, key_type="ssh-ed25519",
                                     path="/kh")
    failures: dict[str, Exception] = {
        "pi-02": unpinned,
        "pi-03": SshConnectError("10.0.0.11", 22, "timed out"),
        "pi-04": RuntimeError("a bug"),
    }
    closed: list[str] = []

    def connect(d: Device) -> FakeConnection:
        if d.id in failures:
            raise failures[d.id]
        conn = boards[d.id]
        conn.close = lambda: closed.append(d.id)  # type: ignore[method-assign]
        return conn

    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def progress(device_id: str, doing: str) -> None:
        with lock:
            seen.append((device_id, doing))

    results = enroll.enroll(devices, connect, settings(), contexts=Contexts(), parallel=3,
                            progress=Stages(progress))
    assert [r.device for r in results] == [d.id for d in devices]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert sorted(closed) == ["pi-01", "pi-05"]
    assert results[1].error == f"its SSH host key is not pinned (it offers {FINGERPRINT})"
    assert f"fleet trust pi-02 --accept {FINGERPRINT}" in results[1].hint
    assert "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" in results[1].hint
    assert "`fleet discover`" in results[2].hint
    assert results[3].error == "unexpected RuntimeError: a bug"
    assert {d for d, doing in seen if doing == "failed"} == {"pi-02", "pi-03", "pi-04"}


@pytest.mark.parametrize("error", [
    HostKeyChangedError("pi-01", pinned="SHA256:" + "A" * 43, offered=FINGERPRINT,
                        key_type="ssh-ed25519"),
    SshAuthError("pi-01", "pi", "Authentication failed."),
])
def test_an_untrusted_or_refusing_board_says_what_to_do(error: Exception) -> None:
    def connect(d: Device) -> FakeConnection:
        raise error

    [result] = enroll.enroll([device("pi-01", ssh=ROOT)], connect, settings(),
                               contexts=Contexts())
    assert result.error is not None and not result.error.startswith("pi-01:")
    if isinstance(error, HostKeyChangedError):
        assert "CHANGED" in result.error
        assert f"fleet trust pi-01 --accept {FINGERPRINT}" in result.hint
    else:
        assert "check the inventory's ssh.user and ssh.key" in result.error


def test_a_broker_no_board_could_use_fails_every_board_before_connecting() -> None:
    connected: list[str] = []

    def connect(d: Device) -> FakeConnection:
        connected.append(d.id)
        return FakeConnection(Board())

    results = enroll.enroll([device("pi-01", ssh=ROOT), device("pi-02", ssh=ROOT)], connect,
                            settings(broker=Broker(host="127.0.0.1")), contexts=Contexts())
    assert [r.ok for r in results] == [False, False]
    assert all("loopback" in (r.error or "") for r in results)
    assert connected == []


# -- the agent image --------------------------------------------------------------------------

def test_the_tag_covers_what_the_agent_imports_and_nothing_else() -> None:
    package = agent_image.PACKAGE
    names = {str(p.relative_to(package)) for p in agent_build.agent_modules(package)}
    assert {"__init__.py", "agent/__main__.py", "agent/main.py", "agent/link.py", "wire.py",
            "model.py", "profiles.py"} <= names
    assert not names & {"cli/__init__.py", "config/inventory.py", "deploy/enroll.py",
                        "ssh/trust.py"}
    assert not any(n.startswith(("lab/", "scheduler/", "bench/")) for n in names)


def test_the_tag_is_stable_and_follows_the_base_and_the_agents_code(tmp_path: Path) -> None:
    base = agent_build.default_base()
    assert base == "python:3.11-slim-bookworm"
    tag = agent_build.image_tag(base)
    assert re.fullmatch(r"fleet/agent:[0-9.]+-[0-9a-f]{12}", tag)
    assert agent_build.image_tag(base) == tag
    assert agent_build.image_tag("fleet/agent-base:bookworm") != tag
    # A copy of the agent's own modules, then one of them edited.
    package = tmp_path / "fleet"
    real = agent_image.PACKAGE
    for path in agent_build.agent_modules(real):
        target = package / path.relative_to(real)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    copy = agent_build.image_tag(base, package)
    (package / "daemon.py").write_text("# the controller changed\n")
    assert agent_build.image_tag(base, package) == copy
    with (package / "wire.py").open("a") as f:
        f.write("\n# the wire format changed\n")
    assert agent_build.image_tag(base, package) != copy


def test_the_context_is_a_gzipped_tar_docker_build_can_read() -> None:
    data = agent_build.Contexts().get(Arch.parse(platform.machine()))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"Dockerfile", "site/fleet/agent/__main__.py", "site/paho/mqtt/client.py"} <= names
    assert len(data) < 4 << 20


# -- the playbook's Docker step, run by sh with stand-ins for apt-get and docker ----------------

def docker_step(bin_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run bootstrap.sh's fleet_docker with only `bin_dir` and a few real tools on PATH."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for name in ("mktemp", "rm", "grep", "tail", "chmod"):
        if not (tools / name).exists():
            (tools / name).symlink_to(shutil.which(name) or f"/bin/{name}")
    script = playbooks.script("bootstrap") + "\nfleet_docker\n"
    env = {"PATH": f"{bin_dir}:{tools}", "TMPDIR": str(tmp_path), "FLEET_IMAGE": IMAGE,
           "FLEET_BASE": "base", "FLEET_CONFIG": "FLEET_AGENT_ID=pi-01"}
    return subprocess.run(["/bin/sh", "-s"], input=script, capture_output=True, text=True,
                          env=env, timeout=30, check=False)


def stand_in(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    return path


def test_no_docker_and_no_apt_get_is_a_clear_error(bin_dir: Path, tmp_path: Path) -> None:
    done = docker_step(bin_dir, tmp_path)
    assert done.returncode == 1
    assert done.stdout == ("error docker docker is not installed and this board has no apt-get: "
                           "install Docker Engine, then enroll it again\n")


def test_a_failed_install_says_why(bin_dir: Path, tmp_path: Path) -> None:
    calls = tmp_path / "apt-get.calls"
    stand_in(bin_dir / "apt-get", f'echo "$*" >>{calls}\n'
             'case $1 in install) echo "E: Unable to locate package docker.io" >&2; exit 100;; '
             'esac')
    done = docker_step(bin_dir, tmp_path)
    assert done.returncode == 1
    assert done.stdout == ("error docker apt-get install docker.io failed: "
                           "E: Unable to locate package docker.io\n")
    assert calls.read_text() == "update -q\ninstall -y -q docker.io\n"


def test_docker_is_installed_once_then_found(bin_dir: Path, tmp_path: Path) -> None:
    calls = tmp_path / "apt-get.calls"
    docker = bin_dir / "docker"
    # Installing docker.io puts a docker on the PATH whose engine answers.
    stand_in(bin_dir / "apt-get", f'echo "$*" >>{calls}\n'
             f'[ "$1" = install ] && printf "#!/bin/sh\\necho 20.10.24\\n" >{docker} '
             f'&& chmod 755 {docker}\nexit 0')
    first = docker_step(bin_dir, tmp_path)
    assert (first.returncode, first.stdout) == (0, "step docker installed\n")
    again = docker_step(bin_dir, tmp_path)
    assert (again.returncode, again.stdout) == (0, "step docker ok\n")
    assert calls.read_text().count("install") == 1


def test_an_engine_that_does_not_answer_is_an_error(bin_dir: Path, tmp_path: Path) -> None:
    stand_in(bin_dir / "docker", "echo 'Cannot connect to the Docker daemon at "
             "unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1")
    done = docker_step(bin_dir, tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("error docker the Docker engine does not answer: Cannot "
                                  "connect to the Docker daemon")
