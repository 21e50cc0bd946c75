"""The deploy bench's pure parts: each tool's files, the device-state parser and checks, ratios."""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.bench import deploy_jobs as job
from fleet.config import stack
from fleet.model import Resources, Strategy

IPS = ["10.239.0.11", "10.239.0.12"]
HOSTS = [(IPS[0], "pi"), (IPS[1], "nvidia")]
KEY, KNOWN = Path("/lab/id_ed25519"), Path("/lab/known_hosts")
DATA, CONF = "a" * 64, "c" * 64


def test_the_stack_is_one_spread_service_with_its_two_configs(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"x")
    (tmp_path / "benchjob.conf").write_text(job.CONF_TEXT)
    (tmp_path / job.STACK_FILE).write_text(job.stack_yaml())
    loaded = stack.load_stack(tmp_path / job.STACK_FILE)
    assert loaded.name == "benchjob"
    assert dict(loaded.configs) == {"data": tmp_path / "data.bin",
                                    "conf": tmp_path / "benchjob.conf"}
    (service,) = loaded.services
    assert (service.name, service.image, service.replicas) == ("benchjob", job.IMAGE, 8)
    assert service.request == Resources(mem_mb=32)
    assert (service.strategy, service.max_per_device) == (Strategy.SPREAD, 1)
    configs = service.extra["configs"]
    assert isinstance(configs, tuple)
    assert [dict(c) for c in configs] == [
        {"source": "data", "target": job.DATA_PATH}, {"source": "conf", "target": job.CONF_PATH}]


def test_pyinfra_inventory_logs_in_as_each_boards_user_with_sudo_against_the_lab_keys() -> None:
    tree = ast.parse(job.pyinfra_inventory(HOSTS, KEY, KNOWN))
    (assign,) = tree.body
    assert isinstance(assign, ast.Assign)
    devices = ast.literal_eval(assign.value)
    assert [ip for ip, _ in devices] == IPS
    assert devices[0][1] == {"ssh_user": "pi", "ssh_key": str(KEY),
                             "ssh_known_hosts_file": str(KNOWN),
                             "ssh_strict_host_key_checking": "yes", "_sudo": True}
    assert devices[1][1]["ssh_user"] == "nvidia"


def test_pyinfra_deploy_uses_pyinfras_own_operations_with_a_memory_limit() -> None:
    text = job.pyinfra_deploy(Path("/w/data.bin"), Path("/w/benchjob.conf"))
    compile(text, "deploy.py", "exec")
    calls = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)]
    names = [ast.unparse(c.func) for c in calls]
    assert names == ["files.directory", "files.put", "files.put", "server.shell",
                     "docker.container"]
    container = {k.arg: ast.literal_eval(k.value) for k in calls[-1].keywords}
    assert container["container"] == "benchjob" and container["memory"] == "32m"
    puts = [{k.arg: ast.literal_eval(k.value) for k in c.keywords} for c in calls[1:3]]
    assert [(p["src"], p["dest"]) for p in puts] == [("/w/data.bin", job.DATA_PATH),
                                                     ("/w/benchjob.conf", job.CONF_PATH)]


def _playbook() -> list[dict[str, Any]]:
    play: list[dict[str, Any]] = YAML(typ="safe").load(
        job.ansible_playbook(Path("/w/data.bin"), Path("/w/benchjob.conf")))
    return play


def test_the_playbook_uses_only_builtin_modules_and_gathers_facts_by_default() -> None:
    (play,) = _playbook()
    assert play["hosts"] == "devices" and "gather_facts" not in play
    assert play["become"] is True and "become_method" not in play  # sudo, ansible's default
    modules = [next(k for k in task if k.startswith("ansible.")) for task in play["tasks"]]
    assert all(m.startswith("ansible.builtin.") for m in modules)
    assert modules.count("ansible.builtin.copy") == 2


def test_the_playbook_starts_the_container_only_when_it_is_not_running() -> None:
    *_, check, start = _playbook()[0]["tasks"]
    assert check["register"] == "running" and check["changed_when"] is False
    assert start["when"] == 'running.stdout == ""'
    command = start["ansible.builtin.shell"]
    assert "docker run -d --name benchjob -m 32m fleet/workload:latest" in command


def test_the_ansible_inventory_and_config_keep_to_the_lab() -> None:
    text = job.ansible_inventory(HOSTS, KEY, KNOWN)
    lines = text.splitlines()
    assert lines[:3] == ["[devices]", f"{IPS[0]} ansible_user=pi", f"{IPS[1]} ansible_user=nvidia"]
    assert not any("root" in line for line in lines)
    assert f"ansible_ssh_private_key_file={KEY}" in lines
    assert (f"ansible_ssh_common_args='-o UserKnownHostsFile={KNOWN} "
            "-o StrictHostKeyChecking=yes'") in lines
    cfg = configparser.ConfigParser()
    cfg.read_string(job.ansible_cfg(Path("/w")))
    assert cfg["defaults"]["local_tmp"] == "/w/ansible-local"
    assert "gathering" not in cfg["defaults"] and "pipelining" not in cfg["ssh_connection"]
    assert "ssh_args" not in cfg["ssh_connection"]


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
@pytest.mark.parametrize("script", [job.RESET_SCRIPT, job.WARM_SCRIPT, job.STATE_SCRIPT])
def test_the_device_scripts_are_valid_sh(script: str) -> None:
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def state(*lines: str) -> str:
    return "\n".join([*lines, "end"]) + "\n"


