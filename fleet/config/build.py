"""A service's `build:` (the compose spec's short and long forms) -> a Build, checked at load.

fleet builds on the board a service is placed on, from a local context sent
over SSH (fleet.deploy.build), so a remote context (a git or http URL) is
refused by name, as is a Dockerfile outside the context. The long form's keys
fleet honours are BUILD_KEYS; the others are refused by name through
fleet.config.compose_keys. An image with no `image:` is named PROJECT-SERVICE,
as docker compose v2 names it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.config.yamlfile import Node

BUILD_KEYS: Mapping[str, str] = {
    "context": "the directory sent to the board (its .dockerignore honoured)",
    "dockerfile": "the Dockerfile's path inside the context (default: Dockerfile)",
    "dockerfile_inline": "the Dockerfile's text, sent with the context",
    "args": "--build-arg (a mapping or KEY=VALUE list; a bare KEY from the environment)",
    "target": "--target",
    "labels": "--label on the built image",
}
DEFAULT_DOCKERFILE = "Dockerfile"
INLINE_DOCKERFILE = ".fleet-inline.Dockerfile"  # its name in the context sent
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Build:
    """What to build for a service, and the name the built image gets."""

    image: str
    context: Path  # a local directory, absolute
    dockerfile: str = DEFAULT_DOCKERFILE  # a relative path inside the context, '/'-separated
    dockerfile_inline: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    target: str = ""
    labels: tuple[tuple[str, str], ...] = ()


def default_image(project: str, service: str) -> str:
    """The name compose v2 gives a service's built image when it has no `image:`."""
    return f"{project}-{service}".lower()


def of_services(entries: Sequence[tuple[Node, Node]], project: str, base: Path,
                environ: Mapping[str, str]) -> dict[str, Build]:
    """Each service's `build:` (`entries`: compose's services, key and body), its image named
    by `image:` or else as compose names it."""
    found = {}
    for key, body in entries:
        f = body.fields()
        if "build" in f:
            image = f["image"].text("an image name") if "image" in f \
                else default_image(project, key.value)
            found[key.value] = parse(f["build"], image, base, environ)
    return found


def parse(node: Node, image: str, base: Path, environ: Mapping[str, str]) -> Build:
    """`build:` at `node` -> a Build named `image`; `base`: where a relative context starts."""
    if not isinstance(node.value, str | dict):
        raise node.expected("a context directory, or a mapping with context, dockerfile, ...")
    fields = {"context": node} if isinstance(node.value, str) else node.fields()
    context_node = fields.get("context", node.child("context", "."))
    context = _context(context_node, base)
    inline = fields["dockerfile_inline"].text("a Dockerfile's text") \
        if "dockerfile_inline" in fields else None
    if inline is not None and "dockerfile" in fields:
        raise fields["dockerfile"].error("give `dockerfile` or `dockerfile_inline`, not both")
    dockerfile = INLINE_DOCKERFILE if inline is not None else _dockerfile(
        fields.get("dockerfile") or node.child("dockerfile", DEFAULT_DOCKERFILE), context)
    return Build(image, context, dockerfile, inline,
                 _pairs(fields.get("args"), environ, "a build argument"),
                 fields["target"].text("a build stage's name") if "target" in fields else "",
                 _pairs(fields.get("labels"), {}, "a label"))


def _context(node: Node, base: Path) -> Path:
    text = node.text("a context directory")
    if _REMOTE.match(text):
        raise node.error(f"remote build context {text!r} is not supported by fleet: it "
                         "builds from a local directory it sends to the board")
    context = (base / text).resolve()
    if not context.is_dir():
        raise node.error(f"no such directory: {text} (relative to the compose file)")
    return context


def _dockerfile(node: Node, context: Path) -> str:
    """The Dockerfile's path inside the context, checked to be there and not to leave it."""
    text = node.text("a Dockerfile path")
    path = (context / text).resolve()  # an absolute `text` stands alone, as compose reads it
    try:
        inside = path.relative_to(context)
    except ValueError:
        raise node.error(f"Dockerfile {text} is outside the build context {context}: fleet "
                         "sends only the context to the board") from None
    if not path.is_file():
        raise node.error(f"no Dockerfile {text} in the build context {context}")
    return posixpath.join(*inside.parts)


def _pairs(node: Node | None, environ: Mapping[str, str],
           what: str) -> tuple[tuple[str, str], ...]:
    """A mapping or a list of KEY=VALUE; a bare KEY (list or null value) from `environ`,
    left out when unset, as compose does."""
    if node is None:
        return ()
    found: list[tuple[str, str]] = []
    if isinstance(node.value, dict):
        for key, body in node.entries():
            name = key.text(what)
            if body.value is None:
                if name in environ:
                    found.append((name, environ[name]))
            else:
                found.append((name, body.scalar_text()))
    else:
        for item in node.items():
            name, equals, value = item.text(f"{what} like KEY=VALUE").partition("=")
            if equals:
                found.append((name, value))
            elif name in environ:
                found.append((name, environ[name]))
    for name, _ in found:
        if what == "a build argument" and not _ARG.fullmatch(name):
            raise node.error(f"invalid build argument name {name!r}")
    return tuple(found)
