"""fleet.cleanup.rules: what is reclaimable, and each safety rule that keeps the rest."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fleet.cleanup.rules import (
    DEFAULT,
    MB,
    SAFE,
    Category,
    Container,
    Disk,
    File,
    Image,
    Policy,
    Rules,
    Scan,
    down_to,
    due,
    for_policy,
    reclaimable,
)
from tests.imports import among, fleet_modules, loaded_by

NOW = 1_800_000_000.0
DAY = 86400.0
ALL = frozenset(Category)
RULES = Rules()


def scan(**overrides: Any) -> Scan:
    base: dict[str, Any] = dict(device="pi-01", now=NOW, disk=Disk(total=1000 * MB, used=900 * MB),
                                tools=frozenset({"journalctl", "apt-get"}))
    return Scan(**{**base, **overrides})


def container(name: str, image: str, *, running: bool = False, stack: str = "",
              **overrides: Any) -> Container:
    return Container(id=f"c-{name}", name=name, running=running, image=image, stack=stack,
                     **overrides)


def image(image_id: str, *layers: str, tags: tuple[str, ...] = ()) -> Image:
    return Image(image_id, tags, layers)


def sizes(**layers: int) -> dict[str, int]:
    return {name: n * MB for name, n in layers.items()}


def targets(s: Scan, rules: Rules = RULES) -> dict[str, Category]:
    return {i.target: i.category for i in reclaimable(s, rules).items}


def why(s: Scan, label: str, rules: Rules = RULES) -> str:
    return next(k.why for k in reclaimable(s, rules).kept if k.label == label)


# -- containers and their images -------------------------------------------------

def test_a_running_container_and_its_image_are_never_reclaimed() -> None:
    s = scan(containers=(container("web", "img-web", running=True),),
             images=(image("img-web", "L1", tags=("shop/web:2",)),), layer_sizes=sizes(L1=50))
    assert targets(s, Rules(categories=ALL)) == {}
    assert why(s, "web") == "running"
    assert why(s, "shop/web:2") == "used by a running container"


def test_a_stopped_current_revision_of_a_fleet_service_is_kept_with_its_image() -> None:
    s = scan(containers=(container("shop.web.1", "img-web", stack="shop"),),
             images=(image("img-web", "L1", tags=("shop/web:2",)),), layer_sizes=sizes(L1=50))
    assert targets(s, Rules(categories=ALL)) == {}
    assert why(s, "shop.web.1") == "the current revision of stack shop"


def test_the_rollback_copy_and_its_image_are_kept_while_its_service_exists() -> None:
    s = scan(containers=(container("shop.web.1", "img-new", running=True, stack="shop"),
                         container("shop.web.1.prev", "img-old", stack="shop")),
             images=(image("img-new", "L1", "L2", tags=("shop/web:2",)),
                     image("img-old", "L1", "L3", tags=("shop/web:1",))),
             layer_sizes=sizes(L1=10, L2=20, L3=30))
    assert targets(s, Rules(categories=ALL)) == {}
    assert why(s, "shop.web.1.prev") == "kept for rollback"
    assert why(s, "shop/web:1") == "used by the rollback copy"


def test_an_orphaned_rollback_copy_is_a_stopped_container_and_frees_its_image() -> None:
    s = scan(containers=(container("shop.web.1.prev", "img-old", stack="shop", size_rw=MB),),
             images=(image("img-old", "L3", tags=("shop/web:1",)),), layer_sizes=sizes(L3=30))
    found = reclaimable(s, Rules())
    assert [(i.category, i.target, i.bytes) for i in found.items] == [
        (Category.STOPPED, "c-shop.web.1.prev", MB),
        (Category.UNUSED_IMAGES, "img-old", 30 * MB)]


def test_anothers_stopped_container_counts_its_layer_and_logs_and_frees_its_image() -> None:
    s = scan(containers=(container("scratch", "img-x", size_rw=3 * MB, log=2 * MB,
                                   rotated_logs=4 * MB),),
             images=(image("img-x", "L9", tags=("tools/x:latest",)),), layer_sizes=sizes(L9=70))
    assert {(i.target, i.bytes) for i in reclaimable(s, Rules()).items} == {
        ("c-scratch", 9 * MB), ("img-x", 70 * MB)}


def test_without_the_stopped_category_a_stopped_containers_image_stays_used() -> None:
    s = scan(containers=(container("scratch", "img-x"),),
             images=(image("img-x", "L9", tags=("tools/x:latest",)),), layer_sizes=sizes(L9=70))
    rules = Rules(categories=DEFAULT - {Category.STOPPED})
    assert targets(s, rules) == {}
    assert why(s, "tools/x:latest", rules) == "used by the stopped container scratch"


def test_images_are_dangling_old_revisions_or_unused_by_their_tags() -> None:
    s = scan(containers=(container("shop.web.1", "img-web3", running=True, stack="shop"),),
             images=(image("img-web3", "A", tags=("shop/web:3",)),
                     image("img-web1", "B", tags=("shop/web:1",)),
                     image("img-other", "C", tags=("tools/other:9",)),
                     image("img-none", "D")),
             layer_sizes=sizes(A=1, B=2, C=3, D=4))
    assert targets(s) == {"img-web1": Category.OLD_REVISIONS, "img-other": Category.UNUSED_IMAGES,
                          "img-none": Category.DANGLING}


def test_a_planned_image_is_kept_by_id_or_by_tag() -> None:
    s = scan(images=(image("img-a", "A", tags=("shop/a:1",)), image("img-b", "B")),
             layer_sizes=sizes(A=1, B=2))
    rules = Rules(planned=frozenset({"shop/a:1", "img-b"}))
    assert targets(s, rules) == {}
    assert why(s, "shop/a:1", rules) == "planned to run here"


def test_shared_layers_are_counted_once_and_only_when_the_last_holder_goes() -> None:
    # base layer B is shared by a kept image and two unused ones: removing them frees only
    # their own layers; U1 and U2 also share X, which is freed by whichever goes last.
    s = scan(containers=(container("svc", "img-kept", running=True),),
             images=(image("img-kept", "B", "K", tags=("app/kept:1",)),
                     image("img-u1", "B", "X", tags=("app/u1:1",)),
                     image("img-u2", "B", "X", "Y", tags=("app/u2:1",)),
                     image("img-base", "B", tags=("app/base:1",))),
             layer_sizes=sizes(B=100, K=1, X=10, Y=5))
    found = reclaimable(s)
    assert found.bytes == 15 * MB  # X and Y; B stays with the kept image
    assert why(s, "app/base:1") == "frees nothing: its layers are a kept image's"


def test_a_running_containers_big_log_is_truncated_a_small_one_left() -> None:
    s = scan(containers=(container("big", "i", running=True, log=5 * MB),
                         container("small", "i", running=True, log=MB // 2)))
    assert targets(s) == {"c-big": Category.LOGS}


# -- volumes ---------------------------------------------------------------------

def test_volumes_only_when_asked_for_and_never_a_mounted_one() -> None:
    s = scan(containers=(container("db", "i", running=True, volumes=("data",)),),
             volumes={"data": 50 * MB, "old": 20 * MB})
    assert targets(s) == {}
    assert why(s, "volume old") == "volumes only with --volumes"
    assert targets(s, Rules(categories=ALL)) == {"old": Category.VOLUMES}
    assert why(s, "volume data", Rules(categories=ALL)) == "mounted by a container"


def test_a_volume_of_a_stopped_container_being_removed_is_free_to_go() -> None:
    s = scan(containers=(container("scratch", "i", volumes=("tmpdata",)),),
             volumes={"tmpdata": 5 * MB})
    assert targets(s, Rules(categories=ALL))["tmpdata"] is Category.VOLUMES
    assert "tmpdata" not in targets(s, Rules(categories=ALL - {Category.STOPPED}))


# -- files -------------------------------------------------------------------------

def old(path: str, size: int = MB, age_days: float = 30) -> File:
    return File(path, size, NOW - age_days * DAY)


def test_tmp_files_only_old_closed_and_inside_tmp() -> None:
    s = scan(tmp=(old("/tmp/a"), old("/var/tmp/b"), old("/tmp/open"), old("/tmp/new", age_days=1),
                  old("/etc/passwd"), old("/tmp/../etc/shadow")),
             open_files=frozenset({"/tmp/open"}))
    assert targets(s) == {"/tmp/a": Category.TMP, "/var/tmp/b": Category.TMP}
    assert why(s, "/tmp/open") == "open by a process"
    assert why(s, "/tmp/new") == "younger than 7 days"
    assert why(s, "/etc/passwd") == "not in /tmp or /var/tmp"
    assert why(s, "/tmp/../etc/shadow") == "not in /tmp or /var/tmp"


def test_the_tmp_threshold_is_the_rules() -> None:
    s = scan(tmp=(old("/tmp/a", age_days=2),))
    assert targets(s, Rules(tmp_age_days=1)) == {"/tmp/a": Category.TMP}
    assert targets(s, Rules(tmp_age_days=3)) == {}


def test_core_dumps_only_in_their_directories_and_not_open() -> None:
    s = scan(cores=(old("/var/crash/a.crash"), old("/var/lib/systemd/coredump/core.x"),
                    old("/home/pi/core"), old("/var/crash/open")),
             open_files=frozenset({"/var/crash/open"}))
    assert set(targets(s)) == {"/var/crash/a.crash", "/var/lib/systemd/coredump/core.x"}


def test_the_journal_beyond_its_kept_size_and_only_with_journalctl() -> None:
    s = scan(journal=300 * MB)
    items = reclaimable(s, Rules(journal_keep_mb=100)).items
    assert [(i.category, i.target, i.bytes) for i in items] == [
        (Category.JOURNAL, str(100 * MB), 200 * MB)]
    assert targets(scan(journal=50 * MB)) == {}
    no_tool = scan(journal=300 * MB, tools=frozenset({"apt-get"}))
    assert targets(no_tool) == {}
    assert why(no_tool, "journal") == "no journalctl to vacuum it with"


def test_apt_cache_only_with_apt_get() -> None:
    assert targets(scan(apt=40 * MB)) == {"clean": Category.APT}
    assert targets(scan(apt=40 * MB, tools=frozenset())) == {}


def test_staging_left_by_a_broken_push_only_once_it_is_old() -> None:
    s = scan(staging=(old("/var/lib/fleet/incoming/abc", age_days=2),
                      old("/var/lib/fleet/incoming/now", age_days=0.1),
                      old("/var/lib/other/abc", age_days=9)))
    assert targets(s) == {"/var/lib/fleet/incoming/abc": Category.STAGING}


# -- categories, order, totals -------------------------------------------------------

def junk() -> Scan:
    return scan(containers=(container("web", "img-web", running=True, log=3 * MB),
                            container("dead", "img-x", size_rw=MB)),
                images=(image("img-web", "W"), image("img-x", "X", tags=("x/x:1",)),
                        image("img-d", "D")),
                layer_sizes=sizes(W=9, X=7, D=5), volumes={"v": MB},
                tmp=(old("/tmp/a", 2 * MB),), cores=(old("/var/crash/c", 4 * MB),),
                apt=6 * MB, journal=200 * MB)


def test_nothing_outside_the_categories_asked_for() -> None:
    for category in Category:
        items = reclaimable(junk(), Rules(categories=frozenset({category}))).items
        assert {i.category for i in items} <= {category}


def test_items_come_in_the_playbooks_order_plain_files_first() -> None:
    order = list(Category)
    categories = [i.category for i in reclaimable(junk(), Rules(categories=ALL)).items]
    assert categories == sorted(categories, key=order.index)
    assert categories[0] is Category.TMP


def test_totals_per_category_and_the_disk_after() -> None:
    found = reclaimable(junk())
    by = found.by_category()
    assert by[Category.TMP] == (1, 2 * MB)
    assert by[Category.JOURNAL] == (1, 100 * MB)
    assert found.bytes == sum(b for _, b in by.values())
    assert found.used_after == 900 * MB - found.bytes
    assert Category.VOLUMES not in by


# -- the controller's policy ---------------------------------------------------------

def test_policy_thresholds_must_be_ordered() -> None:
    for high, low in ((80, 85), (85, 85), (101, 80), (85, 0)):
        with pytest.raises(ValueError, match="cleanup policy"):
            Policy(high_pct=high, low_pct=low)


def test_policy_is_due_only_above_the_high_water_mark() -> None:
    p = Policy()
    assert not p.due(85, 100)
    assert p.due(86, 100)
    assert not p.due(5, 0)


def test_policy_takes_only_safe_items_and_stops_at_the_low_water_mark() -> None:
    s = replace(junk(), disk=Disk(total=1000 * MB, used=900 * MB))
    chosen = for_policy(reclaimable(s, Rules(categories=ALL)), Policy(high_pct=85, low_pct=80))
    assert {i.category for i in chosen.items} <= SAFE
    # tmp 2 + cores 4 + apt 6 = 12 MB, then the journal's 100 MB crosses 800 MB: stop there.
    assert [i.category for i in chosen.items] == [Category.TMP, Category.CORES, Category.APT,
                                                  Category.JOURNAL]
    assert chosen.used_after <= 800 * MB


def test_policy_reclaims_nothing_below_its_low_water_mark() -> None:
    s = replace(junk(), disk=Disk(total=1000 * MB, used=500 * MB))
    assert for_policy(reclaimable(s), Policy()).items == ()


def test_policy_never_takes_anothers_stopped_container_or_tagged_image() -> None:
    assert Category.STOPPED not in SAFE
    assert Category.UNUSED_IMAGES not in SAFE
    assert Category.VOLUMES not in SAFE
    chosen = for_policy(reclaimable(junk(), Rules(categories=ALL)),
                        Policy(high_pct=10, low_pct=1))
    assert {i.target for i in chosen.items}.isdisjoint({"c-dead", "img-x", "v"})


def test_down_to_takes_the_fewest_items_in_order_that_reach_the_target() -> None:
    found = reclaimable(junk(), Rules(categories=ALL))
    assert [i.category for i in down_to(found, 897 * MB).items] == [Category.TMP, Category.CORES]
    assert down_to(found, 900 * MB).items == ()
    everything = down_to(found, 0)
    assert {i.category for i in everything.items} == SAFE & {i.category for i in found.items}


def test_due_devices_are_over_the_mark_idle_and_past_their_cooldown() -> None:
    disks = {"full": (90, 100), "fine": (50, 100), "busy": (95, 100), "recent": (95, 100),
             "long-ago": (95, 100), "unknown": (5, 0)}
    assert due(disks, Policy(), now=1000.0, busy={"busy"},
               last_run={"recent": 900.0, "long-ago": 100.0}, cooldown_s=600) == [
        "full", "long-ago"]
    assert due({"new": (99, 100)}, Policy(), now=0.0) == ["new"]


def test_the_names_cleanup_relies_on_are_the_deploys() -> None:
    # fleet.cleanup.rules is pure, so it cannot import them from the deploy's IO modules.
    from fleet.cleanup import rules as cleanup
    from fleet.deploy import facts, push

    assert cleanup.PREVIOUS == facts.PREVIOUS
    assert cleanup.STAGING_DIR == push.STAGING + "/"


def test_deciding_what_to_reclaim_imports_no_io_library() -> None:
    loaded = loaded_by("fleet.cleanup.rules")
    assert among(loaded, ("paramiko", "docker", "paho", "socket", "subprocess", "sqlite3")) == []
    assert fleet_modules(loaded) == ["fleet", "fleet.cleanup", "fleet.cleanup.rules"]


def test_the_steps_of_a_local_build_are_neither_reclaimed_nor_listed() -> None:
    s = scan(containers=(container("agent", "img-agent", running=True),),
             images=(image("img-agent", "B", "S1", "S2", tags=("fleet/agent:1",)),
                     image("img-step1", "B", "S1"), image("img-step0", "B"),
                     image("img-env", "B", "S1", "S2"),  # an ENV step: no layer of its own
                     image("img-loose", "B", "Z")),
             layer_sizes=sizes(B=100, S1=1, S2=2, Z=3))
    found = reclaimable(s)
    assert [(i.target, i.category, i.bytes) for i in found.items] == [
        ("img-loose", Category.DANGLING, 3 * MB)]
    assert {k.label for k in found.kept} == {"agent", "fleet/agent:1"}
