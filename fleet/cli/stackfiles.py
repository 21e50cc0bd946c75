"""The options that say which compose stack a command means, as docker compose takes them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.cli.common import err

if TYPE_CHECKING:
    from fleet.config.compose import Options
    from fleet.config.stack import Stack


def stack_options(sub: argparse.ArgumentParser, *, profiles: bool = True) -> None:
    """--env-file, --profile and --project-name, as `docker compose` has them, and whether a
    compose key fleet does not support refuses the stack (--allow-unsupported)."""
    sub.add_argument("--env-file", action="append", default=None, metavar="PATH",
                     help="variables for interpolation, instead of the .env beside the "
                          "first stack file (repeatable; the environment overrides them)")
    if profiles:
        sub.add_argument("--profile", action="append", default=[], metavar="NAME",
                         help="enable services with this profile (repeatable; also "
                              "$COMPOSE_PROFILES)")
    sub.add_argument("--project-name", metavar="NAME",
                     help="the stack's name (default $COMPOSE_PROJECT_NAME, then the file's "
                          "`name:`, then the first file's name up to a dot)")
    sub.add_argument("--allow-unsupported", action="store_true",
                     help="warn about (by name) the compose keys fleet does not support and "
                          "go on without them, rather than refuse the stack")


def options(args: argparse.Namespace) -> Options:
    from fleet.config.compose import Options

    env_files = None if args.env_file is None else tuple(Path(p) for p in args.env_file)
    return Options(env_files, os.environ, tuple(getattr(args, "profile", ())),
                   args.project_name, args.allow_unsupported)


def load(paths: Sequence[str], args: argparse.Namespace) -> Stack:
    """The stack the files (later ones overriding earlier) and options mean; warns on stderr."""
    from fleet.config import stack

    loaded = stack.load_stack(*paths, options=options(args))
    for warning in loaded.warnings:
        err.print(f"warning: {warning}", markup=False)
    return loaded
