"""The CLI's contract with scripts: JSON shapes, exit codes, errors on stderr."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fleet import profiles
from fleet.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main

EXAMPLE = Path(__file__).parents[2] / "inventory.example.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profiles_json_lists_every_preset_with_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profiles", "--json")
    rows = json.loads(out)["profiles"]
    assert code == EXIT_OK
    assert [r["name"] for r in rows] == list(profiles.PROFILES)
    pi = next(r for r in rows if r["name"] == "pi4b-8g")
    assert pi["budget"]["mem_mb"] == profiles.get("pi4b-8g").budget.mem_mb
    assert pi["gpu"] is None


@pytest.mark.parametrize("argv", [
    ["--inventory", str(EXAMPLE), "inventory", "--json"],
    ["inventory", "--json", "--inventory", str(EXAMPLE)],
])
def test_inventory_option_before_or_after_the_command(
        capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = run(capsys, *argv)
    document = json.loads(out)
    assert code == EXIT_OK
    assert document["path"] == str(EXAMPLE)
    assert {"id", "host", "profile", "arch", "budget", "ssh"} <= set(document["devices"][0])


def test_inventory_from_the_environment(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_INVENTORY", str(EXAMPLE))
    code, out, _ = run(capsys, "inventory", "--json")
    assert (code, json.loads(out)["path"]) == (EXIT_OK, str(EXAMPLE))


def test_bad_inventory_is_exit_2_naming_file_line_and_field(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("devices:\n  pi-01:\n    host: pi.local\n    profile: pi4b-9g\n")
    code, out, err = run(capsys, "inventory", "--inventory", str(bad))
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.startswith(f"fleet: {bad}:4: devices.pi-01.profile: unknown profile 'pi4b-9g'")


def test_lab_status_without_a_lab_is_exit_1(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("FLEET_LAB_DIR", str(tmp_path))
    code, _, err = run(capsys, "lab", "status", "--json", "--lab", "none")
    assert code == EXIT_FAILED
    assert "no lab 'none' is up" in err and "fleet lab up" in err


def test_lab_up_with_an_unknown_profile_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "lab", "up", "--profiles", "pi4b-8g,pi9")
    assert code == EXIT_BAD_INPUT
    assert "--profiles: unknown profile 'pi9'" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["lab", "up", "--devices", "many"])
    assert caught.value.code == EXIT_BAD_INPUT


EXAMPLES = Path(__file__).parents[2] / "examples"


def test_plan_json_shape_and_exit_0_when_all_placed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(EXAMPLES / "mixed-gpu.compose.yaml"),
                       "--inventory", str(EXAMPLE), "--json")
    document = json.loads(out)
    assert code == EXIT_OK
    assert document["unplaced"] == []
    assert {"service", "replica", "device", "ports"} <= set(document["placements"][0])
    assert {"id", "mem_pct", "disk_pct", "cpu_pct"} <= set(document["devices"][0])
    assert document["moves"] == 0


def test_plan_that_cannot_fit_exits_1_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(EXAMPLES / "too-big.compose.yaml"),
                       "--inventory", str(EXAMPLE), "--json", "--need", "pi4b-8g")
    document = json.loads(out)
    assert code == EXIT_FAILED
    assert document["unplaced"] and all(u["reasons"] for u in document["unplaced"])
    assert document["need"] == {"profile": "pi4b-8g", "count": None}


def test_plan_what_if_adds_imaginary_devices(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(EXAMPLES / "mixed-gpu.compose.yaml"),
                       "--inventory", str(EXAMPLE), "--json", "--what-if", "pi4b-8g:2,pi5-8g")
    ids = [d["id"] for d in json.loads(out)["devices"]]
    assert code == EXIT_OK
    assert ids[-3:] == ["what-if-pi4b-8g-1", "what-if-pi4b-8g-2", "what-if-pi5-8g-1"]


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--what-if", "pi4b-8g:0"], "--what-if 'pi4b-8g:0': the count after ':' must be positive"),
    (["--what-if", "pi9:2"], "--what-if: unknown profile 'pi9'"),
    (["--need", "pi9"], "--need: unknown profile 'pi9'"),
])
def test_plan_bad_options_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                 fragment: str) -> None:
    code, _, err = run(capsys, "plan", str(EXAMPLES / "mixed-gpu.compose.yaml"),
                       "--inventory", str(EXAMPLE), *argv)
    assert code == EXIT_BAD_INPUT
    assert fragment in err


def test_plan_bad_stack_names_file_and_field(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text("services:\n  web:\n    image: nginx\n    deploy:\n"
                     "      resources: {limits: {memory: lots}}\n")
    code, _, err = run(capsys, "plan", str(stack), "--inventory", str(EXAMPLE))
    assert code == EXIT_BAD_INPUT
    assert f"{stack}:5:" in err and "web" in err and "memory" in err


@pytest.mark.parametrize("argv, message", [
    (["cleanup"], "name the devices or groups to clean, or pass --all"),
    (["cleanup", "--all", "--category", "volumes"], "pass --volumes to mean it"),
    (["cleanup", "--all", "--volumes", "--apply"], "confirm on a terminal, or pass --yes"),
    (["cleanup", "--all", "--parallel", "0"], "--parallel 0"),
    (["cleanup", "no-such-board"], "no-such-board"),
    (["cleanup", "--all", "--stack", "no-such-stack.yaml"], "no-such-stack.yaml"),
])
def test_cleanup_refuses_before_contacting_any_board(
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    # stdin is not a terminal under pytest: --volumes --apply must not go on without --yes.
    code, out, err = run(capsys, "--inventory", str(EXAMPLE), *argv)
    assert code == EXIT_BAD_INPUT and out == ""
    assert message in err


@pytest.mark.parametrize("argv, message", [
    (["trust", "shed-pi-1", "kitchen-pi", "--accept", "SHA256:" + "A" * 43],
     "--accept takes one device"),
    (["trust", "no-such-board"], "no-such-board"),
    (["enroll"], "name the devices or groups to enroll, or pass --all-new"),
    (["enroll", "--all-new", "--parallel", "0"], "--parallel 0: expected at least 1"),
    (["enroll", "--all-new", "--profile", "pi9"], "--profile: unknown profile 'pi9'"),
    (["enroll", "shed-pi-1"], "TLS broker"),  # the example's broker: the agent cannot use it
    (["daemon", "--cleanup-high", "70"], "--cleanup-high/--cleanup-low:"),
    (["deploy", str(EXAMPLES / "mixed-gpu.compose.yaml"), "--parallel", "0"], "--parallel 0"),
])
def test_trust_enroll_daemon_and_deploy_refuse_before_contacting_any_board(
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "--inventory", str(EXAMPLE), *argv)
    assert code == EXIT_BAD_INPUT and out == ""
    assert message in err


def test_each_command_is_handled_by_its_groups_module() -> None:
    from fleet.cli import build_parser

    def handlers(parser: argparse.ArgumentParser, dest: str) -> dict[str, str]:
        [commands] = [a for a in parser._actions if a.dest == dest]
        assert isinstance(commands.choices, dict)
        return {name: getattr(sub.get_default("handler"), "__module__", "-")
                for name, sub in commands.choices.items()}

    parser = build_parser()
    assert handlers(parser, "command") == {
        "profiles": "fleet.cli.inventory", "inventory": "fleet.cli.inventory",
        "plan": "fleet.cli.plan", "status": "fleet.cli.status",
        "discover": "fleet.cli.discover", "trust": "fleet.cli.trust",
        "daemon": "fleet.cli.daemon", "deploy": "fleet.cli.deploy",
        "cleanup": "fleet.cli.cleanup", "enroll": "fleet.cli.enroll", "tui": "fleet.cli.tui",
        "agent": "fleet.cli.bench", "bench": "fleet.cli.bench", "lab": "-"}
    [lab] = [a for a in parser._actions if a.dest == "command"]
    assert isinstance(lab.choices, dict)
    assert set(handlers(lab.choices["lab"], "lab_command").values()) == {"fleet.cli.lab"}


def test_trust_skips_a_local_board_saying_why_in_both_outputs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("[gateway]\nlocalhost ansible_connection=local fleet_profile=pi5-8g\n")
    known = str(tmp_path / "known_hosts")
    code, out, err = run(capsys, "--inventory", str(hosts), "trust", "--known-hosts", known,
                         "--json")
    assert (code, err) == (EXIT_OK, "")
    [row] = json.loads(out)["devices"]
    assert (row["device"], row["result"], row["port"]) == ("localhost", "skipped", None)
    assert "ansible_connection: local" in row["reason"] and "no host key" in row["reason"]
    code, out, err = run(capsys, "--inventory", str(hosts), "trust", "--known-hosts", known)
    assert (code, err) == (EXIT_OK, "")
    assert "skipped" in out and "localhost: skipped: a local board" in " ".join(out.split())
    assert not (tmp_path / "known_hosts").exists()
