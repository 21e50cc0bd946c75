"""playbooks/apply.sh run by sh against a fake `docker` that keeps its containers in files.

The fake answers the few calls the playbook makes, and logs the ones that
change something, so a test reads what was done, in order.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fleet.ssh import playbooks

FAKE_DOCKER = r"""#!/bin/sh
# containers/NAME holds "REVISION STATE"; networks/NAME exists if the network does.
state=$FAKE_STATE
cmd=$1; shift
case $cmd in
    ps)
        for f in "$state"/containers/*; do
            [ -e "$f" ] || continue
            read -r rev st <"$f"
            printf '%s\t%s\t%s\n' "${f##*/}" "$rev" "$st"
        done ;;
    run)
        name= rev=
        while [ $# -gt 0 ]; do
            case $1 in
                --name) name=$2; shift ;;
                --label) case $2 in fleet.revision=*) rev=${2#*=} ;; esac; shift ;;
            esac
            shift
        done
        echo "$rev running" >"$state/containers/$name"
        echo "run $name" >>"$state/log" ;;
    inspect)
        [ "$1" = --format ] && { format=$2; shift 2; }
        for name in "$@"; do
            [ -e "$state/containers/$name" ] || exit 1
            read -r rev st <"$state/containers/$name"
            case $format in
                *RestartPolicy*) echo "/$name $st none 0 0 no" ;;
                *ExitCode*) echo "$st none 0" ;;
                *) echo "$st" ;;
            esac
        done ;;
    network)
        sub=$1; shift
        case $sub in
            inspect) [ -e "$state/networks/$1" ] ;;
            create) for last; do :; done; touch "$state/networks/$last"
                    echo "network $last" >>"$state/log" ;;
        esac ;;
    stop) echo "stop $1" >>"$state/log" ;;
    rename) mv "$state/containers/$1" "$state/containers/$2"; echo "rename $1" >>"$state/log" ;;
    rm) shift; for name; do rm -f "$state/containers/$name"; done ;;
    start) echo "start $1" >>"$state/log" ;;
    *) echo "fake docker: $cmd not faked" >&2; exit 2 ;;
esac
"""


def apply(tmp: Path, calls: str) -> tuple[int, str, list[str]]:
    """The playbook with `calls` appended, run once: its exit code, output, and docker's log."""
    bin_dir, state = tmp / "bin", tmp / "state"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "docker").write_text(FAKE_DOCKER)
        (bin_dir / "docker").chmod(0o755)
        (state / "containers").mkdir(parents=True)
        (state / "networks").mkdir()
    (state / "log").write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_STATE": str(state),
           "FLEET_SETTLE": "0"}
    done = subprocess.run(["sh", "-s"], input=playbooks.script("apply") + "\n" + calls,
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr, (state / "log").read_text().splitlines()


CALLS = """fleet_network s_default --driver bridge
fleet_ensure s-db-1 r1 - --network s_default --label fleet.revision=r1 img
fleet_ensure s-cache-1 r1 - --label fleet.revision=r1 img
fleet_wave
fleet_await s-db-1 started
fleet_ensure s-api-1 r1 s-db-1 --network s_default --label fleet.revision=r1 img
fleet_wave
fleet_verify
fleet_done
"""


def test_the_network_first_then_each_wave_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    code, out, log = apply(tmp_path, CALLS)
    assert code == 0, out
    assert log[0] == "network s_default" and log[-1] == "run s-api-1"
    assert sorted(log[1:3]) == ["run s-cache-1", "run s-db-1"]
    assert sorted(out.split("\n")) == ["", "created s-api-1", "created s-cache-1",
                                       "created s-db-1"]
    code, out, log = apply(tmp_path, CALLS)
    assert (code, log) == (0, [])
    assert sorted(out.splitlines()) == ["kept s-api-1", "kept s-cache-1", "kept s-db-1"]


def test_a_container_whose_dependency_is_not_ready_is_not_touched(tmp_path: Path) -> None:
    calls = ("fleet_await s-db-1 started\n"
             "fleet_ensure s-api-1 r2 s-db-1 img\nfleet_wave\nfleet_verify\nfleet_done\n")
    code, out, log = apply(tmp_path, calls)
    assert code != 0 and log == []
    assert "failed s-api-1 not started: it depends on s-db-1, not ready" in out


def test_a_new_revision_keeps_the_old_one_stopped_for_rollback(tmp_path: Path) -> None:
    apply(tmp_path, CALLS)
    code, out, log = apply(tmp_path, CALLS.replace("s-cache-1 r1 - --label fleet.revision=r1",
                                                    "s-cache-1 r2 - --label fleet.revision=r2"))
    assert code == 0, out
    assert log == ["stop s-cache-1", "rename s-cache-1", "run s-cache-1"]
    assert "replaced s-cache-1" in out.splitlines()
    assert (tmp_path / "state" / "containers" / "s-cache-1.prev").read_text() == "r1 running\n"
