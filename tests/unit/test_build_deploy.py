"""`build:` services on the board: the step only when what it is built from changed, the
command every value quoted, the tar as its stdin, and a failure naming service and board."""

from __future__ import annotations

import contextlib
import io
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fleet.actions.deploy import Collaborators, Options, deploy
from fleet.config.build import Build
from fleet.config.stack import loads_stack
from fleet.deploy import build
from fleet.deploy.build import BuildWant
from fleet.deploy.buildcontext import pack
from fleet.deploy.containers import ContainerSpec
from fleet.deploy.facts import Facts, parse_builds
from fleet.deploy.operations import Action, steps
from fleet.errors import FleetError
from fleet.fanout import QUIET
from fleet.health.store import Store
from fleet.ssh.connection import FakeConnection, Result
from tests.unit.test_actions_deploy import NOW, Board

DIGEST = "a" * 64


def _want(digest: str = DIGEST, context_bytes: int = 3 << 20, **build: object) -> BuildWant:
    return BuildWant("web", Build("shop-web", Path("/ctx"), **build),  # type: ignore[arg-type]
                     digest, context_bytes)


def _facts(builds: dict[str, tuple[str, int]]) -> Facts:
    return Facts("pi-1", "aarch64", None, "", "20.10", "", 1000, 2000, builds=builds)


def _spec(want: BuildWant) -> ContainerSpec:
    return ContainerSpec("shop-web-1", "shop", "web", 1, "shop-web", want.image_id, ())


def test_a_first_build_is_a_step_counted_at_an_estimate() -> None:
    want = _want()
    found = steps(_facts({}), "shop", [_spec(want)], builds={"shop-web": want}).of(Action.BUILD)
    assert [s.target for s in found] == ["shop-web"]
    assert "disk 6 MB, an estimate before its first build" in found[0].detail


def test_a_changed_context_rebuilds_counted_at_the_size_it_was_built_at() -> None:
    want = _want()
    found = steps(_facts({"shop-web:latest": ("b" * 64, 50 << 20)}), "shop", [_spec(want)],
                  builds={"shop-web": want}).of(Action.BUILD)
    assert len(found) == 1 and "disk 50 MB, its built size" in found[0].detail


def test_an_unchanged_build_is_no_step() -> None:
    want = _want()
    result = steps(_facts({"shop-web:latest": (DIGEST, 5 << 20)}), "shop", [_spec(want)],
                   builds={"shop-web": want})
    assert result.of(Action.BUILD) == () and result.of(Action.PUSH) == ()


def test_the_revision_follows_the_build_digest() -> None:
    assert _spec(_want()).revision != _spec(_want("c" * 64)).revision


def test_the_command_quotes_every_value_and_reads_the_context_from_stdin() -> None:
    want = _want(dockerfile="sub/My Dockerfile", args=(("GREETING", "hi; rm -rf /"),),
                 target="final", labels=(("team", "$(x)"),))
    argv = shlex.split(build.command(want).removesuffix(" 2>&1"))
    assert argv == ["DOCKER_BUILDKIT=0", "docker", "build", "--tag", "shop-web",
                    "--file", "sub/My Dockerfile",
                    "--label", f"fleet.build={DIGEST}", "--build-arg", "GREETING=hi; rm -rf /",
                    "--label", "team=$(x)", "--target", "final", "-"]


def _context(tmp_path: Path) -> Build:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    return Build("shop-web", tmp_path)


def test_the_build_sends_the_tar_as_stdin(tmp_path: Path) -> None:
    packed = pack(_context(tmp_path))
    conn = FakeConnection(lambda _c, _s: (0, "Successfully built 1234\n"), device="pi-1")
    want = BuildWant("web", _context(tmp_path), packed.digest, packed.size)
    assert build.build_all(conn, [((want, packed), None)], 1000, 100, QUIET) == ""
    packed.close()
    command, stdin = conn.calls[0]
    assert "docker build --tag shop-web" in command
    with tarfile.open(fileobj=io.BytesIO(stdin)) as tar:
        assert tar.getnames() == ["Dockerfile"]


