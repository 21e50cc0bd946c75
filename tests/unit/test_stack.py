"""Compose stack files -> Services: sizes, CPUs, ports, constraints, x-fleet, and pointed errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.config import stack
from fleet.errors import ConfigError
from fleet.model import Arch, PortRange, PortWant, Resources, Strategy

EXAMPLES = Path(__file__).parents[2] / "examples"


def y(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def web(*extra: str) -> str:
    return y("services:", "  web:", "    image: fleet/workload:latest", *extra)


@pytest.mark.parametrize(("text", "mb"), [
    ("256M", 256), ("256m", 256), ("256mb", 256), ("256MB", 256), ("1.5G", 1536),
    ("1g", 1024), ("2GB", 2048), ("1024k", 1), ("1536kb", 2), ("100b", 1), ("0", 0),
    (1048576, 1), (3 * 2**20 + 1, 4), (" 64M ", 64),
])
def test_sizes_are_read_in_mib_rounded_up(text: object, mb: int) -> None:
    assert stack.size_mb(text) == mb


@pytest.mark.parametrize("text", ["lots", "", "1.5X", "-5M", "M", "1e3M", "5 M B", True, 1.5,
                                  None, "1.2.3G"])
def test_bad_sizes_say_what_a_size_looks_like(text: object) -> None:
    with pytest.raises(ConfigError, match=r"expected a size like 256M or 1\.5G"):
        stack.size_mb(text)


@pytest.mark.parametrize(("text", "millis"), [("0.5", 500), ("2", 2000), (1, 1000),
                                              (0.25, 250), ("0.0001", 1)])
def test_cpus_are_read_in_millicores(text: object, millis: int) -> None:
    assert stack.cpu_millis(text) == millis


@pytest.mark.parametrize("text", ["half", "-1", "nan", "inf", True, None, "2000"])
def test_bad_cpus_are_rejected(text: object) -> None:
    with pytest.raises(ConfigError, match="number of CPUs"):
        stack.cpu_millis(text)


@pytest.mark.parametrize(("text", "wants"), [
    ("3067:80", [PortWant(80, 3067)]),
    ("80", [PortWant(80)]),
    (80, [PortWant(80)]),
    ("127.0.0.1:3067:80", [PortWant(80, 3067)]),
    ("3067:53/udp", [PortWant(53, 3067, "udp")]),
    ("3067-3069:80-82", [PortWant(80, 3067), PortWant(81, 3068), PortWant(82, 3069)]),
    ("3000-3005:80", [PortWant(80, None, "tcp", PortRange(3000, 3005))]),
    ("80-81", [PortWant(80), PortWant(81)]),
])
def test_short_port_syntax(text: object, wants: list[PortWant]) -> None:
    assert list(stack.ports(text)) == wants


@pytest.mark.parametrize(("text", "message"), [
    ("http", "port number"), ("70000:80", "port number"), ("3067:80/icmp", "protocol"),
    ("3067-3068:80-82", "differ in size"), ("0:80", "port number"), (None, "expected a port"),
])
def test_bad_ports_name_the_problem(text: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stack.ports(text)


@pytest.mark.parametrize(("text", "kind", "key", "equal", "value"), [
    ("node.labels.site == shed", "label", "site", True, "shed"),
    ("node.labels.tier!=edge", "label", "tier", False, "edge"),
    ("node.platform.arch == aarch64", "arch", "", True, "arm64"),
    ("node.platform.arch != x86_64", "arch", "", False, "amd64"),
    ("node.hostname == pi-1", "hostname", "", True, "pi-1"),
])
def test_constraints(text: str, kind: str, key: str, equal: bool, value: str) -> None:
    c = stack.constraint(text)
    assert (c.kind, c.key, c.equal, c.value, c.text) == (kind, key, equal, value, text.strip())


@pytest.mark.parametrize(("text", "message"), [
    ("node.role == manager", "unsupported constraint 'node.role'"),
    ("node.platform.os == linux", "unsupported constraint 'node.platform.os'"),
    ("node.platform.arch == sparc", "unknown architecture 'sparc'"),
    ("site == shed", "expected a constraint like"),
    ("node.labels.site = shed", "expected a constraint like"),
])
def test_bad_constraints_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stack.constraint(text)


def test_a_full_service_is_read() -> None:
    (s,) = stack.loads(web(
        "    platform: linux/arm64",
        "    environment: {A: '1'}",
        "    ports: ['3067:80', '81', {target: 53, published: 5353, protocol: udp}]",
        "    deploy:",
        "      replicas: 2",
        "      restart_policy: {condition: on-failure}",
        "      resources:",
        "        limits: {memory: 256M, cpus: '0.5'}",
        "        reservations: {memory: 128M, cpus: '0.25'}",
        "      placement:",
        "        constraints: ['node.labels.site == shed']",
        "        max_replicas_per_node: 2",
        "    x-fleet:",
        "      disk: {image: 120M, volumes: 1G, logs: 50M}",
        "      ports: 3067-3200",
        "      strategy: spread",
        "      latency_sensitive: true",
    ))
    assert s.name == "web" and s.image == "fleet/workload:latest" and s.replicas == 2
    assert s.request == Resources(mem_mb=128, disk_mb=120 + 1024 + 50, cpu_millis=250)
    assert s.archs == frozenset({Arch.ARM64})
    assert s.ports == (PortWant(80, 3067), PortWant(81), PortWant(53, 5353, "udp"))
    assert s.port_range == PortRange(3067, 3200)
    assert s.strategy is Strategy.SPREAD and s.latency_sensitive and s.max_per_device == 2
    assert [c.text for c in s.constraints] == ["node.labels.site == shed"]
    assert s.extra["environment"] == {"A": "1"}
    assert s.extra["deploy"]["restart_policy"] == {"condition": "on-failure"}  # type: ignore[index]
    assert "x-fleet" not in s.extra


def test_defaults_and_limits_when_no_reservation() -> None:
    (s,) = stack.loads(web("    deploy: {resources: {limits: {memory: 64M, cpus: '2'}}}"))
    # Memory at its limit; a CPU limit is a cap on a shared resource, not a claim.
    assert s.request == Resources(mem_mb=64, disk_mb=0, cpu_millis=0)
    assert (s.replicas, s.archs, s.gpu, s.strategy, s.max_per_device) == (
        1, frozenset(), False, Strategy.PACK, 1)


@pytest.mark.parametrize("extra", [
    ("    x-fleet: {gpu: true}",),
    ("    runtime: nvidia",),
    ("    deploy:", "      resources:", "        reservations:",
     "          devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]"),
])
def test_gpu_is_asked_for_three_ways(extra: tuple[str, ...]) -> None:
    assert stack.loads(web(*extra))[0].gpu


def test_x_fleet_arch_lists_what_the_image_is_published_for() -> None:
    (s,) = stack.loads(web("    platform: linux/arm64", "    x-fleet: {arch: [arm64, amd64]}"))
    assert s.archs == frozenset({Arch.ARM64, Arch.AMD64})


@pytest.mark.parametrize(("extra", "line", "field", "message"), [
    (("    deploy:", "      resources:", "        limits:", "          memory: lots"), 7,
     "services.web.deploy.resources.limits.memory",
     r"expected a size like 256M or 1\.5G, got 'lots'"),
    (("    deploy: {replicas: many}",), 4, "services.web.deploy.replicas", "integer 0-10000"),
    (("    ports: ['3067:80', 'http']",), 4, "services.web.ports[1]", "port number"),
    (("    x-fleet: {disk: huge}",), 4, "services.web.x-fleet.disk", "expected a size"),
    (("    x-fleet: {strategy: scatter}",), 4, "services.web.x-fleet.strategy", "pack or spread"),
    (("    x-fleet: {gpus: true}",), 4, "services.web.x-fleet.gpus", "did you mean 'gpu'"),
    (("    x-fleet: {ports: 3200-3067}",), 4, "services.web.x-fleet.ports", "port range"),
    (("    platform: windows/amd64",), 4, "services.web.platform", "linux/arm64"),
    (("    deploy:", "      placement:", "        constraints: ['node.role == manager']"), 6,
     "services.web.deploy.placement.constraints[0]", "unsupported constraint"),
    (("    deploy: {mode: everywhere}",), 4, "services.web.deploy.mode", "replicated or global"),
])
def test_errors_name_file_line_service_and_field(extra: tuple[str, ...], line: int, field: str,
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        stack.loads(web(*extra), "stack.yaml")
    assert (e.value.path, e.value.line, e.value.field) == ("stack.yaml", line, field)
    assert str(e.value).startswith(f"stack.yaml:{line}: {field}: ")


@pytest.mark.parametrize(("text", "message"), [
    ("", "a compose file"), ("services: {}\n", "no services"), ("version: '3'\n", "required"),
    ("services:\n  web: {ports: ['80']}\n", "required: an image"),
    ("services:\n  'bad name': {image: x}\n", "invalid service name"),
    ("services: [web]\n", "mapping"), ("services:\n  web: [x]\n", "mapping"),
    ("services:\n  web:\n    image: [\n", "invalid YAML"),
])
def test_bad_files_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stack.loads(text, "stack.yaml")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such stack file"):
        stack.load(tmp_path / "nope.yaml")


def test_unknown_compose_keys_pass_through() -> None:
    (s,) = stack.loads(y("version: '3.8'", "networks: {lan: {}}", "services:", "  web:",
                         "    image: x", "    healthcheck: {test: [CMD, true]}",
                         "    x-other: {kept: 1}"))
    assert s.extra["healthcheck"] == {"test": ("CMD", True)}
    assert s.extra["x-other"] == {"kept": 1}


def test_the_examples_load() -> None:
    big = stack.load(EXAMPLES / "pi4b-136.compose.yaml")
    assert len(big) == 136 and len({s.name for s in big}) == 136
    assert all(6 <= s.request.mem_mb <= 44 and s.request.mem_mb < s.mem_limit_mb for s in big)
    assert sum(1 for s in big if s.port_range == PortRange(3067, 3200)) == 134
    mixed = {s.name: s for s in stack.load(EXAMPLES / "mixed-gpu.compose.yaml")}
    assert mixed["detector"].gpu and mixed["pump-controller"].latency_sensitive
    assert {s.name for s in stack.load(EXAMPLES / "too-big.compose.yaml")} >= {"llm", "web"}


@given(st.text(max_size=30))
def test_any_size_text_raises_only_config_errors(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert stack.size_mb(text) >= 0


@given(st.one_of(st.text(max_size=30), st.integers()))
def test_any_port_text_raises_only_config_errors(text: str | int) -> None:
    try:
        for want in stack.ports(text):
            assert 1 <= want.container <= 65535
    except ConfigError:
        pass


@given(st.text(max_size=30))
def test_any_memory_value_in_a_file_raises_only_config_errors(text: str) -> None:
    doc = web("    deploy:", "      resources:", "        limits:",
              f"          memory: {json.dumps(text)}")
    with contextlib.suppress(ConfigError):
        stack.loads(doc)
