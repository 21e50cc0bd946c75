"""A placed replica -> its container: docker run options, and a revision that follows content."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fleet.config.stack import loads, loads_stack
from fleet.deploy import containers, stackcontext
from fleet.errors import ConfigError
from fleet.model import Placement, PortBinding

IMAGE_ID = "sha256:" + "1" * 64
STACK_DIR = "/var/lib/fleet/stacks/shop"
NET = ("--network", "shop_default", "--network-alias", "web")


def spec(service_yaml: str, *, image_id: str = IMAGE_ID, digests: dict[str, str] | None = None,
         ports: tuple[PortBinding, ...] = (), top: str = "",
         hosts: tuple[tuple[str, str], ...] = ()) -> containers.ContainerSpec:
    stack = loads_stack("name: shop\nservices:\n  web:\n    image: fleet/web:1\n" + service_yaml
                        + "  db:\n    image: fleet/db:1\n" + top, "/nowhere/stack.yaml")
    ctx = stackcontext.read(stack, {"FROM_SHELL": "shell"})
    web = stack.services[0]
    # As the plan binds them: each port the file gives a host port for, on that port.
    ports = ports or tuple(PortBinding(w.host, w.container, w.protocol) for w in web.ports
                           if w.host is not None)
    return containers.spec("shop", web, Placement("web", 0, "pi-01", ports, hosts),
                           image_id, digests or {}, ctx)


def has(options: Sequence[str], *expected: str) -> bool:
    """`expected` appears in `options`, in order and adjacent."""
    n = len(expected)
    return any(tuple(options[i:i + n]) == expected for i in range(len(options) - n + 1))


def test_defaults_rotate_logs_restart_unless_stopped_and_join_the_default_network() -> None:
    c = spec("")
    assert c.name == "shop-web-1"
    assert c.options == ("--restart", "unless-stopped", *containers.DEFAULT_LOGGING, *NET)
    assert c.run_args()[-1] == "fleet/web:1"


# (the service's compose keys, options that must appear in order and adjacent)
KEYS = [
    ("    ports: ['127.0.0.1:8080:80/udp']\n", ("-p", "127.0.0.1:8080:80/udp")),
    ("    ports: ['8000-8001:80-81']\n", ("-p", "8000:80/tcp", "-p", "8001:81/tcp")),
    ("    ports: [{target: 80, published: '8080', host_ip: '::1'}]\n",
     ("-p", "[::1]:8080:80/tcp")),
    ("    ports: ['10.0.0.2::53/udp']\n", ("-p", "10.0.0.2::53/udp")),
    ("    expose: ['9100']\n", ("--expose", "9100")),
    ("    volumes: ['/srv/data:/data:ro']\n", ("-v", "/srv/data:/data:ro")),
    ("    volumes: ['./data:/data']\n", ("-v", f"{STACK_DIR}/data:/data")),
    ("    volumes: ['/cache']\n", ("-v", "/cache")),
    ("    volumes: ['db:/var/lib/db']\n", ("-v", "shop_db:/var/lib/db")),
    ("    volumes: ['nfs:/media:ro']\n",
     ("--mount", 'type=volume,source=shop_nfs,target=/media,readonly,volume-driver=local,'
                 'volume-opt=type=nfs,"volume-opt=o=addr=10.0.0.9,rw",volume-opt=device=:/x')),
    ("    volumes: ['outside:/o']\n", ("-v", "media-share:/o")),
    ("    volumes: [{type: tmpfs, target: /run/t, tmpfs: {size: 64m, mode: 0o1777}}]\n",
     ("--mount", "type=tmpfs,target=/run/t,tmpfs-size=67108864,tmpfs-mode=1777")),
    ("    volumes: [{type: bind, source: ./conf, target: /c, read_only: true,"
     " bind: {propagation: rshared}}]\n", ("-v", f"{STACK_DIR}/conf:/c:ro,rshared")),
    ("    tmpfs: /run\n", ("--tmpfs", "/run")),
    ("    volumes_from: [db]\n", ("--volumes-from", "shop-db-1")),
    ("    devices: ['/dev/ttyUSB0:/dev/ttyACM0:rwm']\n",
     ("--device", "/dev/ttyUSB0:/dev/ttyACM0:rwm")),
    ("    device_cgroup_rules: ['c 188:* rmw']\n", ("--device-cgroup-rule", "c 188:* rmw")),
    ("    network_mode: host\n", ("--network", "host")),
    ("    network_mode: none\n", ("--network", "none")),
    ("    network_mode: 'service:db'\n", ("--network", "container:shop-db-1")),
    ("    networks: {back: {aliases: [api], ipv4_address: 172.28.0.5,"
     " ipv6_address: 'fd00::5'}}\n",
     ("--network", "shop_back", "--network-alias", "web", "--network-alias", "api",
      "--ip", "172.28.0.5", "--ip6", "fd00::5")),
    ("    networks: [lan]\n", ("--network", "the-lan", "--network-alias", "web")),
    ("    privileged: true\n", ("--privileged",)),
    ("    cap_add: [NET_ADMIN, SYS_TIME]\n", ("--cap-add", "NET_ADMIN", "--cap-add", "SYS_TIME")),
    ("    cap_drop: [ALL]\n", ("--cap-drop", "ALL")),
    ("    security_opt: ['apparmor:unconfined']\n", ("--security-opt", "apparmor:unconfined")),
    ("    user: '1000:1000'\n", ("--user", "1000:1000")),
    ("    group_add: [dialout]\n", ("--group-add", "dialout")),
    ("    working_dir: /app\n", ("--workdir", "/app")),
    ("    hostname: ha\n    domainname: lan\n", ("--hostname", "ha", "--domainname", "lan")),
    ("    dns: 1.1.1.1\n", ("--dns", "1.1.1.1")),
    ("    dns: [9.9.9.9, 1.1.1.1]\n", ("--dns", "9.9.9.9", "--dns", "1.1.1.1")),
    ("    dns_search: lan\n", ("--dns-search", "lan")),
    ("    dns_opt: [use-vc]\n", ("--dns-option", "use-vc")),
    ("    extra_hosts: ['nas:10.0.0.9', 'gw=10.0.0.1']\n",
     ("--add-host", "nas:10.0.0.9", "--add-host", "gw:10.0.0.1")),
    ("    extra_hosts: {v6: '::1'}\n", ("--add-host", "v6:::1")),
    ("    labels: {traefik.enable: 'true'}\n", ("--label", "traefik.enable=true")),
    ("    logging: {driver: syslog, options: {tag: web}}\n",
     ("--log-driver", "syslog", "--log-opt", "tag=web")),
    ("    restart: on-failure:3\n", ("--restart", "on-failure:3")),
    ("    deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}\n",
     ("--restart", "on-failure:5")),
    ("    deploy: {restart_policy: {condition: none}}\n", ("--restart", "no")),
    ("    healthcheck: {test: [CMD-SHELL, 'wget -q -O- localhost || exit 1'], timeout: 5s,"
     " start_period: 1m}\n",
     ("--health-cmd", "wget -q -O- localhost || exit 1", "--health-timeout", "5s",
      "--health-start-period", "60s")),
    ("    healthcheck: {test: [NONE]}\n", ("--no-healthcheck",)),
    ("    stop_signal: SIGINT\n", ("--stop-signal", "SIGINT")),
    ("    stop_grace_period: 1m30s\n", ("--stop-timeout", "90")),
    ("    init: true\n", ("--init",)),
    ("    sysctls: {net.core.somaxconn: 1024}\n", ("--sysctl", "net.core.somaxconn=1024")),
    ("    sysctls: ['net.ipv4.ip_forward=1']\n", ("--sysctl", "net.ipv4.ip_forward=1")),
    ("    ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}\n",
     ("--ulimit", "nproc=65535", "--ulimit", "nofile=20000:40000")),
    ("    shm_size: 256m\n", ("--shm-size", "256m")),
    ("    shm_size: 1000000\n", ("--shm-size", "1000000")),
    ("    read_only: true\n", ("--read-only",)),
    ("    runtime: nvidia\n", ("--runtime", "nvidia")),
    ("    pid: host\n", ("--pid", "host")),
    ("    ipc: 'service:db'\n", ("--ipc", "container:shop-db-1")),
    ("    tty: true\n    stdin_open: true\n", ("--tty", "--interactive")),
    ("    mem_limit: 1g\n    mem_reservation: 512m\n    memswap_limit: 2g\n",
     ("--memory", "1024m", "--memory-reservation", "512m", "--memory-swap", "2048m")),
    ("    memswap_limit: -1\n    mem_limit: 64m\n", ("--memory-swap", "-1")),
    ("    cpus: 1.5\n", ("--cpus", "1.5")),
    ("    deploy: {resources: {limits: {memory: 300M, cpus: '0.25', pids: 200},"
     " reservations: {memory: 100M}}}\n",
     ("--memory", "300m", "--memory-reservation", "100m", "--cpus", "0.25",
      "--pids-limit", "200")),
    ("    pids_limit: 100\n", ("--pids-limit", "100")),
    ("    cpu_shares: 512\n    cpuset: '0,1'\n", ("--cpu-shares", "512", "--cpuset-cpus", "0,1")),
    ("    links: ['db:database']\n", ("--link", "shop-db-1:database")),
    ("    container_name: mosquitto\n    network_mode: 'service:db'\n",
     ("--network", "container:shop-db-1")),
    ("    secrets: [token]\n",
     ("-v", f"{STACK_DIR}/configs/.fleet-secrets/token:/run/secrets/token:ro")),
    ("    secrets: [{source: token, target: api.key}]\n",
     ("-v", f"{STACK_DIR}/configs/.fleet-secrets/token:/run/secrets/api.key:ro")),
]
TOP = """volumes:
  db:
  nfs:
    driver: local
    driver_opts: {type: nfs, o: 'addr=10.0.0.9,rw', device: ':/x'}
  outside: {external: true, name: media-share}
