"""add_devices: new devices appended to the user's inventory, every byte already there kept."""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.config import inventory
from fleet.config.inventory_add import NewDevice, add_devices
from fleet.errors import ConfigError, UnknownProfileError
from fleet.model import Arch, Device

EXAMPLE = Path(__file__).parents[2] / "inventory.example.yaml"
EXAMPLE_IDS = ["shed-pi-1", "kitchen-pi", "orin-1", "porch-zero"]


def y(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def inserted(old: str, new: str) -> list[str]:
    """The lines `new` adds to `old`; fails if it changes or drops any."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    added: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), f"{op} {a[i1:i2]!r} -> {b[j1:j2]!r}"
        added += b[j1:j2] if op == "insert" else []
    return added


def ids(path: Path) -> list[str]:
    return [d.id for d in inventory.load(path).devices]


# -- what is kept -------------------------------------------------------------------

def test_example_file_gains_two_devices_and_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    shutil.copy(EXAMPLE, path)
    old = path.read_text(encoding="utf-8")
    added = add_devices(path, [
        NewDevice("garage-pi", "192.168.1.40", note="found by fleet discover on 2026-11-22"),
        NewDevice("jetson-2", "jetson-2.local", profile="jetson-nano-4g"),
    ])
    assert added == ["garage-pi", "jetson-2"]
    new = path.read_text(encoding="utf-8")
    assert inserted(old, new) == [
        "  garage-pi:  # found by fleet discover on 2026-11-22\n",
        "    host: 192.168.1.40\n",
        "\n",  # the example sets its devices apart with blank lines
        "  jetson-2:\n",
        "    host: jetson-2.local\n",
        "    profile: jetson-nano-4g\n",
        "\n",
    ]
    assert new.endswith(old[old.index("\ngroups:"):])  # still after the devices, blank line kept
    comments = [line for line in old.splitlines() if line.lstrip().startswith("#") or " # " in line]
    assert all(line in new.splitlines() for line in comments)
    inv = inventory.load(path)
    assert [d.id for d in inv.devices] == [*EXAMPLE_IDS, "garage-pi", "jetson-2"]
    garage, jetson = inv.devices[4:]
    assert (garage.host, garage.profile.name, garage.site) == ("192.168.1.40", "pi4b-8g", "home")
    assert garage.ssh.user == "pi" and dict(garage.labels) == {"owner": "ops"}
    assert (jetson.profile.name, jetson.arch) == ("jetson-nano-4g", Arch.ARM64)
    assert dict(inv.groups) == {"cameras": ("shed-pi-1", "porch-zero"), "inference": ("orin-1",)}


COMMENTED = y(
    "# my boards",
    "",
    "defaults:   # for all",
    "  profile: pi4b-8g",
    "",
    "devices:",
    "  # the shed",
    "  b-pi:",
    "    host: 'b.local'      # quoted on purpose",
    "  # between devices",
    "  a-pi: {host: \"a.local\", profile: pi5-8g}",
    "  # about a-pi, still in devices",
    "",
    "# the groups, at the top level",
    "groups:",
    "  all-pis: [b-pi, a-pi]",
    "# the end",
)


def test_comments_quotes_and_order_stay_and_entries_go_after_the_last_device(
        tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    add_devices(path, [NewDevice("c-pi", "c.local", arch="armv7l")])
    new = path.read_text(encoding="utf-8")
    assert inserted(COMMENTED, new) == ["  c-pi:\n", "    host: c.local\n", "    arch: armv7\n"]
    lines = new.splitlines()
    assert lines[lines.index("  c-pi:") - 1] == "  # about a-pi, still in devices"
    assert lines[lines.index("    arch: armv7") + 1] == ""
    assert ids(path) == ["b-pi", "a-pi", "c-pi"]
    assert inventory.load(path).device("c-pi").arch is Arch.ARMV7


def test_devices_as_the_last_section_without_a_final_line_break(tmp_path: Path) -> None:
    old = "defaults: {profile: pi4b-8g}\ndevices:\n  a:\n    host: a.local"
    path = write(tmp_path, old)
    add_devices(path, [NewDevice("b", "b.local")])
    assert path.read_text(encoding="utf-8") == old + "\n  b:\n    host: b.local\n"


def test_the_files_indent_and_line_breaks_are_used(tmp_path: Path) -> None:
    old = "defaults:\r\n    profile: pi4b-8g\r\ndevices:\r\n    a:\r\n        host: a.local\r\n"
    path = write(tmp_path, old)
    add_devices(path, [NewDevice("b", "b.local", profile="pi5-8g")])
    assert path.read_bytes().decode("utf-8") == (
        old + "    b:\r\n        host: b.local\r\n        profile: pi5-8g\r\n")
    assert ids(path) == ["a", "b"]


def test_ids_yaml_would_read_as_numbers_or_null_are_quoted(tmp_path: Path) -> None:
    path = write(tmp_path, y("defaults: {profile: pi4b-8g}", "devices: {}"))
    assert add_devices(path, [NewDevice(i, f"{i}.local") for i in ("123", "null", "1e3")])
    assert ids(path) == ["123", "null", "1e3"]
    assert "  '123':\n" in path.read_text(encoding="utf-8")


def test_note_is_one_comment_line_on_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, y("defaults: {profile: pi4b-8g}", "devices:"))
    note = "found by fleet discover on 2026-11-22:\nbare board,\tno agent yet"
    add_devices(path, [NewDevice("new-pi", "new-pi.local", note=note)])
    assert ("  new-pi:  # found by fleet discover on 2026-11-22: bare board, no agent yet\n"
            in path.read_text(encoding="utf-8"))
    assert ids(path) == ["new-pi"]


# -- empty, missing and odd sections -----------------------------------------------------

KEY_LINE_WITH_COMMENT = "devices:" + " " * 8 + "# none yet"


@pytest.mark.parametrize(("old", "key_line"), [
    (y("defaults: {profile: pi4b-8g}", "devices: {}", "groups: {}"), "devices:"),
    (y("defaults: {profile: pi4b-8g}", "devices:", "groups: {}"), "devices:"),
    (y("defaults: {profile: pi4b-8g}", "devices: ~"), "devices:"),
    # The ~ or {} is blanked out, so that the comment keeps its column.
    (y("defaults: {profile: pi4b-8g}", "devices: null   # none yet"), KEY_LINE_WITH_COMMENT),
    (y("defaults: {profile: pi4b-8g}", "devices:  {  }  # none yet"), KEY_LINE_WITH_COMMENT),
])
def test_an_empty_devices_section_is_opened_up(tmp_path: Path, old: str, key_line: str) -> None:
    path = write(tmp_path, old)
    assert add_devices(path, [NewDevice("a", "a.local")]) == ["a"]
    new = path.read_text(encoding="utf-8")
    assert new.splitlines()[1:4] == [key_line, "  a:", "    host: a.local"]
    assert inserted(old.replace(old.splitlines()[1], key_line), new)
    assert ids(path) == ["a"]


@pytest.mark.parametrize("old", [
    "",
    "# nothing yet\n",
    "defaults:\n  profile: pi4b-8g",
    "defaults:\n  profile: pi4b-8g\n\n",
])
def test_a_devices_section_is_added_at_the_end(tmp_path: Path, old: str) -> None:
    path = write(tmp_path, old)
    add_devices(path, [NewDevice("a", "a.local", profile="pi5-4g")])
    new = path.read_text(encoding="utf-8")
    assert new.startswith(old)
    assert new.endswith("devices:\n  a:\n    host: a.local\n    profile: pi5-4g\n")
    assert ids(path) == ["a"]


def test_a_missing_file_is_created_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "config" / "fleet" / "inventory.yaml"
    assert add_devices(path, [NewDevice("a", "a.local", profile="pi5-8g")]) == ["a"]
    first, *rest = path.read_text(encoding="utf-8").splitlines()
    assert first.startswith("# fleet inventory") and "fleet discover --add" in first
    assert rest == ["", "devices:", "  a:", "    host: a.local", "    profile: pi5-8g"]
    assert inventory.load(path).device("a").profile.name == "pi5-8g"


def test_nothing_new_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    assert add_devices(path, []) == []
    assert not path.exists()
    shutil.copy(EXAMPLE, path)
    before = path.stat().st_mtime_ns
    assert add_devices(path, [NewDevice("orin-1", "elsewhere.local")]) == []
    assert path.stat().st_mtime_ns == before and path.read_bytes() == EXAMPLE.read_bytes()


def test_ids_already_there_or_twice_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    shutil.copy(EXAMPLE, path)
    added = add_devices(path, [NewDevice("kitchen-pi", "k2.local"), NewDevice("new-1", "n1"),
                               NewDevice("new-1", "other"), NewDevice("new-2", "n2")])
    assert added == ["new-1", "new-2"]
    inv = inventory.load(path)
    assert [d.id for d in inv.devices] == [*EXAMPLE_IDS, "new-1", "new-2"]
    assert inv.device("kitchen-pi").host == "kitchen-pi.local"
    assert inv.device("new-1").host == "n1"


def test_the_files_mode_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, y("defaults: {profile: pi4b-8g}", "devices:"))
    path.chmod(0o640)
    add_devices(path, [NewDevice("a", "a.local")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.yaml"]  # no temp file left


def test_a_symlinked_inventory_stays_a_link(tmp_path: Path) -> None:
    real = write(tmp_path, y("defaults: {profile: pi4b-8g}", "devices:"), "real.yaml")
    link = tmp_path / "inventory.yaml"
    link.symlink_to(real)
    add_devices(link, [NewDevice("a", "a.local")])
    assert link.is_symlink() and ids(real) == ["a"]


# -- what is refused, leaving the file as it was ---------------------------------------

@pytest.mark.parametrize(("device", "field", "message"), [
    (NewDevice("Shed_Pi", "x.local"), "devices", "invalid device id 'Shed_Pi'"),
    (NewDevice("a", "x.local", profile="pi9"), "devices.a.profile", "unknown profile 'pi9'"),
    (NewDevice("a", "x.local", arch="sparc"), "devices.a.arch", "unknown architecture"),
    (NewDevice("a", ""), "devices.a.host", "expected a host name or address"),
    (NewDevice("a", "x.local\nevil: 1"), "devices.a.host", "expected a host name or address"),
    (NewDevice("a", "x.local", port=0), "devices.a.ssh.port", "expected an SSH port"),
])
def test_a_bad_new_device_is_refused_before_anything_is_written(
        tmp_path: Path, device: NewDevice, field: str, message: str) -> None:
    path = tmp_path / "inventory.yaml"
    shutil.copy(EXAMPLE, path)
    with pytest.raises(ConfigError, match=message) as caught:
        add_devices(path, [NewDevice("fine-1", "fine.local"), device])
    assert (caught.value.path, caught.value.field) == (str(path), field)
    assert path.read_bytes() == EXAMPLE.read_bytes()


def test_an_unknown_profile_lists_the_known_ones_and_creates_no_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownProfileError, match="known profiles: pi-zero-2w"):
        add_devices(tmp_path / "inventory.yaml", [NewDevice("a", "a.local", profile="pi9")])
    assert not (tmp_path / "inventory.yaml").exists()


def test_a_result_that_would_not_load_is_not_written(tmp_path: Path) -> None:
    old = y("# no defaults, so a device needs its own profile", "devices:")
    path = write(tmp_path, old)
    with pytest.raises(ConfigError, match=r"not changed: .*devices\.a\.profile: required"):
        add_devices(path, [NewDevice("a", "a.local")])
    assert path.read_text(encoding="utf-8") == old
    with pytest.raises(ConfigError, match="not changed"):
        add_devices(tmp_path / "new.yaml", [NewDevice("a", "a.local")])
    assert not (tmp_path / "new.yaml").exists()


def test_a_new_id_that_is_a_group_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    shutil.copy(EXAMPLE, path)
    with pytest.raises(ConfigError, match="group 'cameras' has the same name as a device"):
        add_devices(path, [NewDevice("cameras", "cam.local")])
    assert path.read_bytes() == EXAMPLE.read_bytes()


def test_an_ansible_inventory_is_refused_with_the_lines_to_add(tmp_path: Path) -> None:
    old = y("all:", "  vars: {fleet_profile: pi4b-4g}", "  hosts:", "    pi1.local:")
    path = write(tmp_path, old)
    with pytest.raises(ConfigError, match="writes fleet's own format only") as caught:
        add_devices(path, [NewDevice("pi1-local", "pi1.local"),  # already there, by its id
                           NewDevice("garage", "10.0.0.9", profile="pi5-8g", note="found")])
    assert str(caught.value).endswith(y(
        "all:", "  hosts:", "    garage:  # found",
        "      ansible_host: 10.0.0.9", "      fleet_profile: pi5-8g"))
    assert path.read_text(encoding="utf-8") == old


def test_an_ssh_port_other_than_22_is_written_as_the_devices_own(tmp_path: Path) -> None:
    old = y("defaults:", "  profile: pi4b-8g", "  ssh:", "    user: root", "    port: 2222",
            "devices:", "  a:", "    host: a.local")
    path = write(tmp_path, old)
    assert add_devices(path, [NewDevice("balena", "10.0.0.7", port=22222),
                              NewDevice("plain", "10.0.0.8", port=22)]) == ["balena", "plain"]
    assert inserted(old, path.read_text(encoding="utf-8")) == [
        "  balena:\n", "    host: 10.0.0.7\n", "    ssh:\n", "      port: 22222\n",
        "  plain:\n", "    host: 10.0.0.8\n"]
    inv = inventory.load(path)
    # The device's port, the defaults' user; 22 is left to the defaults, as any unset field.
    assert (inv.device("balena").ssh.port, inv.device("balena").ssh.user) == (22222, "root")
    assert inv.device("plain").ssh.port == 2222


def test_an_ansible_inventory_gets_the_port_as_ansible_port_in_the_lines_to_add(
        tmp_path: Path) -> None:
    old = y("all:", "  hosts:", "    pi1.local: {fleet_profile: pi4b-8g}")
    path = write(tmp_path, old)
    with pytest.raises(ConfigError, match="writes fleet's own format only") as caught:
        add_devices(path, [NewDevice("balena", "10.0.0.7", profile="pi4b-8g", port=22222)])
    lines = str(caught.value).split("all:\n", 1)[1]
    assert lines == y("  hosts:", "    balena:", "      ansible_host: 10.0.0.7",
                      "      fleet_profile: pi4b-8g", "      ansible_port: 22222")
    assert inventory.loads(y("all:", lines.rstrip("\n"))).device("balena").ssh.port == 22222
    assert path.read_text(encoding="utf-8") == old


@pytest.mark.parametrize("old", [
    y("devices: {a: {host: a.local, profile: pi4b-8g}}"),
    "{devices: {a: {host: a.local, profile: pi4b-8g}}}\n",
])
def test_inline_devices_are_refused_with_the_lines_to_add(tmp_path: Path, old: str) -> None:
    path = write(tmp_path, old)
    with pytest.raises(ConfigError, match=r"written inline|one inline mapping") as caught:
        add_devices(path, [NewDevice("b", "b.local", profile="pi5-8g")])
    assert "by hand under `devices:`:\n  b:\n    host: b.local\n" in str(caught.value)
    assert path.read_text(encoding="utf-8") == old


@pytest.mark.parametrize("old", [
    "devices:\n  a: [\n",
    "devices:\n  a:\n    host: a\n  a:\n    host: b\n",
    "devices: 7\n",
    "devices:\n  a:\n    host: a.local\n    profile: pi9\n",
])
def test_a_broken_file_raises_the_loaders_error(tmp_path: Path, old: str) -> None:
    path = write(tmp_path, old)
    with pytest.raises(ConfigError) as loading:
        inventory.load(path)
    with pytest.raises(ConfigError) as adding:
        add_devices(path, [NewDevice("b", "b.local", profile="pi5-8g")])
    assert str(adding.value) == str(loading.value)
    assert (adding.value.path, adding.value.line) == (str(path), loading.value.line)
    assert path.read_text(encoding="utf-8") == old


# -- properties -------------------------------------------------------------------

NEW_IDS = st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), max_size=6,
                   unique=True).filter(lambda new: not {"cameras", "inference"} & set(new))


@settings(deadline=None, max_examples=50)
@given(NEW_IDS)
def test_any_new_ids_load_back_after_the_examples_in_order(new_ids: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        shutil.copy(EXAMPLE, path)
        added = add_devices(path, [NewDevice(i, f"{i}.local") for i in new_ids])
        fresh = [i for i in new_ids if i not in EXAMPLE_IDS]
        assert added == fresh
        assert ids(path) == [*EXAMPLE_IDS, *fresh]
        inserted(EXAMPLE.read_text(encoding="utf-8"), path.read_text(encoding="utf-8"))


def kept_in_order(old: str, new: str) -> None:
    """Every line of `old` is in `new`, in order; an empty `devices:` may lose its ~ or {}
    (and its trailing blanks), wherever it is indented."""
    rest = iter(new.splitlines())
    for line in old.splitlines():
        if not line.lstrip().startswith("devices:"):
            assert any(other == line for other in rest), f"{line!r} lost or moved"


@st.composite
def layouts(draw: st.DrawFn) -> str:
    """Inventories as people write them: any section order and indent, comments anywhere."""
    pad = " " * draw(st.sampled_from([2, 3, 4]))
    notes = st.sampled_from(["", "\n", "# note\n", f"{pad}# note\n", f"{pad * 2}# note\n",
                             "\n# note\n\n"])
    entries = st.sampled_from([
        "{pad}{id}: {{host: {id}.local}}  # inline\n",
        "{pad}{id}:\n{pad}{pad}host: '{id}.local'\n",
        "{pad}{id}:\n{pad}{pad}host: {id}.local\n{pad}{pad}ssh:\n{pad}{pad}{pad}port: 22\n",
        "{pad}{id}:\n{pad}{pad}host: {id}.local\n{pad}{pad}labels:\n{pad}{pad}{pad}text: |\n"
        "{pad}{pad}{pad}{pad}one\n\n{pad}{pad}{pad}{pad}two\n",
    ])
    ids = [f"d{i}" for i in range(draw(st.integers(0, 3)))]
    devices = "devices:  # by id\n" if ids else draw(
        st.sampled_from(["devices:\n", "devices: {}\n", "devices: ~  # none\n"]))
    for i in ids:
        devices += draw(notes) + draw(entries).format(pad=pad, id=i)
    sections = {
        "defaults": f"defaults:\n{pad}profile: pi4b-8g  # for all\n",
        "devices": devices + draw(notes),
        "groups": f"groups:\n{pad}g: [{', '.join(ids)}]\n",
        "broker": "broker: {host: broker.local}\n",
    }
    return "".join(draw(notes) + sections[name] for name in draw(st.permutations(list(sections))))


@settings(deadline=None, max_examples=100)
@given(layouts())
def test_any_ordinary_layout_gains_the_devices_and_keeps_its_lines(old: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        path.write_bytes(old.encode("utf-8"))
        before = [d.id for d in inventory.load(path).devices]
        new_ones = [NewDevice("new-1", "n1.local"), NewDevice("new-2", "n2", arch="armv7")]
        assert add_devices(path, new_ones) == ["new-1", "new-2"]
        kept_in_order(old, path.read_text(encoding="utf-8"))
        inv = inventory.load(path)
        assert [d.id for d in inv.devices] == [*before, "new-1", "new-2"]
        assert inv.device("new-2").arch is Arch.ARMV7


FRAGMENTS = [
    "\n", "\n  ", "\n    ", "  ", "# c", "  # c", "\n# c\n", "devices:", "defaults:", "groups:",
    " {}", " ~", " {profile: pi4b-8g}", "\n  profile: pi4b-8g", "a:", "b:", " {host: h}",
    "\n    host: h", "\n    profile: pi5-8g", "\n  g: [a]", "'x'", "---\n", "...\n", "|\n   x",
]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join))
def test_on_any_text_it_adds_lines_or_refuses_and_changes_nothing(old: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        path.write_bytes(old.encode("utf-8"))
        try:
            before: tuple[Device, ...] | None = inventory.loads(old, path).devices
        except ConfigError as e:
            # A file of comments has no devices yet; anything else wrong is left alone.
            before = () if "the file is empty" in e.reason else None
        with contextlib.suppress(ConfigError):
            add_devices(path, [NewDevice("new-1", "n1.local", profile="pi5-8g")])
        new = path.read_bytes().decode("utf-8")
        if new != old:
            assert before is not None  # a file that did not load is never written
            assert ids(path) == [*(d.id for d in before), "new-1"]
            kept_in_order(old, new)


def test_no_temp_file_is_left_when_the_write_fails(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, y("defaults: {profile: pi4b-8g}", "devices:"))
    before = path.read_bytes()

    def disk_full(*_: object) -> None:  # the rename is the last step: fail it as a full disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(ConfigError, match="cannot write the inventory"):
        add_devices(path, [NewDevice("a", "a.local")])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.yaml"]
