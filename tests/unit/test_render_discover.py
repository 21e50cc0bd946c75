"""`fleet discover`'s view: the profile each board's advertised model proposes, and a clash."""

from __future__ import annotations

from rich.console import Console

from fleet.lan.advert import Advert
from fleet.lan.discovery import Scan
from fleet.lan.sightings import BY_NAME, DeviceSeen
from fleet.model import Arch
from fleet.render.discover import Found, discover_json, render


def seen(device_id: str, profile: str | None, model: str = "") -> DeviceSeen:
    advert = None if profile is None else Advert(
        device_id, profile, model, Arch.ARM64, 8192, 29917, "", "0.1", device_id)
    return DeviceSeen(device_id, f"{device_id}.local", ("10.0.0.5",), 22, advert, BY_NAME)


FOUND = [
    Found(seen("pi-1", "pi4b-8g", "Raspberry Pi 4 Model B Rev 1.4"), "pi-1"),
    Found(seen("pi-2", "pi4b-8g", "NVIDIA Jetson Nano Developer Kit"), "pi-2"),
    Found(seen("orin", "jetson-orin-nx-8g", "NVIDIA Orin NX Developer Kit"), None),
    Found(seen("odd", "pi4b-8g", "Some Board"), None),
    Found(seen("bare", None), None),
]
SCAN = Scan(tuple(f.seen for f in FOUND), (), 3.0)


def test_discovers_json_says_what_each_boards_model_proposes() -> None:
    rows = {d["id"]: d for d in discover_json(FOUND, [], SCAN)["devices"]}
    assert (rows["pi-1"]["proposed_profile"], rows["pi-1"]["profile_disagrees"]) == \
        ("pi4b-8g", False)  # a Pi 4B of any size: its agent's size stands
    assert (rows["pi-2"]["proposed_profile"], rows["pi-2"]["profile_disagrees"]) == \
        ("jetson-nano-4g", True)
    assert rows["orin"]["proposed_profile"] == "jetson-orin-nx-8g"
    assert (rows["odd"]["proposed_profile"], rows["odd"]["profile_disagrees"]) == (None, False)
    assert "not a board fleet has a profile for" in rows["odd"]["proposal_reason"]
    assert (rows["bare"]["proposed_profile"], rows["bare"]["proposal_reason"]) == (None, None)


def test_the_table_flags_a_board_whose_model_rules_out_its_profile() -> None:
    console = Console(width=160, record=True)
    console.print(render(FOUND, [], SCAN))
    text = console.export_text()
    assert "board says" in text
    assert "pi-2 runs as pi4b-8g, but its model says otherwise: " \
           "'NVIDIA Jetson Nano Developer Kit' is a Jetson Nano" in text
    assert "pi-1 runs as" not in text
