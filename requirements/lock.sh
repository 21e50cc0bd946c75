#!/bin/sh
# Writes the hash-pinned lock files in requirements/ from pyproject.toml (`make lock`).
#
#   requirements/lock.sh             keep every pin that still fits; add or drop what changed
#   requirements/lock.sh --upgrade   move every pin to its newest release (`make lock-upgrade`)
#
# The locks are for CPython 3.11 on Linux and carry the sha256 of every file PyPI has for each
# pinned release, so they install on x86_64 and arm64 alike (checked below for the runtime).
set -eu
cd "$(dirname "$0")/.."
uv=${UV:-.venv-lock/bin/uv}
upgrade=${1:-}
target="--python-version 3.11 --python-platform x86_64-unknown-linux-gnu"

# lock NAME WHAT [uv arguments]: writes requirements/NAME.txt, headed by what it holds.
lock() {
    name=$1 what=$2
    shift 2
    out=requirements/$name.txt
    work=$(mktemp)
    # uv keeps the pins of the file it writes over, so it starts from the current lock.
    if [ -f "$out" ]; then cp "$out" "$work"; fi
    # shellcheck disable=SC2086  # $target and $upgrade are lists of words
    "$uv" pip compile --quiet --generate-hashes --no-header $upgrade $target \
        "$@" -o "$work"
    {
        echo "# $out: $what"
        echo "# Hash-pinned, every package including those pulled in: install it with"
        echo "#   pip install --require-hashes -r $out"
        if [ "$name" != uv ]; then
            echo "# then fleet itself: pip install --no-deps --no-build-isolation [-e] ."
        fi
        echo "# Written by requirements/lock.sh: after editing pyproject.toml run \`make lock\`"
        echo "# (keeps the other pins), or \`make lock-upgrade\` for the newest releases."
        cat "$work"
    } >"$out"
    rm -f "$work"
}

lock uv "the lock tool (uv), installed in .venv-lock by \`make lock\`" - <<'IN'
uv
IN
# dev first: tui and runtime are held to its pins, so the three environments never disagree.
lock dev "fleet with its tui and dev extras; what \`make setup\`, CI and the tests use" \
    pyproject.toml requirements/build.in --extra tui --extra dev
lock tui "fleet with its tui extra" \
    pyproject.toml requirements/build.in --extra tui -c requirements/dev.txt
lock runtime "fleet's own dependencies; what a gateway running the daemon installs" \
    pyproject.toml requirements/build.in -c requirements/dev.txt

# A Pi gateway installs the runtime lock: the same pins must be all it needs on arm64.
resolved() {
    "$uv" pip compile --quiet --no-header --no-annotate --python-version 3.11 \
        --python-platform "$1-unknown-linux-gnu" \
        pyproject.toml requirements/build.in -c requirements/runtime.txt
}
if [ "$(resolved x86_64)" != "$(resolved aarch64)" ]; then
    echo "lock.sh: the runtime resolves differently on arm64; the lock would not serve a Pi" >&2
    exit 1
fi
