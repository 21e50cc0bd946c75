"""A service's `build:` in both of compose's forms, as fleet loads it, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config.build import INLINE_DOCKERFILE
from fleet.config.compose import Options
from fleet.config.stack import loads_stack
from fleet.errors import ConfigError


def _stack(tmp_path: Path, service: str, environ: dict[str, str] | None = None) -> object:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "web" / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "web" / "Other.dockerfile").write_text("FROM busybox\n")
    return loads_stack("name: shop\nservices:\n  web:\n" + service, str(tmp_path / "s.yaml"),
                       Options(environ=environ or {}))


def test_the_short_form_is_a_context_and_the_image_is_named_project_service(
        tmp_path: Path) -> None:
    stack = _stack(tmp_path, "    build: ./web\n")
    build = stack.builds["web"]  # type: ignore[attr-defined]
    assert (build.image, build.context, build.dockerfile) == (
        "shop-web", tmp_path / "web", "Dockerfile")
    assert stack.services[0].image == "shop-web"  # type: ignore[attr-defined]


def test_the_long_form_with_image_args_target_and_labels(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "    image: fleet/web:2\n    build:\n      context: web\n"
                             "      dockerfile: Other.dockerfile\n      target: final\n"
                             "      args: [GREETING=hi, FROM_ENV, UNSET]\n"
                             "      labels: {team: edge}\n", {"FROM_ENV": "env"})
    build = stack.builds["web"]  # type: ignore[attr-defined]
    assert build.image == "fleet/web:2"
    assert build.dockerfile == "Other.dockerfile" and build.target == "final"
    assert build.args == (("GREETING", "hi"), ("FROM_ENV", "env"))
    assert build.labels == (("team", "edge"),)


def test_args_are_interpolated_and_a_mapping_with_a_null_reads_the_environment(
        tmp_path: Path) -> None:
    stack = _stack(tmp_path, "    build:\n      context: web\n"
                             "      args: {A: '${TAG}-x', B: , C: 3}\n", {"TAG": "v1", "B": "b"})
    assert stack.builds["web"].args == (("A", "v1-x"), ("B", "b"), ("C", "3"))  # type: ignore


def test_an_inline_dockerfile_is_sent_under_its_own_name(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "    build: {context: web, dockerfile_inline: 'FROM busybox'}\n")
    build = stack.builds["web"]  # type: ignore[attr-defined]
    assert (build.dockerfile, build.dockerfile_inline) == (INLINE_DOCKERFILE, "FROM busybox")


@pytest.mark.parametrize(("service", "message"), [
    ("    build: https://github.com/x/y.git\n", "remote build context"),
    ("    build: git@github.com:x/y.git\n", "remote build context"),
    ("    build: ./nowhere\n", "no such directory: ./nowhere"),
    ("    build: {context: web, dockerfile: ../s.yaml}\n", "outside the build context"),
    ("    build: {context: web, dockerfile: /etc/passwd}\n", "outside the build context"),
    ("    build: {context: web, dockerfile: Missing}\n", "no Dockerfile Missing"),
    ("    build: {context: web, dockerfile: D, dockerfile_inline: 'FROM x'}\n", "not both"),
    ("    build: {context: web, args: {'1BAD': x}}\n", "invalid build argument name"),
    ("    build: {context: web, ssh: [default]}\n", "'ssh' is not supported"),
    ("    build: {context: web, additional_contexts: {a: b}}\n",
     "'additional_contexts' is not supported"),
    ("    build: [web]\n", "expected a context directory"),
])
def test_what_fleet_cannot_build_is_refused_by_name(
        tmp_path: Path, service: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        _stack(tmp_path, service)
    assert e.value.line == 4


def test_a_service_with_neither_image_nor_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="required: an image"):
        _stack(tmp_path, "    command: [x]\n")
