# fleet: `make setup` installs everything on a fresh Debian/Ubuntu machine;
# `make demo` and `make test` run it first. Run as root or with sudo.
#
# Python packages come from hash-pinned lock files in requirements/: runtime.txt (what a
# gateway installs), tui.txt (+ the tui extra), dev.txt (+ the dev extra: what `make setup`,
# CI and the tests install). After editing pyproject.toml's dependencies, `make lock`
# rewrites them keeping every other pin; `make lock-upgrade` moves all to the newest
# releases. Both run uv from its own pinned venv, .venv-lock. Commit the locks' diff.

SHELL := /bin/bash
VENV := .venv
FLEET := $(VENV)/bin/fleet
LOCKS := requirements/runtime.txt requirements/tui.txt requirements/dev.txt
LOCK_VENV := .venv-lock
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# What the lab and the tests run: a dockerd, sshd and mosquitto per lab, and
# the tools that build the lab's images without a registry; docker-compose (v1)
# is the unit tests' oracle for how compose files resolve (it only parses); qemu-user-static
# and binfmt-support run armhf binaries for `make armv7-check`; docker-registry (the CNCF
# distribution registry) is the lab's stand-in for a public registry.
APT_PACKAGES := python3 python3-venv docker.io containerd iptables iproute2 util-linux \
	openssh-server openssh-client mosquitto mosquitto-clients busybox-static debootstrap \
	tar e2fsprogs shellcheck avahi-daemon tmux docker-compose sudo qemu-user-static \
	binfmt-support docker-registry zstd
DEMO_PROFILES := pi4b-8g:4,pi4b-2g,jetson-orin-nano-8g
DEMO_INVENTORY := /var/lib/fleet-lab/demo/inventory.yaml
DEMO_BRIDGE := 10.250.0.1
DEMO_KNOWN_HOSTS := /var/lib/fleet-lab/demo/fleet_known_hosts
DEMO_STORE := /var/lib/fleet-lab/demo/fleet.db
# The bare board's host key as its console would show it (`ssh-keygen -lf` on the board).
DEMO_BARE_KEY := /var/lib/fleet-lab/demo/devices/raspberrypi/etc-ssh/ssh_host_ed25519_key.pub
# The lab's stand-in for python:3.11-slim-bookworm, which a real board pulls from Docker Hub.
DEMO_AGENT_BASE := fleet/agent-base:bookworm
DEMO_FLEET := $(SUDO) env FLEET_KNOWN_HOSTS=$(DEMO_KNOWN_HOSTS) $(FLEET) --inventory $(DEMO_INVENTORY)

.PHONY: setup lock lock-upgrade demo test test-unit armv7-check bench lint clean snapshots

setup:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(MAKE) -s $(VENV)/.installed

