"""`fleet discover`'s findings set against the inventory, as a table or JSON. No IO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fleet.lan.boards import BoardFacts, Identity, identify
from fleet.lan.discovery import Scan
from fleet.lan.sightings import DeviceSeen


@dataclass(frozen=True, slots=True)
class Found:
    """A board on the LAN and the inventory device it is, if any."""

    seen: DeviceSeen
    inventory_id: str | None

    @property
    def new(self) -> bool:
        return self.inventory_id is None

    @property
    def identity(self) -> Identity | None:
        """What the model its agent advertises says it is; None for a bare board (no advert).

        The advert's memory is its profile's, not the board's, so it cannot pick a
        size: a model that allows the advertised profile agrees with it."""
        advert = self.seen.advert
        return None if advert is None else identify(BoardFacts(advert.model))

    @property
    def proposed(self) -> str | None:
        identity = self.identity
        advert = self.seen.advert
        return None if identity is None or advert is None else identity.proposal(advert.profile)

    @property
    def disagrees(self) -> bool:
        """The agent's profile is one its board's model rules out."""
        identity = self.identity
        return (identity is not None and self.seen.advert is not None
                and identity.disagrees(self.seen.advert.profile))


def discover_json(found: Sequence[Found], absent: Sequence[str], scan: Scan) -> dict[str, Any]:
    return {
        "devices": [{
            "id": f.seen.id, "host": f.seen.host, "addresses": list(f.seen.addresses),
            "port": f.seen.port,
            "profile": f.seen.advert.profile if f.seen.advert else None,
            "arch": str(f.seen.advert.arch) if f.seen.advert else None,
            "enrolled": f.seen.enrolled, "in_inventory": not f.new,
            "inventory_id": f.inventory_id,
            "ssh_fingerprint": (f.seen.advert.ssh_fingerprint or None) if f.seen.advert else None,
            "agent": f.seen.advert.agent if f.seen.advert else None,
            "model": f.seen.advert.model if f.seen.advert else None,
            "proposed_profile": f.proposed,
            "profile_disagrees": f.disagrees,
            "proposal_reason": f.identity.reason if f.identity else None,
            "found_by": f.seen.source,
        } for f in found],
        "missing": list(absent),
        "rejected": [{"name": r.name, "addresses": list(r.addresses), "reason": r.reason}
                     for r in scan.rejected],
        "seconds": round(scan.seconds, 2),
    }


def render(found: Sequence[Found], absent: Sequence[str], scan: Scan) -> RenderableType:
    table = Table("device", "address", "profile", "board says", "agent", "inventory",
                  title=f"on the LAN: {len(found)} boards ({scan.seconds:.1f} s of mDNS)",
                  box=box.SIMPLE_HEAD)
    for column in table.columns:
        column.no_wrap = True
    for f in found:
        a = f.seen.advert
        inventory = "[yellow]new[/]" if f.new else (
            "yes" if f.inventory_id == f.seen.id else f"as {f.inventory_id}")
        table.add_row(f.seen.id, ", ".join(f.seen.addresses), a.profile if a else "-",
                      _board_says(f), a.agent if a else "[yellow]bare[/]", inventory)
    lines: list[RenderableType] = [table]
    if absent:
        lines.append(Text(f"in the inventory, not heard: {', '.join(absent)}"))
    lines += [Text(f"skipped {r.name} at {', '.join(r.addresses)}: {r.reason}", style="red")
              for r in scan.rejected]
    lines += [Text(f"{f.seen.id} runs as {f.seen.advert.profile}, but its model says "
                   f"otherwise: {f.identity.reason}", style="yellow")
              for f in found if f.disagrees and f.seen.advert and f.identity]
    new = sum(f.new for f in found)
    if new:
        lines.append(Text(f"{new} new: `fleet discover --add` writes them into the inventory"))
    return Group(*lines)


def _board_says(f: Found) -> str:
    """The profile the board's model proposes; `?` if it cannot tell, `-` if it says nothing."""
    if f.identity is None:
        return "-"
    if f.disagrees:
        return f"[red]{f.identity.profile or ' or '.join(f.identity.candidates)}[/]"
    return f.proposed or "?"
