"""`fleet cleanup` on a lab board whose card is filled with junk while a service runs.

One board of its own (lab `iclean`) with a small card (--card-mb), so filling
it takes seconds, and an agent heartbeating every second (the daemon's policy
goes by the disk the heartbeats report). A real `fleet deploy` runs the stack
`shop` twice, so the board holds the running revision and the stopped one
kept for rollback; then `fleet lab junk` plants old images, stopped
containers, a running container's big log and old files in /tmp, sized to
take the card to 95 %. Each test asks for the board it needs through fixtures
(`deployed`, `planted`, `swept`), so any one of them passes when run alone; in
file order, each fixture finds its work already done by the test before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fleet.health.store import Store
from tests.integration.conftest import lab_fixture
from tests.integration.lablib import Lab, app_images

pytestmark = pytest.mark.integration

DEVICE, IP = "iclean-01", "10.242.0.11"
CARD_MB = 1024
MiB = 1 << 20
LOW_WATER_PCT = 80.0


lab = lab_fixture("iclean", "10.242.0.0/24", "--devices", "1", "--card-mb", str(CARD_MB),
                  "--interval", "1")


@pytest.fixture(scope="module", autouse=True)
def pinned(lab: Lab) -> None:
    lab.pin(known_hosts(lab), DEVICE)


def known_hosts(lab: Lab) -> Path:
    return lab.root.parent / "known_hosts"


def fleet(lab: Lab, *args: str, check: bool = True) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "--inventory", str(lab.spec.inventory), *args,
         "--json", "--known-hosts", str(known_hosts(lab))],
        capture_output=True, text=True, timeout=600, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"fleet {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done.returncode, json.loads(done.stdout)


def on_board(lab: Lab, command: str) -> str:
    code, out = lab.ssh(IP, "set -e\n" + command)
    assert code == 0, f"{command}\n{out}"
    return out


def disk(lab: Lab) -> tuple[int, int]:
    """(used, total) bytes of the board's card, as df sees it."""
    fields = on_board(lab, "df -Pk /var/lib/docker | tail -n 1").split()
    return int(fields[2]) * 1024, int(fields[1]) * 1024


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Images fleet/app:1 to 3 (busybox and a page; 3's page is 20 MiB) and their stacks."""
    work = tmp_path_factory.mktemp("cleanup")
    app_images(work, {v: f"app version {v}\n".encode()
                      + (os.urandom(20 * MiB) if v == 3 else b"") for v in (1, 2, 3)})
    for version in (1, 2, 3):
        (work / f"v{version}.yaml").write_text(f"""
name: shop
services:
  web:
    image: fleet/app:{version}
    stop_grace_period: 1s
    deploy: {{resources: {{limits: {{memory: 32M}}}}}}
""")
    return work


def deploy(lab: Lab, work: Path, version: int, *args: str) -> tuple[int, dict[str, Any]]:
    return fleet(lab, "deploy", str(work / f"v{version}.yaml"), "--images",
                 str(work / "images"), "--store", str(work / "fleet.db"), *args,
                 check=not args)


@pytest.fixture(scope="module")
def deployed(lab: Lab, work: Path) -> dict[str, str]:
    """`shop` deployed twice: web runs fleet/app:2, web's .prev (stopped) fleet/app:1.

    Returns each shop container's name -> its id."""
    deploy(lab, work, 1)
    deploy(lab, work, 2)
    found = shop(lab)
    assert set(found) == {"shop-web-1", "shop-web-1.prev"}, found
    return {name: cid for name, (cid, _, _) in found.items()}


def shop(lab: Lab) -> dict[str, tuple[str, str, str]]:
    """The shop stack's containers: name -> (id, state, image)."""
    out = on_board(lab, "docker ps -a --no-trunc --filter label=fleet.stack=shop "
                        "--format '{{.Names}} {{.ID}} {{.State}} {{.Image}}'")
    return {name: (cid, state, image) for name, cid, state, image in
            (line.split() for line in out.splitlines())}


def plant(lab: Lab) -> dict[str, int]:
    """Junk of each kind (`fleet lab junk`) to take the card to 95 %, and two files /tmp
    must keep: a young one and an old one a process holds open. Category -> bytes."""
    result = json.loads(lab.fleet("lab", "junk", DEVICE, "--fill", "95", "--json").stdout)
    on_board(lab, """
head -c 1048576 /dev/urandom >/tmp/young
head -c 1048576 /dev/urandom >/tmp/held
touch -d '30 days ago' /tmp/held
setsid sh -c 'exec 3</tmp/held; exec sleep 100000' </dev/null >/dev/null 2>&1 &
""")
    planted: dict[str, int] = result["planted_bytes"]
    return planted


@pytest.fixture
def swept(lab: Lab, deployed: dict[str, str]) -> None:
    """The board with nothing left to reclaim (as the apply test leaves it): whatever the
    test then plants is all a cleanup can find."""
    _, report = fleet(lab, "cleanup", DEVICE, "--apply")  # exits 1 if an item failed
    assert report["ok"], report


def reclaimable(lab: Lab) -> dict[str, int]:
    """What a dry run finds: category -> bytes."""
    _, report = fleet(lab, "cleanup", DEVICE)
    (device,) = report["devices"]
    return {c: v["bytes"] for c, v in device["categories"].items()}


@pytest.fixture(scope="module")
def planted(lab: Lab, deployed: dict[str, str]) -> dict[str, int]:
    """What was planted, category -> bytes, plus what was reclaimable before: the lab's own
    images this board does not use."""
    before = reclaimable(lab)
    assert set(before) <= {"unused-images"}, before
    added = plant(lab)
    return {c: before.get(c, 0) + added[c] for c in added}


def test_the_scan_finds_what_was_planted_within_5_percent(
        lab: Lab, deployed: dict[str, str], planted: dict[str, int]) -> None:
    used, total = disk(lab)
    assert used / total >= 0.94, f"planted only to {used / total:.1%}"
    _, report = fleet(lab, "cleanup", DEVICE)
    (device,) = report["devices"]
    found = {c: v["bytes"] for c, v in device["categories"].items()}
    for category, size in planted.items():
        assert found.get(category, 0) == pytest.approx(size, rel=0.05), category
    labels: dict[str, set[str]] = {i["category"]: set() for i in device["items"]}
    for i in device["items"]:
        labels[i["category"]].add(i["label"])
    assert {"junk/old:1", "junk/old:2"} <= labels["unused-images"]
    assert labels["stopped"] == {"stopped1", "stopped2"}
    assert labels["logs"] == {"noisy log"}
    kept = {k["label"]: k["why"] for k in device["kept"]}
    assert kept["shop-web-1"] == "running"
    assert kept["shop-web-1.prev"] == "kept for rollback"
    assert kept["/tmp/held"] == "open by a process"
    assert "/tmp/young" not in {i["target"] for i in device["items"]}
    assert all(i["category"] != "volumes" for i in device["items"])
    # A dry run: nothing changed.
    assert disk(lab)[0] == pytest.approx(used, rel=0.01)


def test_an_image_a_stack_will_run_is_kept(lab: Lab, planted: dict[str, int],
                                           tmp_path: Path) -> None:
    stack = tmp_path / "next.yaml"
    stack.write_text("name: next\nservices:\n  old:\n    image: junk/old:1\n")
    _, report = fleet(lab, "cleanup", DEVICE, "--stack", str(stack))
    (device,) = report["devices"]
    assert {k["label"]: k["why"] for k in device["kept"]}["junk/old:1"] == "planned to run here"
    assert "junk/old:2" in {i["label"] for i in device["items"]}


def test_apply_reclaims_it_and_leaves_the_service_and_its_rollback_untouched(
        lab: Lab, deployed: dict[str, str], planted: dict[str, int]) -> None:
    before = shop(lab)
    _, report = fleet(lab, "cleanup", DEVICE, "--apply")
    (device,) = report["devices"]
    applied = device["applied"]
    assert applied["failed"] == 0, applied
    used, total = disk(lab)
    assert 100 * used / total < LOW_WATER_PCT
    assert applied["freed_bytes"] >= 0.95 * sum(planted.values())
    after = shop(lab)
    assert after == before  # the same containers, in the same state, on the same images
    assert after["shop-web-1"][1] == "running"
    tags = on_board(lab, "docker images --format '{{.Repository}}:{{.Tag}}'").split()
    assert {"fleet/app:1", "fleet/app:2"} <= set(tags)
    assert not {"junk/old:1", "junk/old:2"} & set(tags)
    names = on_board(lab, "docker ps -a --format '{{.Names}}'").split()
    assert "noisy" in names and not {"stopped1", "stopped2"} & set(names)
    assert sorted(on_board(lab, "find /tmp -xdev -type f").split()) == ["/tmp/held",
                                                                         "/tmp/young"]
    # The service still answers.
    assert "app version 2" in on_board(lab, "docker exec shop-web-1 wget -qO- localhost:8080")


def test_a_card_that_is_100_percent_full_is_scanned_and_cleaned(
        lab: Lab, swept: None) -> None:
    on_board(lab, """
docker run --name stopped3 fleet/workload:latest sh -c 'head -c 20971520 /dev/urandom >/blob'
cat /dev/zero >/tmp/fill 2>/dev/null || true
touch -d '30 days ago' /tmp/fill
""")
    used = disk(lab)[0]
    free_kb = int(on_board(lab, "df -Pk /tmp | tail -n 1").split()[3])
    assert free_kb < 1024, f"{free_kb} KiB still free"  # ext4 keeps a few blocks back
    _, report = fleet(lab, "cleanup", DEVICE, "--apply")
    (device,) = report["devices"]
    assert device["applied"]["failed"] == 0, device["applied"]
    assert {i["target"] for i in device["items"]} >= {"/tmp/fill"}
    names = on_board(lab, "docker ps -a --format '{{.Names}}'").split()
    assert "stopped3" not in names
    assert disk(lab)[0] < used - 20 * MiB
    assert shop(lab)["shop-web-1"][1] == "running"


def test_the_daemon_cleans_a_board_over_its_high_water_mark_down_to_the_low_one(
        lab: Lab, swept: None, tmp_path: Path) -> None:
    used, total = disk(lab)
    chunk = total // 20  # 5 % of the card each
    count = (int(total * 0.90) - used) // chunk + 1
    on_board(lab, f"""
docker run --name bystander fleet/workload:latest sh -c 'head -c 1048576 /dev/urandom >/blob'
for n in $(seq {count}); do
    head -c {chunk} /dev/urandom >/tmp/old-$n
    touch -d '30 days ago' /tmp/old-$n
done
""")
    used, total = disk(lab)
    assert used / total > 0.90
    db = tmp_path / "fleet.db"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "fleet", "--inventory", str(lab.spec.inventory), "daemon",
         "--no-discovery", "--workers", "1", "--store", str(db),
         "--known-hosts", str(known_hosts(lab))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        kinds = wait_for_event(db, "cleanup_done", timeout=60)
    finally:
        daemon.terminate()
        _, errors = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, errors
    assert kinds[0] == "cleanup_started" and kinds[-1] == "cleanup_done", kinds
    assert set(kinds[1:-1]) == {"cleanup_reclaimed"}
    used_after = disk(lab)[0]
    assert used_after / total <= LOW_WATER_PCT / 100
    left = on_board(lab, "find /tmp -xdev -name 'old-*' -type f").split()
    assert left, "the policy stops at the low-water mark: it need not take every file"
    assert used_after / total > LOW_WATER_PCT / 100 - 0.06  # no more than one file too many
    # Others' stopped containers are not the policy's to judge.
    assert "bystander" in on_board(lab, "docker ps -a --format '{{.Names}}'").split()
    on_board(lab, "docker rm bystander >/dev/null; rm -f /tmp/old-*")


def wait_for_event(db: Path, kind: str, *, timeout: float) -> list[str]:
    """The device's cleanup event kinds, in order, once one of `kind` is in the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with Store(db) as store:
                kinds = [e.kind for e in store.events(DEVICE)
                         if e.kind.startswith("cleanup_")]
            if kind in kinds:
                return kinds
        time.sleep(0.5)
    raise AssertionError(f"no {kind} event within {timeout:g} s")


def test_a_deploy_to_a_board_too_full_for_its_image_makes_room_first(
        lab: Lab, work: Path, swept: None) -> None:
    """fleet/app:3 needs ~40 MB (staged and unpacked) beyond the 10 % kept free: old /tmp
    files hold the room. Without --no-make-room, the deploy reclaims some first."""
    used, total = disk(lab)
    keep = total // 10
    leave = keep + 20 * MiB  # too little for the new layer
    chunk = 16 * MiB
    count = (total - used - leave) // chunk
    on_board(lab, f"""
for n in $(seq {count}); do
    head -c {chunk} /dev/urandom >/tmp/old-$n
    touch -d '30 days ago' /tmp/old-$n
done
""")
    code, refused = deploy(lab, work, 3, "--no-make-room")
    assert code == 1 and "MB kept free" in refused["devices"][0]["error"], refused
    assert refused["devices"][0]["room"] == ""
    _, result = deploy(lab, work, 3)
    assert result["devices"][0]["ok"], result
    assert result["devices"][0]["room"].startswith("reclaimed "), result
    with Store(work / "fleet.db") as store:
        assert [e.detail for e in store.events(DEVICE) if e.kind == "cleanup_make_room"] == [
            result["devices"][0]["room"]]
    assert shop(lab)["shop-web-1"][2] == "fleet/app:3"
    left = on_board(lab, "find /tmp -xdev -name 'old-*' -type f").split()
    assert 0 < len(left) < count  # some taken, not all: just the room it needed
