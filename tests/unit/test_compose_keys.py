"""Compose keys fleet does not support are refused at load by name, or warned about if allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config.compose import Options
from fleet.config.compose_keys import DEPLOY_KEYS, SERVICE_KEYS
from fleet.config.stack import loads_stack
from fleet.deploy import envfiles
from fleet.errors import ConfigError

WEB = "services:\n  web:\n    image: fleet/web:1\n"


@pytest.mark.parametrize(("extra", "line", "field"), [
    ("    build: {dockerfile_inline: FROM scratch, ssh: [default]}\n", 4,
     "services.web.build.ssh"),
    ("    build:\n      dockerfile_inline: FROM scratch\n      cache_from: [x]\n", 6,
     "services.web.build.cache_from"),
    ("    pull_policy: always\n", 4, "services.web.pull_policy"),
    ("    deploy:\n      update_config: {parallelism: 1}\n", 5,
     "services.web.deploy.update_config"),
    ("    deploy:\n      placement:\n        preferences: [{spread: node.labels.zone}]\n", 6,
     "services.web.deploy.placement.preferences"),
    ("    healthcheck: {test: [CMD, 'true'], start_interval: 1s}\n", 4,
     "services.web.healthcheck.start_interval"),
    ("    configs: [{source: c, mode: 0o400}]\nconfigs: {c: {file: stack.yaml}}\n", 4,
     "services.web.configs[0].mode"),
    ("    networks: {lan: {driver_opts: {a: b}}}\nnetworks: {lan: }\n", 4,
     "services.web.networks.lan.driver_opts"),
    ("models: {}\n", 4, "models"),
])
def test_an_unsupported_key_is_refused_naming_file_line_and_field(
        extra: str, line: int, field: str, tmp_path: object) -> None:
    path = f"{tmp_path}/stack.yaml"
    with open(path, "w") as f:
        f.write("")
    with pytest.raises(ConfigError) as e:
        loads_stack(WEB + extra, path)
    assert (e.value.path, e.value.line, e.value.field) == (path, line, field)
    assert f"{field.rsplit('.', 1)[-1]!r} is not supported by fleet" in str(e.value)
    assert "--allow-unsupported" in str(e.value)


def test_allowed_unsupported_keys_are_warnings_naming_each() -> None:
    stack = loads_stack(WEB + "    build: {dockerfile_inline: FROM scratch, platforms: [a]}\n"
                        "    develop: {}\n    x-mine: kept\n",
                        "s.yaml", Options(allow_unsupported=True))
    assert [w.split(": ")[1] for w in stack.warnings] == ["services.web.develop",
                                                          "services.web.build.platforms"]
    assert all(w.endswith("ignored") for w in stack.warnings)


def test_every_supported_key_loads_and_extensions_are_ignored() -> None:
    stack = loads_stack(WEB + "    x-anything: 1\n    init: true\n    cap_add: [NET_ADMIN]\n"
                        "x-top: {a: 1}\nversion: '3.8'\n", "s.yaml")
    assert stack.warnings == ()
    assert {"image", "env_file", "network_mode", "secrets", "mem_limit"} <= set(SERVICE_KEYS)
    assert "resources.limits.memory" in DEPLOY_KEYS


@pytest.mark.parametrize(("extra", "message"), [
    ("    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 512m}}}\n",
     "distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"),
    ("    cpus: 1\n    deploy: {resources: {limits: {cpus: '0.5'}}}\n",
     "distinct values on 'cpus' and 'deploy.resources.limits.cpus'"),
    ("    networks: [a, b]\nnetworks: {a: , b: }\n", "one network"),
])
def test_what_compose_or_the_boards_cannot_take_is_refused_even_when_allowed(
        extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads_stack(WEB + extra, "s.yaml", Options(allow_unsupported=True))


def test_the_same_figure_in_both_spellings_is_one_setting() -> None:
    loads_stack(WEB + "    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 1024M}}}\n",
                "s.yaml")


@pytest.mark.parametrize(("text", "pairs"), [
    ("A=1\n# note\n\nexport B = two words \n", (("A", "1"), ("B", "two words"))),
    ("A='x # ${SHELL_ONE}'\nB=\"${SHELL_ONE}-x\"\nC=v # comment\n",
     (("A", "x # ${SHELL_ONE}"), ("B", "here-x"), ("C", "v"))),
    ("SHELL_ONE\nNOT_SET\nEMPTY=\n", (("SHELL_ONE", "here"), ("EMPTY", ""))),
])
def test_env_file_syntax(text: str, pairs: tuple[tuple[str, str], ...]) -> None:
    assert dict(envfiles.parse(text, {"SHELL_ONE": "here"}, "f")) == dict(pairs)


def test_a_bad_env_file_line_names_file_and_line() -> None:
    with pytest.raises(ConfigError, match="f line 2: expected KEY=VALUE"):
        envfiles.parse("A=1\n=oops\n", {}, "f")


def test_the_readme_table_names_every_supported_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [k for k in SERVICE_KEYS if k != "deploy" and f"| `{k}` |" not in readme]
    missing += [k for k in DEPLOY_KEYS if f"| `deploy.{k}` |" not in readme]
    assert missing == []


def test_fleet_plan_refuses_an_unsupported_key_and_allow_unsupported_warns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fleet.cli import EXIT_BAD_INPUT, EXIT_OK, main

    stack = tmp_path / "stack.yaml"
    stack.write_text(WEB + "    build: {dockerfile_inline: FROM scratch, secrets: [pw]}\n"
                     "    deploy: {resources: {limits: {memory: 64M}}}\n")
    inventory = Path(__file__).parents[2] / "inventory.example.yaml"
    assert main(["plan", str(stack), "--inventory", str(inventory)]) == EXIT_BAD_INPUT
    refused = capsys.readouterr().err
    assert "stack.yaml:4" in refused and "'secrets' is not supported" in refused
    code = main(["plan", str(stack), "--inventory", str(inventory), "--json",
                 "--allow-unsupported"])
    assert code == EXIT_OK
    warned = capsys.readouterr().err
    assert "warning:" in warned and "services.web.build.secrets" in warned \
        and "ignored" in warned


def test_a_secrets_missing_file_is_refused_at_load_and_an_optional_env_file_is_not(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"stack\.yaml:1: secrets\.pw\.file: no such file"):
        loads_stack("secrets: {pw: {file: pw.txt}}\n" + WEB, str(tmp_path / "stack.yaml"))
    loads_stack(WEB + "    env_file: [{path: local.env, required: false}]\n",
                str(tmp_path / "stack.yaml"))
