"""The deploy use case on fake boards: it records, then applies; a failure stays one device's;
a full board is made room on (or refused); a dry run changes nothing."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fleet.actions.deploy import MAKE_ROOM_EVENT, Collaborators, Options, Recorder, deploy
from fleet.config.stack import Stack, loads_stack
from fleet.deploy.images import ImageSource
from fleet.health.store import Store
from fleet.model import Arch, Device, SshTarget
from fleet.ssh import playbooks
from fleet.ssh.connection import Connection, FakeConnection, Result
from tests import kit
from tests.unit.test_deploy_images import APP1, BASE, archive

MB = 1 << 20
NOW = 1_800_000_000.0
SCRIPTS = {name: playbooks.script(name).encode() for name in ("status", "scan", "cleanup",
                                                               "apply")}


@dataclass
class Board:
    """A board as its playbooks answer: its disk, its images, and what it was asked to do."""

    id: str
    total_mb: int = 30_000
    free_mb: int = 20_000
    images: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # ref -> id, diffs
    junk_mb: int = 0  # an old file in /tmp the cleanup policy may take
    volumes: tuple[str, ...] = ()  # volumes no container mounts
    apply_fails: str = ""  # the apply playbook reports this container failed
    down: bool = False  # every command fails as ssh does when the board is gone
    others: tuple[str, ...] = ()  # `docker ps` lines of containers not fleet's
    ran: list[str] = field(default_factory=list)  # playbooks run, and pushes
    log: list[str] = field(default_factory=list)  # shared with the recorder: the order of all
    reclaimed: list[str] = field(default_factory=list)
    user: str = "root"  # its login; any other must become root through `sudo -n`
    sudo_password: bool = False  # its sudo wants a password, as sudo -n says
    unprivileged: list[str] = field(default_factory=list)  # commands run without sudo as `user`

    @property
    def device(self) -> Device:
        """The inventory's entry for this board: a Pi 4B, of the arch the board says (x86_64)."""
        return kit.device(self.id, arch=Arch.AMD64, ssh=SshTarget(user=self.user))

    def connection(self) -> FakeConnection:
        return FakeConnection(self.handle, device=self.id, user=self.user)

    def handle(self, command: str, stdin: bytes) -> Result | tuple[int, str]:
        if self.down:
            return Result(command, 255, b"", b"ssh: connect to host: no route to host")
        if self.user != "root":
            words = shlex.split(command)
            if words[:4] != ["sudo", "-n", "sh", "-c"] or len(words) != 5:
                self.unprivileged.append(command)
                return Result(command, 1, b"", b"permission denied")
            if self.sudo_password:
                return Result(command, 1, b"", b"sudo: a password is required\n")
            command = words[4]
        playbook = {"status": self._status, "scan": self._scan, "cleanup": self._cleanup,
                    "apply": self._apply}
        for name, script in SCRIPTS.items():
            if stdin.startswith(script):
                self.ran.append(name)
                self.log.append(f"{name} {self.id}")
                return playbook[name](stdin[len(script):].decode())
        if "for h in " in command:  # the push's probe: nothing staged yet
            self.ran.append("probe")
            hexes = command.split("for h in ", 1)[1].split(";", 1)[0].split()
            return 0, "".join(f"{h} 0\n" for h in hexes)
        if "docker load" in command:
            self.ran.append("load")
            return 0, ""
        if stdin:
            self.ran.append("stage")
            return 0, ""
        return 1, f"unexpected command {command[:60]!r}"

    def _df(self) -> str:
        used = self.total_mb - self.free_mb
        return f"/dev/root {self.total_mb * 1024} {used * 1024} {self.free_mb * 1024} 50% /\n"

    def _status(self, _then: str) -> tuple[int, str]:
        images = "".join(f"{image_id}\t{json.dumps([ref])}\t{json.dumps(list(diffs))}\n"
                         for ref, (image_id, diffs) in self.images.items())
        return 0, (f"### arch\nx86_64\n### docker\n24.0.5\n### disk\n{self._df()}"
                   f"### containers\n{''.join(self.others)}### images\n{images}### files\n")

    def _scan(self, _then: str) -> tuple[int, str]:
        tmp = f"{self.junk_mb * MB}\t1700000000\t/tmp/junk\n" if self.junk_mb else ""
        volumes = "".join(f"{4 * MB}\t{name}\n" for name in self.volumes)
        return 0, (f"### now\n{NOW:.0f}\n### disk\n{self._df()}### tmp\n{tmp}"
                   f"### volumes\n{volumes}")

    def _cleanup(self, then: str) -> tuple[int, str]:
        lines = []
        for call in then.splitlines():  # `fleet_CATEGORY TARGET`, then `fleet_disk`
            function, _, target = call.partition(" ")
            if not target:
                continue
            self.reclaimed.append(target)
            if target == "/tmp/junk":
                self.free_mb, self.junk_mb = self.free_mb + self.junk_mb, 0
            category = function.removeprefix("fleet_").replace("_", "-")
            lines.append(f"reclaimed {category} {target}")
        return 0, "\n".join(lines) + f"\n### disk\n{self._df()}"

    def _apply(self, then: str) -> tuple[int, str]:
        if self.apply_fails:
            return 0, f"failed {self.apply_fails} the engine said no\n"
        return 0, "created shop-web-0\n"


