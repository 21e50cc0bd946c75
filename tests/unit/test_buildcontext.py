"""A build context packed for the board: .dockerignore as docker reads it, no escape, digest."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from fleet.config.build import INLINE_DOCKERFILE, Build
from fleet.deploy.buildcontext import ContextError, ignored, pack, patterns

DOCKER_DOCS = "# comment\n*/temp*\n*/*/temp*\ntemp?\n**/*.go\n*.md\n!README*.md\nREADME-secret.md\n"


@pytest.mark.parametrize(("path", "left_out"), [
    ("somedir/temporary.txt", True),
    ("temporary.txt", False),
    ("somedir/subdir/temporary.txt", True),
    ("tempa", True),
    ("tempab", False),
    ("main.go", True),
    ("a/b/c/main.go", True),
    ("notes.md", True),
    ("README.md", False),
    ("README-secret.md", True),
    ("docs/notes.md", False),  # `*.md` is the context's top only
])
def test_the_dockerignore_examples_of_dockers_documentation(path: str, left_out: bool) -> None:
    assert ignored(path, patterns(DOCKER_DOCS)) is left_out


@pytest.mark.parametrize(("text", "path", "left_out"), [
    ("build\n", "build/out/x.o", True),  # a parent directory excluded: all under it
    ("build\n!build/keep\n", "build/keep", False),
    ("/secret\n", "secret", True),  # a leading slash is the context's root
    ("./a/../secret\n", "secret", True),  # cleaned as Go's filepath.Clean
    ("**\n!src\n", "src/main.c", False),
    ("**\n!src\n", "other", True),
    ("a+b\n", "a+b", True),  # not a regex: `+` is itself
    ("a+b\n", "aab", False),
    ("\\*\n", "*", True),
    ("\\*\n", "x", False),
    ("data/**/*.bin\n", "data/x.bin", True),
    ("data/**/*.bin\n", "data/1/2/x.bin", True),
    ("data/**/*.bin\n", "other/x.bin", False),
])
def test_dockerignore_patterns(text: str, path: str, left_out: bool) -> None:
    assert ignored(path, patterns(text)) is left_out


def test_a_bare_exception_is_refused() -> None:
    with pytest.raises(ContextError, match="no pattern"):
        patterns("!\n")


def _context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "app").mkdir(parents=True)
    (root / "app" / "run.sh").write_text("echo hi\n")
    (root / "Dockerfile").write_text("FROM busybox\nCOPY app /app\n")
    (root / "secret.key").write_text("no\n")
    (root / ".dockerignore").write_text("*.key\nDockerfile\n.dockerignore\n")
    return root


def _names(build: Build) -> list[str]:
    packed = pack(build)
    try:
        with tarfile.open(packed.path) as tar:
            return sorted(tar.getnames())
    finally:
        packed.close()


def _digest(build: Build) -> str:
    packed = pack(build)
    packed.close()
    return packed.digest


def test_the_tar_holds_the_context_less_what_is_ignored_but_always_its_dockerfile(
        tmp_path: Path) -> None:
    root = _context(tmp_path)
    os.symlink("app/run.sh", root / "run")
    assert _names(Build("x", root)) == [".dockerignore", "Dockerfile", "app", "app/run.sh",
                                        "run"]


def test_an_inline_dockerfile_is_a_member_of_its_own(tmp_path: Path) -> None:
    root = _context(tmp_path)
    build = Build("x", root, INLINE_DOCKERFILE, "FROM busybox\n")
    packed = pack(build)
    with packed.open() as f, tarfile.open(fileobj=f) as tar:
        member = tar.extractfile(INLINE_DOCKERFILE)
        assert member is not None and member.read() == b"FROM busybox\n"
    packed.close()
    assert not packed.path.exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../app/../../../outside"])
def test_a_symlink_out_of_the_context_is_refused_naming_it(tmp_path: Path, target: str) -> None:
    root = _context(tmp_path)
    (tmp_path / "outside").write_text("private\n")
    os.symlink(target, root / "app" / "link")
    with pytest.raises(ContextError, match=f"app/link links to {target}, outside"):
        pack(Build("x", root))


def test_a_symlinked_dockerignore_is_refused(tmp_path: Path) -> None:
    root = _context(tmp_path)
    (root / ".dockerignore").unlink()
    os.symlink("/etc/hostname", root / ".dockerignore")
    with pytest.raises(ContextError, match="symlink"):
        pack(Build("x", root))


def test_a_context_over_the_limit_is_refused(tmp_path: Path) -> None:
    root = _context(tmp_path)
    (root / "app" / "big").write_bytes(b"x" * 4096)
    with pytest.raises(ContextError, match="over"):
        pack(Build("x", root), limit=4000)


def test_the_digest_follows_content_and_settings_not_modification_times(
        tmp_path: Path) -> None:
    root = _context(tmp_path)
    first = _digest(Build("x", root))
    os.utime(root / "app" / "run.sh", (0, 0))
    assert _digest(Build("x", root)) == first
    (root / "secret.key").write_text("changed, but ignored\n")
    assert _digest(Build("x", root)) == first
    assert _digest(Build("x", root, args=(("A", "1"),))) != first
    assert _digest(Build("x", root, target="t")) != first
    (root / "app" / "run.sh").write_text("echo changed\n")
    assert _digest(Build("x", root)) != first
