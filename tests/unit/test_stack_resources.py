"""Memory and CPU as compose means them: every form, their precedence, the estimate, --strict,
limits past a board, and the 136-service example back on one Pi 4B."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet import profiles
from fleet.actions.plan import plan as plan_stack
from fleet.cli import EXIT_BAD_INPUT, EXIT_OK, main
from fleet.config import resources, stack
from fleet.errors import ConfigError
from fleet.render.plan import plan_json, render
from fleet.scheduler import OVERHEAD_MB, plan
from tests.kit import device, service

EXAMPLES = Path(__file__).parents[2] / "examples"
DEMO_FLEET = "pi4b-8g:4,pi4b-2g,jetson-orin-nano-8g"
DEFAULT = resources.DEFAULT_MEM_ESTIMATE_MB


def web(*lines: str, top: tuple[str, ...] = ()) -> str:
    return "\n".join([*top, "services:", "  web:", "    image: fleet/workload:latest",
                      *(f"    {line}" for line in lines)]) + "\n"


def deploy(limits: str = "", reservations: str = "") -> tuple[str, ...]:
    lines = ["deploy:", "  resources:"]
    if limits:
        lines.append(f"    limits: {limits}")
    if reservations:
        lines.append(f"    reservations: {reservations}")
    return tuple(lines)


# (lines of the service, top-level lines) -> (counted MiB, assumed, limit MiB, CPU counted,
# CPU limit), all in millicores for CPU.
FORMS = [
    ((), (), (DEFAULT, True, 0, 0, 0)),
    (("mem_limit: 256m",), (), (256, False, 256, 0, 0)),
    (("mem_reservation: 64m",), (), (64, False, 0, 0, 0)),
    (("mem_limit: 256m", "mem_reservation: 64m"), (), (64, False, 256, 0, 0)),
    (deploy(limits="{memory: 512M}"), (), (512, False, 512, 0, 0)),
    (deploy(reservations="{memory: 100M}"), (), (100, False, 0, 0, 0)),
    (deploy("{memory: 200M}", "{memory: 100M}"), (), (100, False, 200, 0, 0)),
    # both forms, the same figure in other units: compose accepts it
    (("mem_limit: 1g", *deploy(limits="{memory: 1024M}")), (), (1024, False, 1024, 0, 0)),
    (("mem_reservation: 64mb", *deploy(reservations="{memory: 65536k}")), (),
     (64, False, 0, 0, 0)),
    (("mem_limit: 268435456",), (), (256, False, 256, 0, 0)),
    (("mem_limit: 1.5gb",), (), (1536, False, 1536, 0, 0)),
    (("mem_limit: 8192kb",), (), (8, False, 8, 0, 0)),
    (("mem_limit: 7340033b",), (), (8, False, 8, 0, 0)),  # rounded up to whole MiB
    (("mem_limit: 256m", "memswap_limit: 512m"), (), (256, False, 256, 0, 0)),
    (("mem_limit: 256m", "memswap_limit: -1"), (), (256, False, 256, 0, 0)),
    (("cpus: 0.5",), (), (DEFAULT, True, 0, 0, 500)),
    (deploy(limits="{cpus: '1.5'}"), (), (DEFAULT, True, 0, 0, 1500)),
    (deploy(reservations="{cpus: '0.25'}"), (), (DEFAULT, True, 0, 250, 0)),
    (("cpus: 2", *deploy(limits="{cpus: '2'}")), (), (DEFAULT, True, 0, 0, 2000)),
    (deploy("{cpus: '2', memory: 1G}", "{cpus: '0.5', memory: 256M}"), (),
     (256, False, 1024, 500, 2000)),
    # the estimate: the service's own is a figure; the stack's and fleet's are assumed
    (("x-fleet: {mem_estimate: 300M}",), (), (300, False, 0, 0, 0)),
    ((), ("x-fleet: {mem_estimate: 64M}",), (64, True, 0, 0, 0)),
    (("x-fleet: {mem_estimate: 300M}",), ("x-fleet: {mem_estimate: 64M}",),
     (300, False, 0, 0, 0)),
    (("mem_limit: 256m", "x-fleet: {mem_estimate: 300M}"), (), (256, False, 256, 0, 0)),
]


@pytest.mark.parametrize(("lines", "top", "want"), FORMS)
def test_memory_and_cpu_in_every_form(lines: tuple[str, ...], top: tuple[str, ...],
                                      want: tuple[int, bool, int, int, int]) -> None:
    (s,) = stack.loads(web(*lines, top=top))
    assert (s.request.mem_mb, s.mem_assumed, s.mem_limit_mb, s.request.cpu_millis,
            s.cpu_limit_millis) == want


ERRORS = [
    # both forms, different values: docker compose refuses the file, and so does fleet
    (("mem_limit: 256M", *deploy(limits="{memory: 512M}")), "services.web.mem_limit",
     "can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"),
    (("mem_limit: 256M", *deploy(limits="{cpus: '1'}")), "services.web.mem_limit",
     "deploy.resources.limits.memory is not set"),
    (("mem_reservation: 64M", *deploy(reservations="{memory: 32M}")),
     "services.web.mem_reservation", "'mem_reservation' and "
     "'deploy.resources.reservations.memory'"),
    (("cpus: 1", *deploy(limits="{cpus: '2'}")), "services.web.cpus",
     "can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'"),
    (("pids_limit: 100", *deploy(limits="{pids: 200}")), "services.web.pids_limit",
     "can't set distinct values on 'pids_limit' and 'deploy.resources.limits.pids'"),
    # what dockerd would refuse at `docker run`
    (("mem_limit: 256M", "mem_reservation: 512M"), "services.web.mem_reservation",
     "reservation 512M is over the limit 256M"),
    (deploy("{memory: 256M}", "{memory: 1G}"),
     "services.web.deploy.resources.reservations.memory", "over the limit"),
    (("mem_limit: 4M",), "services.web.mem_limit", "under 6M"),
    (deploy(reservations="{memory: 1M}"), "services.web.deploy.resources.reservations.memory",
     "under 6M"),
    (("memswap_limit: 512M",), "services.web.memswap_limit", "needs a memory limit"),
    (("mem_limit: 256M", "memswap_limit: 128M"), "services.web.memswap_limit",
     "under the memory limit"),
    (("mem_limit: lots",), "services.web.mem_limit", "expected a size like 256M"),
    (("cpus: half",), "services.web.cpus", "number of CPUs"),
    # refused by name rather than ignored
    (("cpu_count: 2",), "services.web.cpu_count", "cpu_count is for Windows containers"),
    (("cpu_percent: 50",), "services.web.cpu_percent", "cpu_percent is for Windows"),
    (deploy("{memory: 1G, bogus: 1}"), "services.web.deploy.resources.limits.bogus",
     "unknown key 'bogus'"),
    (deploy(reservations="{generic_resources: []}"),
     "services.web.deploy.resources.reservations.generic_resources",
     "unknown key 'generic_resources'"),
    (("x-fleet: {mem_estimate: 0}",), "services.web.x-fleet.mem_estimate", "at least 1M"),
]


@pytest.mark.parametrize(("lines", "field", "message"), ERRORS)
def test_what_compose_or_docker_refuses_is_refused_naming_the_field(
        lines: tuple[str, ...], field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        stack.loads(web(*lines), "stack.yaml")
    assert e.value.field == field and e.value.path == "stack.yaml" and e.value.line


def test_a_stack_wide_estimate_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="unknown key 'memory'") as e:
        stack.loads(web(top=("x-fleet: {memory: 64M}",)))
    assert e.value.field == "x-fleet.memory"


@pytest.mark.parametrize(("text", "size"), [
    ("2048b", 2048), ("1k", 1024), ("1kb", 1024), ("2m", 2 * 2**20), ("2mb", 2 * 2**20),
    ("1g", 2**30), ("1gb", 2**30), ("1.5G", 3 * 2**29), (4096, 4096), ("0", 0),
])
def test_sizes_in_bytes_as_compose_reads_them(text: object, size: int) -> None:
    assert resources.size_bytes(text) == size


# -- the estimate and --strict -------------------------------------------------------

def test_the_plan_says_which_memory_it_assumed() -> None:
    services = stack.loads(web() + "  db:\n    image: postgres\n    mem_limit: 256m\n")
    p = plan([device()], services)
    assert dict(p.assumed) == {"web": DEFAULT}
    assert p.devices[0].used.mem_mb == DEFAULT + 256 + 2 * OVERHEAD_MB
    assert plan_json(p)["assumed"] == [{"service": "web", "mem_mb": DEFAULT,
                                        "mem_assumed": True}]
    from rich.console import Console
    console = Console(width=200, record=True)
    console.print(render(p))
    assert f"memory assumed for 1 service with no figure: web {DEFAULT}M" in console.export_text()


def test_no_memory_figure_is_never_zero_mb() -> None:
    iotstack = "".join(f"  {name}:\n    image: {name}\n" for name in (
        "homeassistant", "influxdb", "mosquitto", "nodered", "grafana", "zigbee2mqtt",
        "portainer"))
    p = plan([device("zero", "pi-zero-2w")], stack.loads("services:\n" + iotstack))
    assert len(p.placements) < 7 and p.unplaced


def test_strict_refuses_services_with_no_figure_by_name() -> None:
    services = stack.loads(web() + "  db:\n    image: postgres\n    mem_limit: 256m\n"
                           "  cache:\n    image: redis\n")
    with pytest.raises(ConfigError, match=r"--strict: no memory figure for web, cache:"):
        resources.refuse_assumed(services)
    resources.refuse_assumed(services[1:2])  # db has a figure: nothing to refuse


@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_strict_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    command: str) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(web())
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("devices: {}\n")
    code = main([command, str(file), "--inventory", str(inventory), "--strict"])
    assert code == EXIT_BAD_INPUT
    assert "--strict: no memory figure for web" in capsys.readouterr().err


def test_without_strict_the_plan_counts_the_estimate(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(web())
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("devices: {}\n")
    code = main(["plan", str(file), "--inventory", str(inventory), "--what-if", "pi4b-8g",
                 "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert document["assumed"] == [{"service": "web", "mem_mb": DEFAULT, "mem_assumed": True}]
    assert document["devices"][0]["used"]["mem_mb"] == DEFAULT + OVERHEAD_MB


# -- limits past a board ----------------------------------------------------------------

def test_packed_by_the_reservation_run_with_the_limit() -> None:
    s = service(mem_mb=100, mem_limit_mb=1024)
    p = plan([device()], [s])
    assert not p.unplaced and p.devices[0].used.mem_mb == 100 + OVERHEAD_MB


def test_a_memory_limit_past_the_budget_is_a_reason() -> None:
    big = service("llm", mem_mb=512, mem_limit_mb=12 * 1024)
    small = [device("pi-1"), device("pi-2", "pi4b-4g")]
    p = plan(small, [big])
    (u,) = p.unplaced
    assert dict(u.reasons) == {"memory limit 12.0 GiB over the whole budget, at most 7.7 GiB": 2}
    p = plan([*small, device("agx", "jetson-agx-orin-32g")], [big])
    assert not p.unplaced and p.placements[0].device == "agx"


def test_a_cpu_limit_past_the_board_is_a_reason() -> None:
    s = service("encoder", cpu_limit_millis=6000)
    (u,) = plan([device()], [s]).unplaced
    assert dict(u.reasons) == {"CPU limit 6 over the board's CPUs, 4": 1}
    p = plan([device(), device("orin", "jetson-orin-nano-8g")], [s])
    assert [x.device for x in p.placements] == ["orin"]


def test_a_limit_within_the_budget_is_no_reason() -> None:
    s = service(mem_mb=64, mem_limit_mb=7840, cpu_limit_millis=4000)
    assert not plan([device()], [s]).unplaced


# -- the 136-service example ---------------------------------------------------------------

def test_the_136_service_example_is_one_pi4b_8g_on_the_demo_fleet() -> None:
    example = stack.load_stack(EXAMPLES / "pi4b-136.compose.yaml")
    planned = plan_stack(example, [], what_if=[DEMO_FLEET])
    p = planned.plan
    used = [d for d in p.devices if d.containers]
    assert not p.unplaced and len(p.placements) == 136 and not p.assumed
    assert [(d.profile, d.containers) for d in used] == [("pi4b-8g", 136)]
    (pi,) = used
    # as the real board: 3.6 GiB of memory with the OS, dockerd and the agent
    with_os = pi.used.mem_mb + profiles.get("pi4b-8g").reserved.mem_mb
    assert 3.5 <= with_os / 1024 <= 3.7
    assert 40 <= pi.pct("mem_mb") <= 45
    # the disk: 25 of 29 GB with the OS, so one card, with fleet's wear margin still free
    assert 90 <= pi.pct("disk_mb") < 100
    assert all(s.port_range is not None for s in example.services[:134])


def test_fleet_plan_of_the_example_on_one_pi4b(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("devices: {}\n")
    code = main(["plan", str(EXAMPLES / "pi4b-136.compose.yaml"), "--inventory",
                 str(inventory), "--what-if", "pi4b-8g", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and document["devices_used"] == 1
    assert {p["ports"][0].split(":")[0] for p in document["placements"] if p["ports"]} == {
        str(port) for port in range(3067, 3201)}