# Two replicas publishing one port: one on each board.
STACK = ("name: shop\nservices:\n  web:\n    image: fleet/app:1\n    ports: ['8080:80']\n"
         "    deploy:\n      replicas: 2\n")
APP_ID = "sha256:" + "1" * 64
ON_BOARD = {"fleet/app:1": (APP_ID, ("sha256:" + "2" * 64,))}


def outcomes(record: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """A recorded deploy's devices: id -> status, detail."""
    devices = record["devices"]
    assert isinstance(devices, dict)
    return devices


def stack(tmp_path: Path) -> Stack:
    return loads_stack(STACK, str(tmp_path / "shop.yaml"))


@dataclass
class Logged:
    """The store, each call to it logged beside what the boards were asked to do."""

    store: Store
    log: list[str]

    def deployment_started(self, at: float, stack: str, plan: str,
                           devices: Mapping[str, str]) -> int:
        self.log.append("recorded")
        return self.store.deployment_started(at, stack, plan, devices)

    def deployment_finished(self, deployment: int, at: float,
                            results: Mapping[str, tuple[bool, str]]) -> None:
        self.log.append("finished")
        self.store.deployment_finished(deployment, at, results)

    def event(self, at: float, device: str, kind: str, detail: str = "") -> None:
        self.log.append(f"event {device}")
        self.store.event(at, device, kind, detail)


@dataclass
class Fleet:
    """Boards by id, the store the deploy records in, and every connection opened."""

    boards: dict[str, Board]
    store: Store
    opened: list[str] = field(default_factory=list)

    def connect(self, d: Device) -> Connection:
        self.opened.append(d.id)
        return self.boards[d.id].connection()

    @contextlib.contextmanager
    def recorder(self) -> Iterator[Recorder]:
        yield Logged(self.store, self.log)

    @property
    def devices(self) -> list[Device]:
        return [board.device for board in self.boards.values()]

    @property
    def log(self) -> list[str]:
        return next(iter(self.boards.values())).log

    def using(self, source: ImageSource | None = None) -> Collaborators:
        ticks = iter(range(1000))
        return Collaborators(self.connect, source, self.recorder,
                             clock=lambda: NOW + next(ticks))

    def run(self, tmp_path: Path, source: ImageSource | None = None,
            **options: Any) -> Any:
        return deploy(stack(tmp_path), self.devices, self.using(source), Options(**options))


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with Store(tmp_path / "fleet.db") as store:
        log: list[str] = []
        yield Fleet({d: Board(d, images=dict(ON_BOARD), log=log) for d in ("pi-01", "pi-02")},
                    store)


def test_a_fresh_deploy_is_recorded_before_any_board_changes_then_applied(
        fleet: Fleet, tmp_path: Path) -> None:
    def before_acting(prepared: Any) -> None:
        fleet.log.append(f"diff of {sorted(prepared.steps)} shown")

    done = deploy(stack(tmp_path), fleet.devices, fleet.using(),
                  before_acting=before_acting)
    assert done.ok and done.acted
    assert sorted(fleet.log[:2]) == ["status pi-01", "status pi-02"]
    assert fleet.log[2:4] == ["diff of ['pi-01', 'pi-02'] shown", "recorded"]
    assert sorted(fleet.log[4:6]) == ["apply pi-01", "apply pi-02"]
    assert fleet.log[6:] == ["finished"]
    assert [r.device for r in done.results] == ["pi-01", "pi-02"]
    assert all(b.ran == ["status", "apply"] for b in fleet.boards.values())
    [record] = fleet.store.deployments()
    assert record["id"] == done.deployment and record["stack"] == "shop"
    assert record["status"] == "ok"
    assert outcomes(record) == {d: {"status": "ok", "detail": ""} for d in ("pi-01", "pi-02")}
    assert json.loads(json.dumps(done.json()))["deployment"] == done.deployment


def test_a_failing_device_leaves_the_others_applied_and_the_record_says_which(
        fleet: Fleet, tmp_path: Path) -> None:
    fleet.boards["pi-01"].apply_fails = "shop-web-0"
    done = fleet.run(tmp_path)
    assert not done.ok
    assert [(r.device, r.ok) for r in done.results] == [("pi-01", False), ("pi-02", True)]
    assert fleet.boards["pi-02"].ran == ["status", "apply"]
    [record] = fleet.store.deployments()
    assert record["status"] == "failed"
    assert outcomes(record) == {"pi-01": {"status": "failed",
                                          "detail": "shop-web-0: the engine said no"},
                                "pi-02": {"status": "ok", "detail": ""}}


def test_an_unreachable_device_is_failed_and_the_others_deploy(fleet: Fleet,
                                                               tmp_path: Path) -> None:
    fleet.boards["pi-01"].down = True
    done = fleet.run(tmp_path)
    assert {r.device: r.ok for r in done.results} == {"pi-01": False, "pi-02": True}
    assert "no route" in next(r.error for r in done.results if r.device == "pi-01")
    assert outcomes(fleet.store.deployments()[0])["pi-01"]["status"] == "failed"


def test_a_dry_run_changes_nothing_and_records_nothing(fleet: Fleet, tmp_path: Path) -> None:
    done = fleet.run(tmp_path, dry_run=True)
    assert done.ok and not done.acted and done.dry_run
    assert done.results == ()
    assert all(b.ran == ["status"] for b in fleet.boards.values())
    assert fleet.store.deployments() == []
    assert done.prepared.steps["pi-01"].changes  # what would change is there to show
    assert done.json()["dry_run"] is True


def test_a_stack_that_does_not_fit_changes_nothing(fleet: Fleet, tmp_path: Path) -> None:
    huge = loads_stack(STACK + "      resources:\n        reservations:\n"
                       "          memory: 64g\n", str(tmp_path / "shop.yaml"))
    done = deploy(huge, [fleet.boards["pi-01"].device], fleet.using())
    assert done.unplaced and not done.ok and not done.acted
    assert fleet.boards["pi-01"].ran == ["status"]
    assert fleet.store.deployments() == []


@pytest.fixture
def source(tmp_path: Path) -> ImageSource:
    shelf = tmp_path / "images"
    shelf.mkdir()
    archive(shelf, "fleet/app:1", [BASE, APP1])
    return ImageSource([shelf], engine=False)


def full_board(fleet: Fleet) -> Board:
    """pi-01 lacks the image and is too full for it, with an old 1 GB file in /tmp."""
    board = fleet.boards["pi-01"]
    board.images.clear()
    board.total_mb, board.free_mb, board.junk_mb = 4000, 100, 1000
    return board


def test_a_full_board_is_made_room_on_and_that_is_an_event(fleet: Fleet, tmp_path: Path,
                                                           source: ImageSource) -> None:
    board = full_board(fleet)
    done = fleet.run(tmp_path, source)
    result = next(r for r in done.results if r.device == "pi-01")
    assert result.ok, result.error
    assert board.reclaimed == ["/tmp/junk"]
    assert board.ran[:3] == ["status", "scan", "cleanup"]  # room made before the push
    assert "stage" in board.ran and board.ran[-1] == "apply"
    assert result.room == "reclaimed 1000 MB first"
    events = [(e.kind, e.detail) for e in fleet.store.events("pi-01")]
    assert events == [(MAKE_ROOM_EVENT, "reclaimed 1000 MB first")]
    assert fleet.log[-2:] == ["finished", "event pi-01"]


def test_a_full_board_is_refused_without_make_room_and_sent_nothing(
        fleet: Fleet, tmp_path: Path, source: ImageSource) -> None:
    board = full_board(fleet)
    done = fleet.run(tmp_path, source, make_room=False)
    result = next(r for r in done.results if r.device == "pi-01")
    assert not result.ok and "refused, nothing sent" in result.error
    assert board.ran == ["status"] and board.reclaimed == []
    assert fleet.store.events("pi-01") == []
    assert next(r for r in done.results if r.device == "pi-02").ok


def test_a_board_logged_in_as_pi_is_read_made_room_on_pushed_and_applied_as_root(
        fleet: Fleet, tmp_path: Path, source: ImageSource) -> None:
    board = full_board(fleet)
    board.user = "pi"
    done = fleet.run(tmp_path, source)
    result = next(r for r in done.results if r.device == "pi-01")
    assert result.ok, result.error
    assert board.ran[:3] == ["status", "scan", "cleanup"]
    assert {"probe", "stage", "load"} <= set(board.ran) and board.ran[-1] == "apply"
    assert board.unprivileged == []


def test_a_board_whose_sudo_wants_a_password_is_that_boards_failure_and_left_alone(
        fleet: Fleet, tmp_path: Path) -> None:
    board = fleet.boards["pi-01"]
    board.user, board.sudo_password = "pi", True
    done = fleet.run(tmp_path)
    failed = next(r for r in done.results if r.device == "pi-01")
    assert not failed.ok
    assert failed.error == ("pi on pi-01 needs passwordless sudo: add `pi ALL=(ALL) NOPASSWD: "
                            "ALL` to /etc/sudoers.d/010_pi-nopasswd (or log in as root)")
    assert board.ran == []
    assert next(r for r in done.results if r.device == "pi-02").ok
