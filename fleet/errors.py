"""Every error fleet raises on purpose, in one tree.

    FleetError                  base; str(e) is a message for the user
    ├── ConfigError             a file the user wrote is wrong: names file, line, field
    │   └── UnknownProfileError an unknown hardware profile; lists the known ones
    ├── InvalidDeviceIdError    a device id that is not [a-z0-9][a-z0-9-]{0,62}
    └── LabError                the fleet lab could not be built or inspected
        └── MissingPackagesError  a system command is missing; names the apt packages

Third-party errors (paramiko, docker, paho) are translated into this tree
where they cross into fleet, so callers catch FleetError and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable


class FleetError(Exception):
    """Base of every error fleet raises on purpose."""


class ConfigError(FleetError):
    """A user's file is wrong; the message names file, line and field."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None,
                 field: str = "") -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = path if line is None else f"{path}:{line}"
        prefix = ": ".join(part for part in (where, field) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UnknownProfileError(ConfigError):
    """A profile name that is not one of the presets."""

    def __init__(self, name: str, known: Iterable[str], *, path: str = "",
                 line: int | None = None, field: str = "profile") -> None:
        self.name = name
        super().__init__(
            f"unknown profile {name!r}; known profiles: {', '.join(known)}",
            path=path, line=line, field=field,
        )


class InvalidDeviceIdError(FleetError, ValueError):
    """A device id that does not match [a-z0-9][a-z0-9-]{0,62}."""


class LabError(FleetError):
    """The fleet lab could not be built, inspected or torn down."""


class MissingPackagesError(LabError):
    """System commands the lab needs are not installed."""

    def __init__(self, commands: Iterable[str], packages: Iterable[str]) -> None:
        self.commands = sorted(commands)
        self.packages = sorted(set(packages))
        super().__init__(
            f"missing {', '.join(self.commands)}: run "
            f"`apt-get install -y {' '.join(self.packages)}` (or `make setup`)"
        )
