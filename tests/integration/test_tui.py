"""`fleet tui` in a real terminal (tmux) against the shared lab: keys in, the screen read back.

The app runs as a user would start it, with the lab's inventory and a
known-hosts file pinning the boards' keys; tmux gives it a real pty, and
capture-pane reads what it drew. The cleanup it applies removes only a
file this test put in one board's /tmp.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import AGENTS
from tests.integration.lablib import Lab

pytestmark = pytest.mark.integration

IPS = {d: f"10.251.0.{11 + n}" for n, d in enumerate(AGENTS)}
BRIDGE = "10.251.0.1"
TARGET = AGENTS[2]
JUNK = "/tmp/fleet-tui-itest.bin"
SOCKET = "fleet-itest-tui"  # a tmux server of this test's own


class Terminal:
    """One tmux session running a command at a fixed size."""

    def __init__(self, command: str, width: int = 160, height: int = 45) -> None:
        self.run("new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height),
                 command)

    @staticmethod
    def run(*args: str) -> str:
        done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True,
                              timeout=10, check=True)
        return done.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "tui", key)
            # As a person types: each key its own read. A key right after Escape would be
            # read with it as one Alt+key sequence.
            time.sleep(0.3 if key == "Escape" else 0.05)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "tui", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui")

    def until(self, condition: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if condition(shown):
                return shown
            if time.monotonic() > deadline:
                size = self.run("display", "-p", "-t", "tui", "#{window_width}x#{window_height}")
                raise AssertionError(f"never on screen: {what} ({size.strip()})\n{shown}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True, timeout=10,
                       check=False)


@pytest.fixture
def known_hosts(lab: Lab, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    lab.pin(path, *AGENTS)
    return path


@pytest.fixture
def terminal(lab: Lab, known_hosts: Path, tmp_path: Path) -> Iterator[Terminal]:
    command = shlex.join([
        sys.executable, "-m", "fleet", "--inventory", str(lab.spec.inventory), "tui",
        "--store", str(tmp_path / "fleet.db"), "--known-hosts", str(known_hosts),
        "--interface", BRIDGE])
    # Textual draws on stderr. The pane stays open after the app exits, so whatever it
    # printed last (a traceback, if it crashed) can still be read.
    shell = f"{command}; echo fleet tui exited $?; sleep 60"
    # The test process may carry COLUMNS and LINES (80x24), which would win over the pty's size.
    term = Terminal(f"env -u COLUMNS -u LINES TERM=xterm-256color sh -c {shlex.quote(shell)}")
    try:
        yield term
        last = term.screen()
    finally:
        term.close()
    assert "Traceback" not in last and "fleet tui exited 0" in last, last


def test_the_tui_shows_filters_and_cleans_up_the_lab_fleet(lab: Lab, terminal: Terminal) -> None:
    code, out = lab.ssh(IPS[TARGET], f"head -c 5242880 /dev/zero > {JUNK} && "
                                     f"touch -d '30 days ago' {JUNK}")
    assert code == 0, out
    shown = terminal.until(lambda s: all(d in s for d in AGENTS) and "4/4 active" in s,
                           "every lab agent, active")
    assert "FULL" in shown and "DEVICE" in shown

    terminal.keys("/")
    terminal.type(TARGET)
    shown = terminal.until(lambda s: f"/{TARGET}: 1 shown" in s, "the filter's count")
    assert TARGET in shown and not any(d in shown for d in AGENTS if d != TARGET)

    terminal.keys("Enter", "c")  # back to the table, then clean up what it shows
    shown = terminal.until(lambda s: "1/1 device(s) scanned" in s, "the scan, over SSH")
    tmp_row = next(line for line in shown.splitlines() if " tmp " in line)
    assert TARGET in tmp_row and "MB" in tmp_row

    terminal.keys("Space", "x")  # tmp is the first category: mark it, ask to remove it
    shown = terminal.until(lambda s: "Remove these" in s, "the confirmation")
    assert JUNK in shown and "5.0 MB" in shown

    terminal.keys("y")
    terminal.until(lambda s: "reclaimed" in s, "the cleanup's outcome")
    code, out = lab.ssh(IPS[TARGET], f"test ! -e {JUNK}")
    assert code == 0, f"{JUNK} is still on {TARGET}"

    terminal.keys("Escape", "q")
    terminal.until(lambda s: "fleet tui exited" in s, "the app gone", timeout=15)
