"""`fleet enroll`: bootstrap boards over SSH with playbooks/bootstrap.sh, a result per board.

A board takes three commands on one SSH connection at most: a cheap check of
whether the agent image (tagged with a hash of the agent's own code) is there;
the image's gzipped build context, only if it is not; the playbook, which
installs Docker if it is missing, builds the image, writes the agent's config
and password and (re)starts the agent container only if any of that changed.
The playbook's `step NAME OUTCOME` lines become the board's EnrollResult.

The pure part (the agent's config for a device, the playbook's arguments,
reading its output) is separate from the IO (`enroll`), so tests feed data
through FakeConnection. Boards are enrolled a few at a time; one board's
failure is its own result and never stops the others.
"""

from __future__ import annotations

import base64
import re
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.deploy.agent_build import Contexts
from fleet.errors import (
    ConfigError,
    FleetError,
    HostKeyChangedError,
    HostKeyError,
    HostKeyNotPinnedError,
    SshConnectError,
)
from fleet.fanout import QUIET, Progress, fan_out, unexpected
from fleet.lan.sightings import is_loopback
from fleet.model import Broker, Device
from fleet.ssh import playbooks, sudo
from fleet.ssh.connection import Connection, Result, put_command

CONTEXT_PATH = "/var/lib/fleet/agent-context.tar.gz"
# Where the playbook mounts the password file and the host key in the agent's container.
PASSWORD_MOUNT = "/run/secrets/fleet-mqtt-password"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
PLAYBOOK_TIMEOUT_S = 1800.0  # installing Docker and pulling the base image on a slow link
# Outcomes that mean a step found everything as wanted and changed nothing.
UNCHANGED = frozenset({"ok", "present", "unchanged", "none", "running", "missing"})
_STEP = re.compile(r"step ([a-z-]+) ([a-z]+)(?: (.*))?")
_ERROR = re.compile(r"error ([a-z-]+) (.*)")

Connect = Callable[[Device], Connection]


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the playbook's report: `step agent started 4f1c...`."""

    name: str
    outcome: str
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome not in UNCHANGED


@dataclass(frozen=True, slots=True)
class EnrollResult:
    """What enrolling one board did, or why it failed and what to do about it
    (a fleet.fanout.Outcome)."""

    device: str
    steps: tuple[Step, ...] = ()
    error: str | None = None
    hint: str = ""
    seconds: float = 0.0
    sent_context: bool = False  # the image was missing, so its build context was sent

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.changed)

    @property
    def container(self) -> str:
        """The agent container's id, once the playbook got that far."""
        return next((s.detail for s in self.steps if s.name == "agent"), "")


@dataclass(frozen=True, slots=True)
class Settings:
    """What every board gets: the broker, its password (from the controller's file), the image."""

    broker: Broker
    image: str
    base: str
    password: str | None = field(default=None, repr=False)


# -- pure: a device's config, the playbook's arguments, its output ---------------------------

def check_broker(broker: Broker) -> None:
    """Refuse a broker the boards' agents could not use, before any board is touched."""
    if broker.tls:
        raise ConfigError("the agent cannot connect to a TLS broker yet; enroll needs a "
                          "broker without tls", field="broker.tls")
    if is_loopback(broker.host):
        raise ConfigError(f"{broker.host} is the controller's loopback, which a board cannot "
                          "reach: set broker.host to an address the boards can reach",
                          field="broker.host")


def agent_env(device: Device, broker: Broker, *, password: bool) -> dict[str, str]:
    """The agent's FLEET_AGENT_* settings on `device` (fleet/agent/config.py reads them)."""
    check_broker(broker)
    host = f"[{broker.host}]" if ":" in broker.host else broker.host
    env = {"FLEET_AGENT_ID": device.id, "FLEET_AGENT_PROFILE": device.profile.name,
           "FLEET_AGENT_BROKER": f"{host}:{broker.port}",
           "FLEET_AGENT_SSH_PORT": str(device.ssh.port), "FLEET_AGENT_SSH_HOST_KEY": HOST_KEY}
    if broker.username:
        env["FLEET_AGENT_USERNAME"] = broker.username
    if password:
        env["FLEET_AGENT_PASSWORD_FILE"] = PASSWORD_MOUNT
    return env