def test_a_failed_build_names_service_board_and_dockers_last_lines(tmp_path: Path) -> None:
    packed = pack(_context(tmp_path))
    output = "".join(f"line {n}\n" for n in range(30)) + "The command returned exit 1\n"
    conn = FakeConnection(lambda _c, _s: Result("x", 1, output.encode()), device="pi-1")
    want = BuildWant("web", _context(tmp_path), packed.digest, packed.size)
    with pytest.raises(FleetError) as e:
        build.build_all(conn, [((want, packed), None)], 1000, 100, QUIET)
    packed.close()
    assert "pi-1: building shop-web for service 'web' failed (exit 1)" in str(e.value)
    assert "The command returned exit 1" in str(e.value) and "line 29" in str(e.value)
    assert "line 3\n" not in str(e.value)


def test_a_build_the_disk_cannot_take_is_refused_before_anything_is_sent() -> None:
    conn = FakeConnection(lambda _c, _s: (0, ""), device="pi-1")
    want = _want(context_bytes=100 << 20)
    why = build.build_all(conn, [((want, None), None)], 300, 150, QUIET)  # type: ignore[list-item]
    assert why.startswith("refused, not built: shop-web") and conn.calls == []


def test_the_boards_builds_are_read_from_its_facts() -> None:
    text = f'["shop-web:latest"]\t{DIGEST}\t5242880\nnull\t{DIGEST}\t12\n'
    assert dict(parse_builds("pi-1", text)) == {"shop-web:latest": (DIGEST, 5242880)}
    with pytest.raises(FleetError, match="builds line 1"):
        parse_builds("pi-1", '["x"]\tnot-a-digest\t1\n')


@dataclass
class Builder(Board):
    """A fake board that builds: it records each `docker build` and then reports the image."""

    built: dict[str, tuple[str, int]] = field(default_factory=dict)
    builds: list[tuple[str, bytes]] = field(default_factory=list)

    def handle(self, command: str, stdin: bytes) -> Result | tuple[int, str]:
        if "docker build" in command:
            self.builds.append((command, stdin))
            digest = command.split("fleet.build=", 1)[1].split()[0]
            self.built["shop-web:latest"] = (digest, 7 << 20)
            self.images["shop-web:latest"] = ("sha256:" + "9" * 64, ())
            return 0, "Successfully built 999999999999\n"
        return super().handle(command, stdin)

    def _status(self, then: str) -> tuple[int, str]:
        code, text = super()._status(then)
        lines = "".join(f'["{ref}"]\t{digest}\t{size}\n'
                        for ref, (digest, size) in self.built.items())
        return code, text + f"### builds\n{lines}"


def test_the_deploy_builds_on_the_board_once_and_again_when_the_context_changes(
        tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /\n")
    (tmp_path / "web" / "a.txt").write_text("one\n")
    board = Builder("pi-1")
    text = "name: shop\nservices:\n  web:\n    build: web\n    command: [sleep, '9']\n"

    def run() -> Any:
        stack = loads_stack(text, str(tmp_path / "shop.yaml"))
        store = Store(tmp_path / "fleet.db")
        using = Collaborators(lambda _d: board.connection(), None,
                              lambda: contextlib.nullcontext(store), clock=lambda: NOW)
        return deploy(stack, [board.device], using, Options())

    first = run()
    assert first.ok, first.json()
    assert len(board.builds) == 1 and "--tag shop-web" in board.builds[0][0]
    with tarfile.open(fileobj=io.BytesIO(board.builds[0][1])) as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "a.txt"]
    assert run().prepared.steps["pi-1"].of(Action.BUILD) == ()
    assert len(board.builds) == 1  # unchanged: nothing built
    (tmp_path / "web" / "a.txt").write_text("two\n")
    again = run()
    assert [s.detail.endswith("7 MB, its built size") for s in
            again.prepared.steps["pi-1"].of(Action.BUILD)] == [True]
    assert len(board.builds) == 2
