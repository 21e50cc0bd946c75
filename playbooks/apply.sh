#!/bin/sh
# Apply one device's part of a plan. fleet appends the calls, one per change:
#   fleet_ensure NAME REVISION [docker run options...] IMAGE [COMMAND...]
#   fleet_remove NAME
#   fleet_verify        (then fleet_done)
# Each call checks before it acts, so a rerun of the same calls changes nothing.
# A replaced container's previous revision is stopped and renamed NAME.prev; it
# is started again if the new one fails to start or to become healthy, and kept
# (stopped, for rollback) once the new one is. Prints one line per container:
# kept|created|replaced|started|removed|failed|rolledback NAME [why].
set -eu

PREV=.prev
settle=${FLEET_SETTLE:-2}
health_timeout=${FLEET_HEALTH_TIMEOUT:-60}
pending=""
waits=no
failures=0
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

say() { printf '%s %s\n' "$1" "$2"; }

fail() {
    failures=$((failures + 1))
    say failed "$1 $2"
}

restore() {
    # Put the kept revision back in the name's place, running.
    if docker inspect "$1$PREV" >/dev/null 2>&1; then
        if docker rename "$1$PREV" "$1" && docker start "$1" >/dev/null; then
            say rolledback "$1"
        else
            fail "$1" "and its previous revision could not be restarted"
        fi
    fi
}

fleet_ensure() {
    name=$1
    revision=$2
    shift 2
    current=$(docker inspect --format '{{index .Config.Labels "fleet.revision"}} {{.State.Running}}' \
        "$name" 2>/dev/null || true)
    case $current in
        "$revision true")
            say kept "$name"
            return 0 ;;
        "$revision false")
            if docker start "$name" >/dev/null 2>"$errors"; then
                pending="$pending $name:started"
            else
                fail "$name" "$(tail -n 1 "$errors")"
            fi
            return 0 ;;
    esac
    verb=created
    if [ -n "$current" ]; then
        docker rm -f "$name$PREV" >/dev/null 2>&1 || true
        docker stop "$name" >/dev/null 2>&1 || true
        if ! docker rename "$name" "$name$PREV" 2>"$errors"; then
            docker start "$name" >/dev/null 2>&1 || true
            fail "$name" "$(tail -n 1 "$errors")"
            return 0
        fi
        verb=replaced
        waits=yes
    fi
    if docker run -d --name "$name" "$@" >/dev/null 2>"$errors"; then
        pending="$pending $name:$verb"
    else
        fail "$name" "$(tail -n 1 "$errors")"
        docker rm -f "$name" >/dev/null 2>&1 || true
        restore "$name"
    fi
}

fleet_remove() {
    if docker rm -f "$1" "$1$PREV" >/dev/null 2>"$errors" \
            || ! grep -qv 'No such container' "$errors"; then
        say removed "$1"
    else
        fail "$1" "$(tail -n 1 "$errors")"
    fi
}

healthy() {
    # Running and not restarting; if it has a health check, healthy (waited for).
    deadline=$(($(date +%s) + health_timeout))
    while :; do
        state=$(docker inspect --format \
            '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' \
            "$1" 2>/dev/null || echo "gone none 0")
        case $state in
            "running healthy "* | "running none 0") return 0 ;;
            "running starting "*) ;;
            *) return 1 ;;
        esac
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 1
    done
}

fleet_verify() {
    [ -n "$pending" ] || return 0
    # A replaced container is given a moment to fall over before its predecessor is let go.
    if [ "$waits" = yes ]; then sleep "$settle"; fi
    for item in $pending; do
        name=${item%:*}
        if healthy "$name"; then
            say "${item##*:}" "$name"
        else
            state=$(docker inspect --format '{{.State.Status}} (exit {{.State.ExitCode}})' \
                "$name" 2>/dev/null || echo gone)
            fail "$name" "did not stay healthy: $state"
            docker rm -f "$name" >/dev/null 2>&1 || true
            restore "$name"
        fi
    done
}

fleet_done() {
    [ "$failures" -eq 0 ]
}