def env_file(values: Mapping[str, str]) -> str:
    """`docker run --env-file` text: one KEY=VALUE a line, taken literally, so no line breaks."""
    for key, value in values.items():
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{key}: {value!r} has a line break, which an env file cannot hold")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def playbook_env(settings: Settings, config: str, *, context: bool) -> dict[str, str]:
    """The playbook's arguments (no secret: they show in the board's sudo log)."""
    return {"FLEET_IMAGE": settings.image, "FLEET_BASE": settings.base,
            "FLEET_CONTEXT": CONTEXT_PATH if context else "",
            "FLEET_CONFIG": config.removesuffix("\n")}


def playbook_then(password: str | None) -> str:
    """The call appended to the playbook: the password rides on stdin, in base64 (any byte)."""
    secret = base64.b64encode(f"{password}\n".encode()).decode() if password else ""
    return f"fleet_bootstrap {shlex.quote(secret)}"


def read_password(broker: Broker) -> str | None:
    """The broker's password from its file on this machine, as the agent reads it there."""
    if broker.password_file is None:
        return None
    try:
        text = broker.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the broker's password: {e}",
                          path=str(broker.password_file)) from None
    if not text or "\n" in text or "\r" in text:
        raise ConfigError("expected the password on one line", path=str(broker.password_file))
    return text


def parse(device: str, result: Result, *, seconds: float = 0.0,
          sent_context: bool = False) -> EnrollResult:
    """The playbook's output -> the board's result; a failure says which step and why."""
    steps: list[Step] = []
    error: str | None = None
    for line in result.text.splitlines():
        if found := _STEP.fullmatch(line.strip()):
            steps.append(Step(found[1], found[2], found[3] or ""))
        elif failed := _ERROR.fullmatch(line.strip()):
            error = f"{failed[1]}: {failed[2]}"
    if error is None and not result.ok:
        error = f"the playbook failed (exit {result.exit_code}): {result.why()}"
    hint = ""
    if error is not None and error.startswith("agent:"):
        hint = "on the board, `docker logs fleet-agent` shows why"
    return EnrollResult(device, tuple(steps), error, hint, seconds, sent_context)


def failure(device: Device, error: FleetError, *, seconds: float = 0.0) -> EnrollResult:
    """A board that could not be reached or trusted: what happened and what to do."""
    message, hint = str(error).removeprefix(f"{device.id}: "), ""
    if isinstance(error, HostKeyNotPinnedError):
        message = f"its SSH host key is not pinned (it offers {error.offered})"
        hint = (f"check the key on the board's console with `{error.console_check}`; "
                f"if it shows the same, pin it: fleet trust {device.id} --accept {error.offered}")
    elif isinstance(error, HostKeyChangedError):
        message = error.summary.removeprefix(f"{device.id}: ")
        hint = (f"if the board was reinstalled, check its key with "
                f"`{error.console_check}` on its console, then: {error.accept_command}")
    elif isinstance(error, HostKeyError):
        message, hint = error.summary.removeprefix(f"{device.id}: "), error.accept_command
    elif isinstance(error, SshConnectError):
        hint = (f"is {device.id} on, at {device.host}, with sshd on port {device.ssh.port}? "
                "`fleet discover` shows where boards are")
    return EnrollResult(device.id, error=message, hint=hint, seconds=seconds)


def image_check(image: str) -> str:
    return (f"if docker image inspect {shlex.quote(image)} >/dev/null 2>&1; "
            "then echo present; else echo missing; fi")


# -- IO: enroll boards ---------------------------------------------------------------------------

