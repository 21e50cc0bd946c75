"""fleet.cleanup.board: the scan playbook's answer read, the apply calls written, outcomes read."""

from __future__ import annotations

import contextlib
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.cleanup.board import ScanError, calls, env, parse, parse_reclaimed
from fleet.cleanup.rules import MB, Category, Disk, Item, Rules
from fleet.deploy.images import chain_ids

DIFF = "sha256:" + "a" * 64
MOUNTS = '[{"Type":"volume","Name":"data","Destination":"/data"},{"Type":"bind"}]'
ANSWER = f"""### now
1800000000
### disk
/dev/mmcblk0p2 30000000 27600000 2400000 92% /var/lib/docker
### tools
journalctl
apt-get
### tmp
5242880\t1700000000.5\t/tmp/big file
### open
/tmp/held
### cores
1024\t1700000000\t/var/crash/core.1
### apt
1000
2000
### journal
204800
### staging
4096\t1700000000\t/var/lib/fleet/incoming/abc
### containers
c1\t/web\ttrue\tsha256:img1\t0\t/var/lib/docker/containers/c1/c1-json.log\tshop\t{MOUNTS}
c2\t/old\tfalse\tsha256:img2\t3000\t/var/lib/docker/containers/c2/c2-json.log\t<no value>\t[]
### logs
700\t/var/lib/docker/containers/c1/c1-json.log
300\t/var/lib/docker/containers/c1/c1-json.log.1
50\t/var/lib/docker/containers/c2/c2-json.log
### images
sha256:img1\t["shop/web:2"]\t["{DIFF}"]
sha256:img2\tnull\tnull
### layers
{chain_ids([DIFF])[0]}\t123456
### volumes
4096\tdata
"""


def test_a_full_answer_is_read_section_by_section() -> None:
    s = parse("pi-01", ANSWER)
    assert s.now == 1_800_000_000
    assert s.disk == Disk(total=30000000 * 1024, used=27600000 * 1024)
    assert s.tools == {"journalctl", "apt-get"}
    assert [(f.path, f.size) for f in s.tmp] == [("/tmp/big file", 5 * MB)]
    assert s.open_files == {"/tmp/held"}
    assert s.cores[0].path == "/var/crash/core.1"
    assert s.apt == 3000
    assert s.journal == 204800 * 1024
    assert s.staging[0].path == "/var/lib/fleet/incoming/abc"
    web, old = s.containers
    assert (web.name, web.running, web.stack, web.log, web.rotated_logs, web.volumes) == \
        ("web", True, "shop", 700, 300, ("data",))
    assert (old.name, old.running, old.stack, old.size_rw, old.log) == ("old", False, "", 3000, 50)
    assert s.images[0].tags == ("shop/web:2",) and s.images[1].tags == ()
    assert s.images[0].layers == tuple(chain_ids([DIFF]))
    assert s.layer_sizes == {chain_ids([DIFF])[0]: 123456}
    assert s.volumes == {"data": 4096}


def test_a_board_without_docker_answers_only_the_files() -> None:
    s = parse("pi-01", "### now\n1\n### disk\n/dev/root 100 50 50 50% /\n")
    assert s.containers == () and s.images == () and s.journal is None


@pytest.mark.parametrize("answer, message", [
    ("", "lacks its now and disk section"),
    ("### now\nsoon\n### disk\n/ 1 2 3\n", "now: expected seconds since the epoch"),
    ("### now\n1\n### disk\nnot df\n", "disk: expected a `df -Pk` line"),
    ("### now\n1\n### disk\n/ 1 1 0\n### tmp\n12\t/tmp/x\n", "tmp line 1: expected `bytes"),
    ("### now\n1\n### disk\n/ 1 1 0\n### journal\nlots\n", "journal: expected a number"),
    ("### now\n1\n### disk\n/ 1 1 0\n### volumes\nbig\tdata\n", "volumes line 1"),
    ("### now\n1\n### disk\n/ 1 1 0\n### containers\nc1\tweb\n", "containers line 1"),
    ("### now\n1\n### disk\n/ 1 1 0\n### images\nid\t[1]\t[]\n", "images line 1"),
])
def test_an_answer_fleet_cannot_read_names_the_device_section_and_line(
        answer: str, message: str) -> None:
    with pytest.raises(ScanError, match="pi-01: ") as caught:
        parse("pi-01", answer)
    assert message in str(caught.value)


@given(st.text())
def test_any_text_parses_or_raises_only_a_scan_error(text: str) -> None:
    with contextlib.suppress(ScanError):
        parse("pi-01", text)


@given(st.lists(st.sampled_from(["### now", "### disk", "1", "/ 1 2 3", "### tmp", "a\tb\tc",
                                 "### containers", "### images", "x\t[]\t[]", "### logs",
                                 "5\t/p", "### layers", "\t"])))
def test_answers_built_of_real_lines_parse_or_raise_only_a_scan_error(lines: list[str]) -> None:
    with contextlib.suppress(ScanError):
        parse("pi-01", "\n".join(lines))


def test_calls_quote_every_target_and_end_with_the_disk_reading() -> None:
    items = [Item(Category.TMP, "/tmp/a b; rm -rf /", "x", 1),
             Item(Category.OLD_REVISIONS, "sha256:1", "web:1", 1)]
    lines = calls(items).splitlines()
    assert lines == [f"fleet_tmp {shlex.quote('/tmp/a b; rm -rf /')}",
                     "fleet_old_revisions sha256:1", "fleet_disk"]
    assert shlex.split(lines[0]) == ["fleet_tmp", "/tmp/a b; rm -rf /"]


def test_outcomes_and_the_disk_after_are_read_and_noise_is_ignored() -> None:
    text = ("reclaimed tmp /tmp/a\nskipped stopped c1 running again\n"
            "Deleted: sha256:1\nfailed dangling sha256:9 conflict: in use\n"
            "reclaimed nonsense x\n### disk\n/dev/root 100 40 60 40% /\n")
    outcomes, disk = parse_reclaimed("pi-01", text)
    assert [(o.verb, o.category, o.target, o.why) for o in outcomes] == [
        ("reclaimed", "tmp", "/tmp/a", ""), ("skipped", "stopped", "c1", "running again"),
        ("failed", "dangling", "sha256:9", "conflict: in use")]
    assert disk == Disk(total=100 * 1024, used=40 * 1024)


def test_a_playbook_that_died_before_the_disk_reading_has_none() -> None:
    assert parse_reclaimed("pi-01", "reclaimed tmp /tmp/a\n")[1] is None


def test_the_tmp_threshold_reaches_both_playbooks_in_minutes() -> None:
    assert env(Rules(tmp_age_days=7)) == {"FLEET_TMP_MINUTES": "10080"}
    assert env(Rules(tmp_age_days=0.5)) == {"FLEET_TMP_MINUTES": "720"}
