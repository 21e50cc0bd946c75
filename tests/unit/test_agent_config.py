"""The agent's options: from argv or FLEET_AGENT_*, checked at the door, exit 2 when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.agent.config import parse_args
from fleet.agent.main import main


def test_defaults() -> None:
    config = parse_args(["--id", "pi-01", "--profile", "pi4b-8g"], env={})
    assert (config.device_id, config.host, config.port) == ("pi-01", "127.0.0.1", 1883)
    assert (config.interval_s, config.queue, config.disk_path) == (5.0, 16, "/")
    assert config.profile.budget.mem_mb == 7840
    assert config.memory_cgroup is None and config.password is None


def test_the_environment_fills_in_and_argv_wins(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    env = {"FLEET_AGENT_ID": "jetson-7", "FLEET_AGENT_PROFILE": "jetson-orin-nano-8g",
           "FLEET_AGENT_BROKER": "mqtt.lan:8883", "FLEET_AGENT_INTERVAL": "2.5",
           "FLEET_AGENT_PASSWORD_FILE": str(secret), "FLEET_AGENT_USERNAME": "agent",
           "FLEET_AGENT_MEMORY_CGROUP": "/sys/fs/cgroup/memory/dev"}
    config = parse_args(["--interval", "1"], env=env)
    assert (config.device_id, config.profile.name) == ("jetson-7", "jetson-orin-nano-8g")
    assert (config.host, config.port, config.interval_s) == ("mqtt.lan", 8883, 1.0)
    assert (config.username, config.password) == ("agent", "s3cret")
    assert config.memory_cgroup == Path("/sys/fs/cgroup/memory/dev")
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(("broker", "host", "port"), [
    ("10.0.0.2", "10.0.0.2", 1883), ("[::1]:1884", "::1", 1884), ("[fe80::1]", "fe80::1", 1883),
])
def test_broker_forms(broker: str, host: str, port: int) -> None:
    config = parse_args(["--id", "a", "--profile", "pi5-8g", "--broker", broker], env={})
    assert (config.host, config.port) == (host, port)


@pytest.mark.parametrize(("argv", "message"), [
    (["--profile", "pi4b-8g"], "--id"),
    (["--id", "Pi_01", "--profile", "pi4b-8g"], "invalid device id"),
    (["--id", "a", "--profile", "pi9"], "unknown profile 'pi9'"),
    (["--id", "a", "--profile", "pi4b-8g", "--broker", "host:99999"], "HOST:PORT"),
    (["--id", "a", "--profile", "pi4b-8g", "--interval", "0"], "must be positive"),
    (["--id", "a", "--profile", "pi4b-8g", "--queue", "many"], "not a number"),
    (["--id", "a", "--profile", "pi4b-8g", "--password-file", "/no/such/file"], "cannot read"),
])
def test_bad_arguments_exit_2(argv: list[str], message: str,
                              capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEET_AGENT_ID", "FLEET_AGENT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "FLEET_AGENT_DOCKER_SOCKET" in capsys.readouterr().out
