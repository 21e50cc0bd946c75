"""What every command module shares: exit codes, the consoles, JSON output, option helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from fleet.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
Handler = Callable[[argparse.Namespace], int]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def yes_no(value: bool) -> str:
    return "[green]yes[/]" if value else "[red]no[/]"


@dataclass(frozen=True, slots=True)
class Commands:
    """Where a command module adds its subcommands; each inherits the common options."""

    subparsers: Any  # argparse's _SubParsersAction, which it does not export
    common: argparse.ArgumentParser

    def add(self, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    def group(self, name: str, help: str, description: str, dest: str) -> Commands:
        """A command with subcommands of its own (`fleet lab up`)."""
        parent = self.subparsers.add_parser(name, parents=[self.common], help=help,
                                            description=description)
        actions = parent.add_subparsers(dest=dest, metavar="ACTION", required=True)
        return Commands(actions, self.common)


def json_flag(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print JSON for scripts")


def verbose_flag(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-v", "--verbose", action="store_true",
                     help="list every replica and step (default: a summary per board)")


def known_hosts_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--known-hosts", metavar="PATH",
                     help="fleet's known-hosts file (default $FLEET_KNOWN_HOSTS or "
                          "~/.config/fleet/known_hosts)")


def board_options(sub: argparse.ArgumentParser) -> None:
    """What reading the boards over SSH needs, as deploy and plan --boards read them."""
    sub.add_argument("--images", action="append", default=[], metavar="PATH",
                     help="docker-archive files (docker save) or directories of them to "
                          "push images from (repeatable; default $FLEET_IMAGES, then the "
                          "local docker engine)")
    known_hosts_option(sub)
    sub.add_argument("--timeout", type=float, default=10.0, metavar="S",
                     help="SSH connect timeout per device (default 10)")


def interface_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--interface", action="append", default=[], metavar="ADDR",
                     help="browse mDNS only on the interface with this address "
                          "(repeatable; default: every interface)")


def at_least_one(value: int, flag: str) -> None:
    if value < 1:
        raise ConfigError(f"{flag} {value}: expected at least 1")