ON_DISK = state(f"file {job.DATA_PATH} {DATA}", f"file {job.CONF_PATH} {CONF}",
                f"dir {job.JOB_DIR} 755",
                "container /benchjob 1234abcd true 2026-11-22T10:00:00.1Z 33554432")
MOUNTED = state("container /benchjob-benchjob-3 5678ef true 2026-11-22T10:00:00.1Z 33554432",
                f"mount {job.DATA_PATH} {DATA}", f"mount {job.CONF_PATH} {CONF}")


def test_parse_state_reads_files_dirs_containers_and_their_mounts() -> None:
    parsed = job.parse_state(MOUNTED)
    assert parsed.files == {} and parsed.dirs == {}
    (container,) = parsed.containers
    assert (container.name, container.running, container.memory) == (
        "benchjob-benchjob-3", True, job.MEMORY_BYTES)
    assert container.mounts == {job.DATA_PATH: DATA, job.CONF_PATH: CONF}
    assert job.parse_state(state()) == job.DeviceState({}, {}, ())


@pytest.mark.parametrize("text", ["", "file /x\n", state("bogus line"), "file /x abc\n"])
def test_parse_state_refuses_what_the_script_would_not_print(text: str) -> None:
    with pytest.raises(ValueError):
        job.parse_state(text)


@pytest.mark.parametrize("text", [ON_DISK, MOUNTED])
def test_the_job_is_done_with_files_on_the_device_or_mounted_into_the_container(
        text: str) -> None:
    assert job.first_run_problems(job.parse_state(text), DATA, CONF) == []


@pytest.mark.parametrize(("text", "problem"), [
    (state(), "expected one benchjob container, found []"),
    (ON_DISK.replace("33554432", "0"), "memory limit 0"),
    (ON_DISK.replace(" true ", " false "), "is not running"),
    (ON_DISK.replace(f"{DATA}\n", "bad\n"), f"{job.DATA_PATH}: sha256 bad"),
    (ON_DISK.replace(f"file {job.CONF_PATH} {CONF}\n", ""), f"{job.CONF_PATH}: sha256 missing"),
    (ON_DISK.replace(" 755", " 700"), "mode 700"),
    (ON_DISK.replace("end", "container /benchjob-2 9 true t 33554432\nend"),
     "found ['benchjob', 'benchjob-2']"),
])
def test_what_is_missing_after_a_first_run_is_named(text: str, problem: str) -> None:
    problems = job.first_run_problems(job.parse_state(text), DATA, CONF)
    assert any(problem in p for p in problems), problems


def test_a_second_run_must_leave_the_container_alone() -> None:
    before = job.parse_state(ON_DISK)
    assert job.second_run_problems(before, before, DATA, CONF) == []
    restarted = job.parse_state(ON_DISK.replace("10:00:00.1Z", "10:05:00.2Z"))
    replaced = job.parse_state(ON_DISK.replace("1234abcd", "99990000"))
    for after in (restarted, replaced):
        (problem,) = job.second_run_problems(before, after, DATA, CONF)
        assert "replaced or restarted" in problem


@pytest.mark.parametrize(("fleet", "other", "expected"), [
    (2.0, 8.0, 0.25), (1.0, 3.0, 0.333), (None, 8.0, None), (2.0, None, None), (2.0, 0.0, None),
])
def test_ratio_is_fleet_over_the_other_tool(fleet: float | None, other: float | None,
                                            expected: float | None) -> None:
    assert job.ratio(fleet, other) == expected


def test_figures_hold_every_time_the_ratios_of_first_runs_and_whether_targets_are_met() -> None:
    out = job.figures({"fleet": (3.0, 1.0), "pyinfra": (10.0, 5.0), "ansible": (12.0, 9.0)})
    assert out["fleet_s"] == 3.0 and out["fleet_second_s"] == 1.0
    assert out["pyinfra_second_s"] == 5.0 and out["ansible_second_s"] == 9.0
    assert out["ratio_vs_pyinfra"] == 0.3 and out["ratio_vs_ansible"] == 0.25
    assert out["targets"] == {"ratio_vs_pyinfra": "<= 0.5", "ratio_vs_ansible": "<= 0.2"}
    assert out["met"] == {"ratio_vs_pyinfra": True, "ratio_vs_ansible": False}
    assert "note" not in out


def test_without_fleet_its_figures_are_null_with_a_note_and_no_target_is_met() -> None:
    out = job.figures({"pyinfra": (10.0, 5.0), "ansible": (12.0, 9.0)}, "not yet")
    assert out["fleet_s"] is None and out["ratio_vs_pyinfra"] is None
    assert out["note"] == "not yet"
    assert out["met"] == {"ratio_vs_pyinfra": False, "ratio_vs_ansible": False}
