"""Compose resolution: every interpolation form and its errors, env files, merge keys' lines,
extends, profiles, overrides and the project name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.config import compose, stack
from fleet.config.interpolate import TemplateError, escape, interpolate, parse_env_file
from fleet.errors import ConfigError

ENV = {"SET": "v", "EMPTY": "", "PORT": "8035", "OTHER": "o"}


@pytest.mark.parametrize(("template", "value"), [
    ("plain", "plain"),
    ("${SET}", "v"), ("$SET", "v"), ("$SET-x", "v-x"), ("a${SET}b", "avb"), ("$SET$SET", "vv"),
    ("${UNSET}", ""), ("$UNSET", ""),
    ("${SET:-d}", "v"), ("${EMPTY:-d}", "d"), ("${UNSET:-d}", "d"),
    ("${SET-d}", "v"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"),
    ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${UNSET:+alt}", ""),
    ("${SET+alt}", "alt"), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${SET:?err}", "v"), ("${EMPTY?err}", ""),
    ("$$", "$"), ("$$SET", "$SET"), ("$${SET}", "${SET}"), ("a$$b$$", "a$b$"),
    ("${UNSET:-${SET}}", "v"), ("${UNSET:-${UNSET2:-deep}}", "deep"),
    ("${UNSET:-$SET and ${OTHER}}", "v and o"), ("${SET:+[${OTHER}]}", "[o]"),
    ("${UNSET:-a}}", "a}"), ("}{", "}{"), ("${UNSET:-}", ""),
    ("${PORT:-8034}:80", "8035:80"),
    ("${SET:-${NEED:?unused branch}}", "v"),
])
def test_each_interpolation_form(template: str, value: str) -> None:
    assert interpolate(template, ENV) == value


@pytest.mark.parametrize(("template", "variable", "message"), [
    ("${NEED:?set NEED to a token}", "NEED", "set NEED to a token"),
    ("${EMPTY:?must not be empty}", "EMPTY", "must not be empty"),
    ("${NEED?}", "NEED", "required variable NEED is unset"),
    ("${NEED:?}", "NEED", "required variable NEED is unset or empty"),
    ("${NEED:?need $SET}", "NEED", "need v"),
    ("${UNSET:-${NEED:?inner}}", "NEED", "inner"),
])
def test_required_variables_raise_naming_the_variable(template: str, variable: str,
                                                      message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        interpolate(template, ENV)
    assert (caught.value.variable, caught.value.reason) == (variable, message)


@pytest.mark.parametrize(("template", "message"), [
    ("cost $ 5", "starts no variable"), ("end$", "starts no variable"),
    ("${", "invalid variable name"), ("${1BAD}", "invalid variable name '1BAD'"),
    ("${}", "invalid variable name"), ("${SET", "expected `}`"),
    ("${SET:-open", "never closed"), ("${SET:x}", "expected `}`"), ("$-", "starts no variable"),
])
def test_malformed_templates_are_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("$", r"\$").replace("{", r"\{")
                       .replace("}", r"\}")):
        interpolate(template, ENV)


def test_an_unset_variable_without_default_is_warned_about_once_per_use() -> None:
    seen: list[str] = []
    assert interpolate("${A}-$B-${C:-c}-${D-d}", {}, seen.append) == "--c-d"
    assert seen == ["A", "B"]


@given(st.text())
def test_any_text_interpolates_or_raises_a_template_error(text: str) -> None:
    try:
        interpolate(text, ENV)
    except TemplateError as e:
        assert e.reason


@given(st.text())
def test_escaped_text_comes_back_as_it_was(text: str) -> None:
    assert interpolate(escape(text), ENV) == text


def test_env_files_read_as_compose_reads_dotenv() -> None:
    text = ("# comment\n\nA=1\nexport B = two words \nC='single $literal'\n"
            'D="with ${A} and\\nnewline"\nE=${B}-${OUTER} # trailing comment\nF=\n')
    assert parse_env_file(text, {"OUTER": "out"}) == {
        "A": "1", "B": "two words", "C": "single $literal", "D": "with 1 and\nnewline",
        "E": "two words-out", "F": ""}


def test_a_bad_env_line_names_its_line() -> None:
    with pytest.raises(TemplateError, match="line 2: expected KEY=VALUE"):
        parse_env_file("A=1\nnot a pair\n", {})


# -- the resolved document ---------------------------------------------------------

def write(where: Path, name: str, *lines: str) -> Path:
    path = where / name
    path.write_text("\n".join(lines) + "\n")
    return path


def env_of(loaded: stack.Stack, service: str) -> dict[str, object]:
    environment = next(s for s in loaded.services if s.name == service).extra["environment"]
    assert isinstance(environment, Mapping)
    return dict(environment)


def test_dotenv_beside_the_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    write(tmp_path, ".env", "A=from-dotenv", "B=from-dotenv")
    path = write(tmp_path, "s.yaml", "services:", "  web:", "    image: x",
                 "    environment: {A: $A, B: $B}")
    loaded = stack.load_stack(path, options=compose.Options(environ={"B": "from-env"}))
    assert env_of(loaded, "web") == {"A": "from-dotenv", "B": "from-env"}


def test_env_files_replace_the_dotenv_and_apply_in_order(tmp_path: Path) -> None:
    write(tmp_path, ".env", "A=from-dotenv", "ONLY=dotenv")
    one, two = write(tmp_path, "one.env", "A=one", "B=one"), write(tmp_path, "two.env", "B=two")
    path = write(tmp_path, "s.yaml", "services:", "  web:", "    image: x",
                 "    environment: {A: $A, B: $B, ONLY: '${ONLY:-none}'}")
    loaded = stack.load_stack(path, options=compose.Options(env_files=(one, two), environ={}))
    assert env_of(loaded, "web") == {"A": "one", "B": "two", "ONLY": "none"}


def test_a_missing_env_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "services:", "  web:", "    image: x")
    with pytest.raises(ConfigError, match="no such env file"):
        stack.load_stack(path, options=compose.Options(env_files=(tmp_path / "nope.env",)))


def test_interpolation_errors_name_file_line_field_and_variable() -> None:
    text = "services:\n  web:\n    image: x\n    environment:\n      TOKEN: ${TOKEN:?set it}\n"
    with pytest.raises(ConfigError) as caught:
        stack.loads_stack(text, "s.yaml", compose.Options(environ={}))
    e = caught.value
    assert (e.path, e.line, e.field) == ("s.yaml", 5, "services.web.environment.TOKEN")
    assert e.reason.startswith("variable TOKEN: set it")


def test_interpolated_ports_are_read_as_ports() -> None:
    text = 'services:\n  web:\n    image: x\n    ports: ["${PORT:-8034}:80"]\n'
    assert stack.loads(text, options=compose.Options(environ={}))[0].ports[0].host == 8034
    assert stack.loads(text, options=compose.Options(environ={"PORT": "9"}))[0].ports[0].host == 9


def test_keys_are_not_interpolated_but_extension_fields_are() -> None:
    text = ("x-note: ${SET}\nservices:\n  web:\n    image: x\n    labels: {$$key: '$SET'}\n"
            "    x-fleet: {strategy: '${STRATEGY:-spread}'}\n")
    resolved = compose.resolve([("s.yaml", text)], compose.Options(environ=ENV))
    root = resolved.root.value
    assert root["x-note"] == "v"
    assert dict(root["services"]["web"]["labels"]) == {"$$key": "v"}
    assert stack.loads(text, options=compose.Options(environ={}))[0].strategy.value == "spread"


def test_unset_variables_become_warnings_on_the_stack() -> None:
    text = "services:\n  web:\n    image: x\n    command: run ${A} ${A}\n"
    loaded = stack.loads_stack(text, "s.yaml", compose.Options(environ={}))
    assert loaded.warnings == ("s.yaml:4: services.web.command: the variable A is not set; "
                               "it reads as an empty string",)


def test_keys_from_merge_keys_keep_the_line_they_were_written_on() -> None:
    text = ("x-base: &base\n  image: x\n  deploy:\n    replicas: many\nservices:\n"
            "  web:\n    <<: *base\n")
    with pytest.raises(ConfigError) as caught:
        stack.loads(text, "s.yaml")
    assert (caught.value.line, caught.value.field) == (4, "services.web.deploy.replicas")


def test_an_alias_is_interpolated_where_each_copy_is_used() -> None:
    text = ("x-env: &env {COST: '$$5', WHO: '${SET}'}\nservices:\n"
            "  a: {image: x, environment: *env}\n  b: {image: x, environment: *env}\n")
    loaded = stack.loads_stack(text, options=compose.Options(environ=ENV))
    assert env_of(loaded, "a") == env_of(loaded, "b") == {"COST": "$5", "WHO": "v"}


def test_extends_in_the_same_file_and_another(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", "services:", "  common:", "    image: base:1",
          "    environment: {A: base, B: base}")
    path = write(tmp_path, "s.yaml", "services:",
                 "  mid: {extends: {file: base.yml, service: common}, environment: [B=mid]}",
                 "  top: {extends: mid, image: top:1}")
    loaded = stack.load_stack(path, options=compose.Options(environ={}))
    top = next(s for s in loaded.services if s.name == "top")
    assert (top.image, env_of(loaded, "top")) == ("top:1", {"A": "base", "B": "mid"})
    assert "extends" not in top.extra


def test_a_service_extended_from_another_directory_keeps_its_paths_pointing_there(
        tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    write(tmp_path / "common", "base.env", "FROM_BASE=1")
    write(tmp_path / "common", "base.yml", "services:", "  common:", "    image: base:1",
          "    env_file: base.env", "    volumes:", "      - ./data:/data",
          "      - {type: bind, source: ./conf, target: /conf}", "      - named:/cache",
          "      - /abs:/abs")
    path = write(tmp_path, "s.yaml", "services:",
                 "  web: {extends: {file: common/base.yml, service: common}}")
    # the env file is checked at load: it is found only where the base file meant it
    web = next(s for s in stack.load_stack(path, options=compose.Options(environ={})).services)
    assert web.extra["env_file"] == "common/base.env"
    volumes = web.extra["volumes"]
    assert isinstance(volumes, tuple)
    short, long, named, absolute = volumes
    assert isinstance(long, Mapping)
    assert (short, long["source"], named, absolute) == (
        "common/data:/data", "common/conf", "named:/cache", "/abs:/abs")


@pytest.mark.parametrize("needs", [
    "depends_on: [db]", "depends_on: {db: {condition: service_started}}", "links: [db:database]",
    "network_mode: 'service:db'", "volumes_from: ['db:ro']",
])
def test_a_service_the_profiles_leave_out_cannot_be_needed_by_one_they_keep(needs: str) -> None:
    text = f"services:\n  web: {{image: x, {needs}}}\n  db: {{image: y, profiles: [dev]}}\n"
    with pytest.raises(ConfigError, match="'web' needs 'db', which no active profile"):
        stack.loads_stack(text, "s.yaml", compose.Options(environ={}))
    with_dev = stack.loads_stack(text, "s.yaml", compose.Options(environ={}, profiles=("dev",)))
    assert [s.name for s in with_dev.services] == ["web", "db"]


def test_a_dependency_marked_not_required_may_be_left_out() -> None:
    text = ("services:\n  web: {image: x, depends_on: {db: {condition: service_started, "
            "required: false}}}\n  db: {image: y, profiles: [dev]}\n")
    loaded = stack.loads_stack(text, "s.yaml", compose.Options(environ={}))
    assert [s.name for s in loaded.services] == ["web"]


@pytest.mark.parametrize(("services", "message", "line"), [
    (["  a: {image: x, extends: {service: nope}}"], "extends 'nope', which", 2),
    (["  a: {image: x, extends: b}", "  b: {image: x, extends: a}"], "extends itself", 2),
    (["  a: {image: x, extends: [b]}"], "expected extends:", 2),
])
def test_extends_errors_point_at_the_extends(services: list[str], message: str,
                                              line: int) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        stack.loads("services:\n" + "\n".join(services) + "\n", "s.yaml")
    assert caught.value.line == line
    assert caught.value.field.endswith(".extends")


@pytest.mark.parametrize(("profiles", "environ", "names"), [
    ((), {}, ["app"]),
    (("debug",), {}, ["app", "debugger"]),
    ((), {"COMPOSE_PROFILES": "metrics, debug"}, ["app", "debugger", "exporter"]),
    (("*",), {}, ["app", "debugger", "exporter"]),
])
def test_profiles_enable_services(profiles: tuple[str, ...], environ: dict[str, str],
                                  names: list[str]) -> None:
    text = ("services:\n  app: {image: x}\n  debugger: {image: x, profiles: [debug]}\n"
            "  exporter: {image: x, profiles: [metrics]}\n")
    options = compose.Options(environ=environ, profiles=profiles)
    assert [s.name for s in stack.loads(text, options=options)] == names


def test_a_stack_whose_services_all_have_inactive_profiles_says_so() -> None:
    with pytest.raises(ConfigError, match="none whose profiles are active"):
        stack.loads("services:\n  a: {image: x, profiles: [p]}\n")


def test_override_files_merge_as_compose_merges_them(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yml", "services:", "  web:", "    image: web:1",
                 "    command: [serve]", "    ports: ['80:80']",
                 "    environment: [A=1, B=1]", "    deploy: {replicas: 2, resources: "
                 "{limits: {memory: 256M}, reservations: {memory: 128M}}}")
    over = write(tmp_path, "override.yml", "services:", "  web:", "    image: web:2",
                 "    command: [serve, -v]", "    ports: ['443:443']",
                 "    environment: {B: 2}", "    deploy: {resources: {limits: {memory: 1G}}}",
                 "  extra: {image: extra:1}")
    loaded = stack.load_stack(base, over, options=compose.Options(environ={}))
    web = loaded.services[0]
    assert [s.name for s in loaded.services] == ["web", "extra"]
    assert (web.image, web.replicas, web.extra["command"]) == ("web:2", 2, ("serve", "-v"))
    assert [p.container for p in web.ports] == [80, 443]
    assert env_of(loaded, "web") == {"A": "1", "B": 2}
    assert loaded.name == "base"


def test_an_error_in_an_override_names_the_override_file(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yml", "services:", "  web: {image: web:1}")
    over = write(tmp_path, "override.yml", "services:", "  web:", "    deploy: {replicas: -1}")
    with pytest.raises(ConfigError) as caught:
        stack.load_stack(base, over, options=compose.Options(environ={}))
    assert (caught.value.path, caught.value.line) == (str(over), 3)


@pytest.mark.parametrize(("text", "options", "name"), [
    ("services: {a: {image: x}}\n", compose.Options(environ={}), "shop"),
    ("name: named\nservices: {a: {image: x}}\n", compose.Options(environ={}), "named"),
    ("name: named\nservices: {a: {image: x}}\n",
     compose.Options(environ={"COMPOSE_PROJECT_NAME": "fromenv"}), "fromenv"),
    ("name: named\nservices: {a: {image: x}}\n",
     compose.Options(environ={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag"), "flag"),
    ("name: ${STACK:-dflt}\nservices: {a: {image: x}}\n", compose.Options(environ={}), "dflt"),
])
def test_the_project_name(text: str, options: compose.Options, name: str) -> None:
    assert stack.loads_stack(text, "/srv/shop.compose.yaml", options).name == name


def test_a_bad_project_name_from_the_command_line_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid stack name 'Bad Name'"):
        stack.loads_stack("services: {a: {image: x}}\n", "s.yaml",
                          compose.Options(environ={}, project_name="Bad Name"))


def test_fleet_plan_takes_the_stack_options(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    from fleet.cli import EXIT_OK, main

    inventory = Path(__file__).parents[2] / "inventory.example.yaml"
    base = write(tmp_path, "base.yml", "services:", "  web: {image: 'web:${TAG}'}",
                 "  debug: {image: busybox, profiles: [debug]}")
    over = write(tmp_path, "override.yml", "services:", "  extra: {image: 'extra:${TAG}'}")
    env = write(tmp_path, "tags.env", "TAG=2")
    monkeypatch.delenv("TAG", raising=False)  # the environment would override the env file
    code = main(["plan", str(base), str(over), "--env-file", str(env), "--profile", "debug",
                 "--project-name", "shop", "--inventory", str(inventory), "--json"])
    out, _ = capsys.readouterr()
    document = json.loads(out)
    assert code == EXIT_OK
    assert sorted(p["service"] for p in document["placements"]) == ["debug", "extra", "web"]


@pytest.mark.parametrize("command", [["plan", "S"], ["deploy", "S"], ["cleanup", "--all",
                                                                        "--stack", "S"]])
def test_each_stack_command_reads_the_stack_options(command: list[str], tmp_path: Path) -> None:
    from fleet.cli import build_parser
    from fleet.cli.stackfiles import load

    path = write(tmp_path, "s.yaml", "services:", "  web: {image: 'web:${TAG}'}",
                 "  debug: {image: busybox, profiles: [debug]}")
    env = write(tmp_path, "tags.env", "TAG=2")
    argv = [str(path) if a == "S" else a for a in command]
    args = build_parser().parse_args([*argv, "--env-file", str(env), "--profile", "debug",
                                      "--project-name", "shop"])
    paths = args.stack if isinstance(args.stack, list) else [args.stack]
    loaded = load(paths[:1], args)
    assert (loaded.name, [s.image for s in loaded.services]) == ("shop", ["web:2", "busybox"])


@pytest.mark.parametrize(("text", "message", "line"), [
    ("services:\n  a: {image: x}\n  a: {image: y}\n", "duplicate key 'a'", 3),
    ("services:\n  a:\n    image: x\n    <<: [1]\n", "expected a mapping .* to merge", 4),
    ("services:\n  a: !reset {image: x}\n", "unsupported tag !reset", 2),
    ("services:\n  a: {image: !reset x}\n", "invalid YAML", 2),
    ("services:\n  a: {image: x}\n  ? [b]\n  : {image: y}\n", "expected a name as a key", 3),
    ("x: &a [*a]\nservices:\n  a: {image: x}\n", "invalid YAML|nested too deeply", None),
])
def test_yaml_the_resolver_refuses_is_named_with_its_line(text: str, message: str,
                                                   line: int | None) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        stack.loads(text, "s.yaml")
    assert caught.value.path == "s.yaml"
    if line is not None:
        assert caught.value.line == line


def test_merge_keys_own_keys_win_then_earlier_merged_mappings() -> None:
    text = ("x-a: &a {image: a, restart: always, user: a}\nx-b: &b {image: b, user: b, "
            "working_dir: /b}\nservices:\n  s:\n    <<: [*a, *b]\n    user: own\n")
    (service,) = stack.loads(text)
    assert (service.image, service.extra["user"], service.extra["working_dir"],
            service.extra["restart"]) == ("a", "own", "/b", "always")
