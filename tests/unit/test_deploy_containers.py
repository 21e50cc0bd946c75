"""A placed replica -> its container: docker run options, and a revision that follows content."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config.stack import loads, loads_stack
from fleet.deploy import containers
from fleet.errors import ConfigError
from fleet.model import Placement, PortBinding

IMAGE_ID = "sha256:" + "1" * 64


def spec(service_yaml: str, *, image_id: str = IMAGE_ID, digests: dict[str, str] | None = None,
         ports: tuple[PortBinding, ...] = ()) -> containers.ContainerSpec:
    service = loads("services:\n  web:\n    image: fleet/web:1\n" + service_yaml)[0]
    return containers.spec("shop", service, Placement("web", 0, "pi-01", ports), image_id,
                           digests or {})


def test_defaults_rotate_logs_and_restart_unless_stopped() -> None:
    c = spec("")
    assert c.name == "shop-web-1"
    assert c.options == ("--restart", "unless-stopped", *containers.DEFAULT_LOGGING)
    assert c.run_args()[-1] == "fleet/web:1"


def test_limits_ports_health_and_grace_become_options() -> None:
    c = spec("""    ports: ["8080"]
    stop_grace_period: 1m30s
    healthcheck: {test: [CMD, wget, -q, localhost:8080], interval: 500ms, retries: 3}
    entrypoint: [/bin/sh, -c]
    command: exec httpd -f
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5"}
        reservations: {memory: 32M}
""", ports=(PortBinding(3067, 8080),))
    o = c.options
    assert o[:2] == ("-p", "3067:8080/tcp")
    assert o[o.index("--memory"):o.index("--memory") + 2] == ("--memory", "64m")
    assert o[o.index("--memory-reservation") + 1] == "32m"
    assert o[o.index("--cpus") + 1] == "0.5"
    assert o[o.index("--stop-timeout") + 1] == "90"
    assert o[o.index("--health-cmd") + 1] == "wget -q localhost:8080"
    assert o[o.index("--health-interval") + 1] == "0.5s"
    assert o[o.index("--entrypoint") + 1] == "/bin/sh"
    assert c.command == ("-c", "exec", "httpd", "-f")


def test_the_revision_changes_with_the_image_an_option_or_a_config_file_only(
        tmp_path: Path) -> None:
    (tmp_path / "site.conf").write_text("x")
    text = ("name: shop\nconfigs: {site: {file: site.conf}}\nservices:\n  web:\n"
            "    image: fleet/web:1\n    configs: [site]\n")

    def revision(extra: str = "", digest: str = "a" * 64, image_id: str = IMAGE_ID) -> str:
        stack = loads_stack(text + extra, str(tmp_path / "stack.yaml"))
        c = containers.spec("shop", stack.services[0], Placement("web", 0, "pi-01"), image_id,
                            {"site": digest})
        assert c.options[-2:] == ("-v", "/var/lib/fleet/stacks/shop/configs/site:/site:ro")
        return c.revision

    assert revision() == revision()
    assert revision() != revision(digest="b" * 64)
    assert revision() != revision(image_id="sha256:" + "2" * 64)
    assert revision() != revision("    environment: [A=1]\n")


def test_a_bad_duration_names_the_service() -> None:
    with pytest.raises(ConfigError, match="service 'web': 'soon' is not a duration"):
        spec("    stop_grace_period: soon\n")