# The dev lock, then fleet itself, built by the lock's setuptools without fetching one;
# then anything the lock no longer lists leaves, so the venv is the lock and no more.
$(VENV)/.installed: pyproject.toml $(LOCKS)
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --require-hashes -r requirements/dev.txt
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@stale=$$($(VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^[#-]' \
		| sed 's/[ =@].*//' | tr 'A-Z_.' 'a-z--' | sort \
		| comm -23 - <(sed -n 's/^\([a-z0-9][a-z0-9._-]*\)==.*/\1/p' requirements/dev.txt \
			| tr '_.' '--' | sort)); \
	if [ -n "$$stale" ]; then \
		echo "removing what requirements/dev.txt no longer lists:" $$stale; \
		$(VENV)/bin/python -m pip uninstall -q -y $$stale; \
	fi
	touch $@

lock: $(LOCK_VENV)/.installed
	requirements/lock.sh

lock-upgrade: $(LOCK_VENV)/.installed
	requirements/lock.sh --upgrade

$(LOCK_VENV)/.installed: requirements/uv.txt
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --require-hashes -r requirements/uv.txt
	touch $@

demo: setup
	$(SUDO) $(FLEET) lab down --lab demo >/dev/null
	$(SUDO) $(FLEET) lab up --lab demo --subnet 10.250.0.0/24 --devices 6 --profiles $(DEMO_PROFILES) --bare 1
	$(FLEET) --inventory $(DEMO_INVENTORY) inventory
	@echo "discovery over mDNS on the lab's LAN: the 6 agents advertise _fleet._tcp; 'raspberrypi' is a bare board (sshd, its host name, no agent)"
	$(FLEET) --inventory $(DEMO_INVENTORY) discover --interface $(DEMO_BRIDGE)
	@echo "SSH trust: each board's host key pinned on first contact, checked against the fingerprint its agent advertised"
	$(SUDO) env FLEET_KNOWN_HOSTS=$(DEMO_KNOWN_HOSTS) $(FLEET) --inventory $(DEMO_INVENTORY) trust --interface $(DEMO_BRIDGE)
	@echo "enroll the bare board: added to the inventory, but refused until its key is pinned (exit 1 expected)"
	-$(DEMO_FLEET) enroll --all-new --interface $(DEMO_BRIDGE) --profile pi4b-8g --agent-base $(DEMO_AGENT_BASE)
	@echo "its key, read on its console, accepted deliberately; then enrolled: docker checked, agent built and started"
	$(DEMO_FLEET) trust raspberrypi --accept $$(ssh-keygen -lf $(DEMO_BARE_KEY) | cut -d' ' -f2)
	$(DEMO_FLEET) enroll raspberrypi --agent-base $(DEMO_AGENT_BASE)
	@echo "every device runs the fleet agent (its image, on its own dockerd): their heartbeats, live for 12 s"
	$(FLEET) --inventory $(DEMO_INVENTORY) status --watch 12
	$(FLEET) --inventory $(DEMO_INVENTORY) plan examples/pi4b-136.compose.yaml
	@echo "a stack that cannot fit: fleet plan says why, and exits 1"
	-$(FLEET) --inventory $(DEMO_INVENTORY) plan examples/too-big.compose.yaml --need pi4b-8g
	@echo "deploy the 136-service stack over SSH: read every board, plan against what runs, apply (about a minute)"
	$(DEMO_FLEET) deploy examples/pi4b-136.compose.yaml --store $(DEMO_STORE)
	@echo "deploy it again: nothing differs, so nothing is restarted"
	$(DEMO_FLEET) deploy examples/pi4b-136.compose.yaml --store $(DEMO_STORE)
	@echo "demo-04's card gathers what real boards do: old images, stopped containers, a big log, old /tmp files"
	$(SUDO) $(FLEET) lab junk --lab demo demo-04 --mb 600
	@echo "fleet cleanup: what each board could reclaim, and why it keeps the rest (a dry run)"
	$(DEMO_FLEET) cleanup --all
	@echo "reclaimed on demo-04; its running services and their rollback copies are untouched"
	$(DEMO_FLEET) cleanup demo-04 --apply
	@echo "the demo lab stays up: 'sudo $(FLEET) lab status --lab demo', then 'sudo $(FLEET) lab down --lab demo'"
	@# Last, in a terminal only (a CI log or a pipe gets none): the fleet live in the TUI.
	@if [ -t 1 ]; then \
		echo "fleet tui on the demo fleet: / filters, enter opens a board, c cleans up, ? keys, q quits"; \
		sleep 2; \
		$(DEMO_FLEET) tui --store $(DEMO_STORE) --stack examples/pi4b-136.compose.yaml \
			--interface $(DEMO_BRIDGE); \
	fi

test: setup
	$(SUDO) $(VENV)/bin/pytest

test-unit: setup
	$(VENV)/bin/pytest tests/unit

# The agent image for 32-bit Raspberry Pi OS (linux/arm/v7), built in a lab board's dockerd
# with msgspec compiled from source, then run under qemu-user. Not in `make test`: cold it
# debootstraps two armhf roots and compiles under qemu (minutes); the roots are cached after.
# Without systemd, qemu's binfmt_misc handler is registered here if installing it could not.
armv7-check: setup
	@grep -qs binfmt_misc /proc/mounts || $(SUDO) mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	@[ -e /proc/sys/fs/binfmt_misc/qemu-arm ] || $(SUDO) update-binfmts --enable qemu-arm
	$(SUDO) $(VENV)/bin/pytest -p no:cacheprovider tests/integration/check_agent_armv7.py

# Re-render the TUI's snapshot SVGs (and the README's copies in docs/screenshots) after a
# deliberate change on screen; review them with git diff before committing.
snapshots:
	FLEET_UPDATE_SNAPSHOTS=1 $(VENV)/bin/pytest -q tests/unit/test_tui_snapshots.py

bench: setup
	$(FLEET) bench pack --json
	$(FLEET) bench ingest --json
	$(SUDO) $(FLEET) bench agent --json
	$(SUDO) $(FLEET) bench liveness --json
	$(SUDO) $(FLEET) bench deploy --json
	$(SUDO) $(FLEET) bench push --json
	$(SUDO) $(FLEET) bench stack --json
	$(FLEET) bench tui --json

lint: setup
	$(VENV)/bin/ruff check fleet tui tests
	$(VENV)/bin/mypy
	@if ls playbooks/*.sh >/dev/null 2>&1; then shellcheck playbooks/*.sh; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