def enroll(devices: Sequence[Device], connect: Connect, settings: Settings, *,
           contexts: Contexts | None = None, parallel: int = 4,
           progress: Progress = QUIET,
           clock: Callable[[], float] = time.monotonic) -> list[EnrollResult]:
    """Bootstrap every device, `parallel` at a time; a result for each, in the order given."""
    contexts = contexts or Contexts()

    def one(device: Device) -> EnrollResult:
        result = enroll_one(device, connect, settings, contexts, progress, clock)
        progress.stage(device.id, "done" if result.ok else "failed")
        return result

    def failed(device: Device, error: Exception) -> EnrollResult:
        progress.stage(device.id, "failed")
        return EnrollResult(device.id, error=unexpected(error))

    return fan_out(devices, one, parallel=parallel, failed=failed, name="enroll")


def enroll_one(device: Device, connect: Connect, settings: Settings, contexts: Contexts,
               progress: Progress, clock: Callable[[], float]) -> EnrollResult:
    started = clock()
    conn: Connection | None = None
    try:
        config = env_file(agent_env(device, settings.broker, password=bool(settings.password)))
        progress.stage(device.id, "connecting")
        conn = connect(device)
        return _bootstrap(device, conn, settings, config, contexts, progress, started, clock)
    except FleetError as e:
        return failure(device, e, seconds=clock() - started)
    except Exception as e:  # one board's surprise must not cost the others their results
        return EnrollResult(device.id, error=unexpected(e), seconds=clock() - started)
    finally:
        if conn is not None:
            conn.close()


def _bootstrap(device: Device, conn: Connection, settings: Settings, config: str,
               contexts: Contexts, progress: Progress, started: float,
               clock: Callable[[], float]) -> EnrollResult:
    progress.stage(device.id, "checking for the agent image")
    check = sudo.run(conn, image_check(settings.image), timeout=60)
    if not check.ok or check.text.strip() not in ("present", "missing"):
        return EnrollResult(device.id, error=f"checking for the agent image: {check.why()}",
                            seconds=clock() - started)
    send = check.text.strip() == "missing"
    if send:
        progress.stage(device.id, "making the agent image's build context")
        data = contexts.get(device.arch)
        progress.stage(device.id, "sending the agent image's build context "
                       f"({len(data) >> 10} KiB)")
        put = f"mkdir -p {shlex.quote(str(Path(CONTEXT_PATH).parent))} && " \
              + put_command(CONTEXT_PATH, 0o600)
        sent = sudo.run(conn, put, stdin=data, timeout=PLAYBOOK_TIMEOUT_S)
        if not sent.ok:
            return EnrollResult(device.id, error=f"sending the build context: {sent.why()}",
                                seconds=clock() - started)
    progress.stage(device.id, "building the agent image, then bootstrapping" if send
                   else "bootstrapping")
    env = playbook_env(settings, config, context=send)
    script = playbooks.script("bootstrap") + "\n" + playbook_then(settings.password) + "\n"
    done = sudo.run(conn, playbooks.command(env), stdin=script.encode(),
                    timeout=PLAYBOOK_TIMEOUT_S)
    return parse(device.id, done, seconds=clock() - started, sent_context=send)


def result_json(r: EnrollResult) -> dict[str, Any]:
    return {"device": r.device, "ok": r.ok, "changed": bool(r.changes),
            "steps": {s.name: s.outcome for s in r.steps}, "agent_container": r.container or None,
            "sent_context": r.sent_context, "seconds": round(r.seconds, 2),
            "error": r.error, "hint": r.hint or None}


def summary(results: Iterable[EnrollResult]) -> dict[str, int]:
    """How many boards changed, were already enrolled, and failed."""
    counts = {"changed": 0, "unchanged": 0, "failed": 0}
    for r in results:
        counts["failed" if not r.ok else "changed" if r.changes else "unchanged"] += 1
    return counts