networks:
  back:
  lan: {name: the-lan}
secrets:
  token: {environment: FROM_SHELL}
"""


@pytest.mark.parametrize(("service_yaml", "expected"), KEYS,
                         ids=[k.strip().split(":")[0] for k, _ in KEYS])
def test_each_key_reaches_docker_run(service_yaml: str, expected: tuple[str, ...]) -> None:
    c = spec(service_yaml, top=TOP)
    assert has(c.options, *expected), c.options


@pytest.mark.parametrize("service_yaml", [k for k, _ in KEYS], ids=[k.strip().split(":")[0]
                                                                    for k, _ in KEYS])
def test_each_key_changes_the_revision(service_yaml: str) -> None:
    assert spec(service_yaml, top=TOP).revision != spec("", top=TOP).revision


def test_network_mode_replaces_the_default_network() -> None:
    options = spec("    network_mode: host\n").options
    assert options.count("--network") == 1
    assert "--network-alias" not in options


def test_a_boards_address_for_a_service_elsewhere_is_an_added_host() -> None:
    c = spec("", hosts=(("db", "10.0.0.7"),))
    assert has(c.options, "--add-host", "db:10.0.0.7")


def test_the_environment_goes_in_a_private_file_env_file_then_environment(
        tmp_path: Path) -> None:
    (tmp_path / "common.env").write_text(
        "# shared\nexport TZ=Etc/UTC\nA=from file # a comment\nB='literal $x # kept'\n"
        'C="two\\nlines"\nFROM_SHELL\nUNSET_HERE\n')
    stack = loads_stack("name: shop\nservices:\n  web:\n    image: fleet/web:1\n"
                        "    env_file: [common.env, {path: missing.env, required: false}]\n"
                        "    environment: {A: from compose, D: 4, FROM_SHELL: null}\n",
                        str(tmp_path / "stack.yaml"))
    ctx = stackcontext.read(stack, {"FROM_SHELL": "shell"})
    c = containers.spec("shop", stack.services[0], Placement("web", 0, "pi-01"), IMAGE_ID, {},
                        ctx)
    env = c.files[0]
    assert (env.path, env.mode) == (f"{STACK_DIR}/configs/.fleet-env/web.env", 0o600)
    assert env.content == (b"TZ=Etc/UTC\nA=from compose\nB=literal $x # kept\n"
                           b"FROM_SHELL=shell\nD=4\n")
    assert has(c.options, "--env-file", env.path)
    assert has(c.options, "-e", "C=two\nlines")  # docker's env file cannot hold a newline
    assert "from compose" not in " ".join(c.run_args())


def test_a_missing_env_file_names_the_service_and_the_file(tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: fleet/web:1\n    env_file: gone.env\n"
    with pytest.raises(ConfigError, match=r"stack\.yaml:4: services\.web\.env_file: no such "
                       r"file: gone\.env"):
        loads_stack(text, str(tmp_path / "stack.yaml"))  # fleet plan says so too
    (tmp_path / "gone.env").write_text("A=1\n")
    stack = loads_stack(text, str(tmp_path / "stack.yaml"))
    (tmp_path / "gone.env").unlink()  # gone between the load and the deploy
    with pytest.raises(ConfigError, match=r"service 'web': env_file gone\.env: no such file"):
        stackcontext.read(stack, {})


def test_a_secret_file_is_copied_private_and_its_content_moves_the_revision(
        tmp_path: Path) -> None:
    def revision(secret: str) -> tuple[str, containers.ConfigFile]:
        (tmp_path / "pw.txt").write_text(secret)
        stack = loads_stack("name: shop\nsecrets: {pw: {file: pw.txt}}\nservices:\n  web:\n"
                            "    image: fleet/web:1\n    secrets: [pw]\n",
                            str(tmp_path / "stack.yaml"))
        c = containers.spec("shop", stack.services[0], Placement("web", 0, "pi-01"), IMAGE_ID,
                            {}, stackcontext.read(stack, {}))
        return c.revision, c.files[0]

    first, file = revision("hunter2")
    assert (file.mode, file.content) == (0o400, b"hunter2")
    assert revision("hunter2")[0] == first
    assert revision("hunter3")[0] != first


def test_limits_ports_health_and_grace_become_options() -> None:
    c = spec("""    ports: ["8080"]
    healthcheck: {test: [CMD, wget, -q, localhost:8080], interval: 500ms, retries: 3}
    entrypoint: [/bin/sh, -c]
    command: exec httpd -f
