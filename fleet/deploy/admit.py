"""Whether the images a device gets fit it, checked before anything is sent: the ones it
pulls and the ones pushed to it, against its architecture and its free disk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fleet.deploy import pull
from fleet.deploy.facts import Facts
from fleet.deploy.images import Image, load_mb, missing, refusal
from fleet.deploy.registry import Resolved


def incoming_mb(images: Iterable[Image], pulls: Mapping[str, Resolved], facts: Facts) -> int:
    """The disk the pushed images' missing layers and the pulled images take on the device."""
    pushed = sum(load_mb(missing(image, facts.layers)) for image in images)
    return pushed + sum(pull.pull_mb(r, facts.arch, facts.layers) for r in pulls.values())


def refused(images: Iterable[Image], facts: Facts, keep_free_mb: int,
            pulls: Mapping[str, Resolved]) -> str | None:
    """Why these images may not go to this device (architecture, disk), all checked at once."""
    if facts.arch is None:
        return f"fleet does not know the device's architecture ({facts.machine})"
    free = facts.disk_free_mb
    for resolved in pulls.values():
        why = pull.refusal(resolved, facts.arch, free, keep_free_mb, facts.layers)
        if why:
            return why
        free -= pull.pull_mb(resolved, facts.arch, facts.layers)
    for image in images:
        why = refusal(image, facts.arch, free, keep_free_mb, present=facts.layers)
        if why:
            return why
        free -= load_mb(missing(image, facts.layers))
    return None