""", ports=(PortBinding(3067, 8080),))
    o = c.options
    assert o[:2] == ("-p", "3067:8080/tcp")
    assert o[o.index("--health-cmd") + 1] == "wget -q localhost:8080"
    assert o[o.index("--health-interval") + 1] == "0.5s"
    assert o[o.index("--entrypoint") + 1] == "/bin/sh"
    assert c.command == ("-c", "exec", "httpd", "-f")


def test_a_zero_mem_limit_is_not_given_so_the_deploy_form_runs_as_planned() -> None:
    c = spec("""    mem_limit: 0
    deploy: {resources: {limits: {memory: 512m}}}
""")
    assert has(c.options, "--memory", "512m")
    assert "0" not in [c.options[i + 1] for i, o in enumerate(c.options) if o == "--memory"]


def test_an_empty_entrypoint_clears_the_images() -> None:
    c = spec("    entrypoint: ''\n    command: [sleep, '60']\n")
    assert has(c.options, "--entrypoint", "")
    assert c.command == ("sleep", "60")


def test_container_name_names_the_container_and_refuses_replicas() -> None:
    assert spec("    container_name: mosquitto\n").name == "mosquitto"
    with pytest.raises(ConfigError, match="container_name names one container"):
        spec("    container_name: mosquitto\n    deploy: {replicas: 2}\n")


@pytest.mark.parametrize(("service_yaml", "message"), [
    ("    network_mode: host\n    networks: [back]\n", "network_mode and networks"),
    ("    networks: [nowhere]\n", "'nowhere' is not a top-level network"),
    ("    volumes: ['undeclared:/x']\n", "'undeclared' is not a top-level volume"),
    ("    volumes: ['~/x:/x']\n", "whose home is ~"),
    # refused at load (the placement reads whom a service names), else by the deploy
    ("    network_mode: 'service:ghost'\n",
     "service:ghost names no service|network_mode: no service 'ghost'"),
    ("    network_mode: 'service:db'\n    hostname: x\n",
     "hostname cannot be set with network_mode service:db"),
    ("    secrets: [nope]\n", "secret 'nope' is not defined"),
    ("    stop_grace_period: soon\n", "service 'web': 'soon' is not a duration"),
])
def test_what_docker_cannot_run_is_refused_naming_the_service(service_yaml: str,
                                                               message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec(service_yaml, top="networks: {back: }\n")


def test_the_revision_changes_with_the_image_an_option_or_a_config_file_only(
        tmp_path: Path) -> None:
    (tmp_path / "site.conf").write_text("x")
    text = ("name: shop\nconfigs: {site: {file: site.conf}}\nservices:\n  web:\n"
            "    image: fleet/web:1\n    configs: [site]\n")

    def revision(extra: str = "", digest: str = "a" * 64, image_id: str = IMAGE_ID) -> str:
        stack = loads_stack(text + extra, str(tmp_path / "stack.yaml"))
        c = containers.spec("shop", stack.services[0], Placement("web", 0, "pi-01"), image_id,
                            {"site": digest}, stackcontext.read(stack, {}))
        assert c.options[-2:] == ("-v", "/var/lib/fleet/stacks/shop/configs/site:/site:ro")
        return c.revision

    assert revision() == revision()
    assert revision() != revision(digest="b" * 64)
    assert revision() != revision(image_id="sha256:" + "2" * 64)
    assert revision() != revision("    environment: [A=1]\n")
    assert revision("    environment: [A=1]\n") != revision("    environment: [A=2]\n")


def test_a_service_alone_has_its_environment_but_no_env_file() -> None:
    service = loads("services:\n  web:\n    image: fleet/web:1\n    environment: [A=1]\n")[0]
    c = containers.spec("shop", service, Placement("web", 0, "pi-01"), IMAGE_ID, {})
    assert c.files[0].content == b"A=1\n"


def test_a_container_sharing_anothers_namespace_follows_its_changes() -> None:
    def revisions(db_env: str) -> tuple[str, str]:
        stack = loads_stack("name: shop\nservices:\n  web:\n    image: fleet/web:1\n"
                            "    network_mode: 'service:db'\n  db:\n    image: fleet/db:1\n"
                            f"    environment: [A={db_env}]\n  solo:\n    image: fleet/web:1\n",
                            "/nowhere/stack.yaml")
        ctx = stackcontext.read(stack, {})
        web, _, solo = (containers.spec("shop", s, Placement(s.name, 0, "pi-01"), IMAGE_ID, {},
                                        ctx) for s in stack.services)
        return web.revision, solo.revision

    assert revisions("1")[0] != revisions("2")[0]
    assert revisions("1")[1] == revisions("2")[1]


def test_a_container_sharing_anothers_namespace_starts_after_it() -> None:
    from fleet.deploy.layout import layout, start_waves

    services = loads("services:\n  web:\n    image: a\n    network_mode: 'service:db'\n"
                     "    volumes_from: ['cache:ro']\n  db:\n    image: a\n"
                     "  cache:\n    image: a\n")
    assert start_waves(layout("shop", services).depends) == (("cache", "db"), ("web",))
