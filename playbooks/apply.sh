#!/bin/sh
# Apply one device's part of a plan. fleet appends the calls, in this order:
#   fleet_network NAME [docker network create options...]   (a stack network it lacks)
#   fleet_external NAME                                      (an external one: must exist)
#   fleet_await NAME started|healthy|completed               (a depends_on condition)
#   fleet_ensure NAME REVISION NEEDS [docker run options...] IMAGE [COMMAND...]
#   fleet_wave          (after a wave's fleet_ensure calls: they run in parallel, bounded)
#   fleet_remove NAME
#   fleet_verify
#   fleet_prune NAME                                         (a network nothing joins now)
#   fleet_done
# NEEDS is the comma-separated containers whose fleet_await must have passed ("-": none);
# a container whose needs are not met is not touched, so its running revision stays.
# Each call checks before it acts, so a rerun of the same calls changes nothing.
# A replaced container's previous revision is stopped and renamed NAME.prev; it
# is started again if the new one fails to start or to become healthy, and kept
# (stopped, for rollback) once the new one is. Prints one line per container:
# kept|created|replaced|started|removed|failed|rolledback NAME [why].
set -eu

PREV=.prev
settle=${FLEET_SETTLE:-2}
health_timeout=${FLEET_HEALTH_TIMEOUT:-60}
complete_timeout=${FLEET_COMPLETE_TIMEOUT:-300}
parallel=${FLEET_PARALLEL:-8}
pending=""
waits=no
failures=0
met=" "
blocked=""
work=$(mktemp -d)
errors=$work/errors
trap 'rm -rf "$work"' EXIT
jobs=0
wave_from=1

# A semaphore of $parallel tokens: a fleet_ensure takes one before it starts, gives it back
# when done, so at most $parallel `docker run`s are under way at once (POSIX sh has no wait -n).
mkfifo "$work/slots"
exec 3<>"$work/slots"
i=0
while [ "$i" -lt "$parallel" ]; do
    echo >&3
    i=$((i + 1))
done

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
            say failed "$1 and its previous revision could not be restarted"
        fi
    fi
}

fleet_network() {
    name=$1
    shift
    if docker network inspect "$name" >/dev/null 2>&1; then
        return 0
    fi
    if ! docker network create "$@" "$name" >/dev/null 2>"$errors"; then
        # Another deploy may have made it meanwhile.
        if ! docker network inspect "$name" >/dev/null 2>&1; then
            fail "$name" "network not created: $(tail -n 1 "$errors")"
            blocked="network $name is missing"
        fi
    fi
}

fleet_external() {
    if ! docker network inspect "$1" >/dev/null 2>&1; then
        fail "$1" "external network does not exist: create it (docker network create $1)"
        blocked="external network $1 is missing"
    fi
}

fleet_await() {
    # Wait for a depends_on condition of container $1; record it as met, or say why not.
    case $2 in
        completed) limit=$complete_timeout ;;
        *) limit=$health_timeout ;;
    esac
    deadline=$(($(date +%s) + limit))
    while :; do
        state=$(docker inspect --format \
            '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' \
            "$1" 2>/dev/null || echo "gone none 0")
        case "$2 $state" in
            "started running "* | "started restarting "* | "started exited "* \
                | "healthy running healthy "* | "completed exited "*" 0")
                met="$met$1 "
                return 0 ;;
            "healthy "*" none "*)
                say unmet "$1 has no health check to pass (service_healthy)"
                return 0 ;;
            "healthy running unhealthy "* | "healthy exited "* | "completed exited "* \
                | *" gone "* | *" dead "*)
                say unmet "$1 did not become $2: $state"
                return 0 ;;
        esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say unmet "$1 is not $2 after ${limit}s: $state"
            return 0
        fi
        sleep 1
    done
}

unmet_needs() {
    # The containers of comma-separated $1 whose conditions were not met ("" if none).
    [ "$1" != - ] || return 0
    list=$1,
    while [ -n "$list" ]; do
        need=${list%%,*}
        list=${list#*,}
        case $met in
            *" $need "*) ;;
            *) printf '%s ' "$need" ;;
        esac
    done
}

fleet_ensure() {
    if [ -n "$blocked" ]; then
        fail "$1" "not started: $blocked"
        return 0
    fi
    unmet=$(unmet_needs "$3")
    if [ -n "$unmet" ]; then
        fail "$1" "not started: it depends on ${unmet% }, not ready"
        return 0
    fi
    [ -e "$work/before" ] || snapshot
    read -r _ <&3
    jobs=$((jobs + 1))
    # A job reports through its file: the caller's variables are out of a subshell's reach.
    out=$work/job.$jobs
    ( ensure "$out.err" "$@" >"$out" 2>&1 || say failed "$1 stopped unexpectedly" >>"$out"
      echo >&3 ) &
}

snapshot() {
    # Every container's revision and state, read once before the first container is touched:
    # one docker call, not one per container (each ensure touches only its own container).
    docker ps -a --no-trunc --format '{{.Names}}	{{.Label "fleet.revision"}}	{{.State}}' \
        >"$work/before.tmp"
    mv "$work/before.tmp" "$work/before"
}

was() {
    # "REVISION true|false" of container $1 as the snapshot saw it ("" if there was none).
    awk -F '\t' -v name="$1" '$1 == name {
        print $2, ($3 == "running" || $3 == "restarting") ? "true" : "false"; exit }' \
        "$work/before"
}

ensure() {
    # One container to revision $2: kept, started, created or replaced. Reports as
    # "pending NAME VERB" for fleet_verify, or kept / failed / rolledback lines.
    # $1 is the job's own file for docker's errors; then fleet_ensure's arguments.
    err=$1
    name=$2
    revision=$3
    shift 4
    current=$(was "$name")
    case $current in
        "$revision true")
            say kept "$name"
            return 0 ;;
        "$revision false")
            if docker start "$name" >/dev/null 2>"$err"; then
                say pending "$name started"
            else
                say failed "$name $(tail -n 1 "$err")"
            fi
            return 0 ;;
    esac
    verb=created
    if [ -n "$current" ]; then
        if [ -n "$(was "$name$PREV")" ]; then
            docker rm -f "$name$PREV" >/dev/null 2>&1 || true
        fi
        docker stop "$name" >/dev/null 2>&1 || true
        if ! docker rename "$name" "$name$PREV" 2>"$err"; then
            docker start "$name" >/dev/null 2>&1 || true
            say failed "$name $(tail -n 1 "$err")"
            return 0
        fi
        verb=replaced
        say settle "$name"
    fi
    if docker run -d --name "$name" "$@" >/dev/null 2>"$err"; then
        say pending "$name $verb"
    else
        say failed "$name $(tail -n 1 "$err")"
        docker rm -f "$name" >/dev/null 2>&1 || true
        restore "$name"
    fi
}

fleet_wave() {
    # Wait for the wave's jobs, then take in their reports, in the order they were started.
    wait
    n=$wave_from
    while [ "$n" -le "$jobs" ]; do
        while read -r verb name rest; do
            case $verb in
                pending) pending="$pending $name:$rest" ;;
                settle) waits=yes ;;
                failed) fail "$name" "$rest" ;;
                kept | rolledback) say "$verb" "$name" ;;
            esac
        done <"$work/job.$n"
        n=$((n + 1))
    done
    wave_from=$n
}

fleet_remove() {
    if docker rm -f "$1" "$1$PREV" >/dev/null 2>"$errors" \
            || ! grep -qv 'No such container' "$errors"; then
        say removed "$1"
    else
        fail "$1" "$(tail -n 1 "$errors")"
    fi
}

fleet_prune() {
    # Only when no container, running or stopped, still joins it.
    if [ -z "$(docker ps -aq --filter "network=$1")" ]; then
        docker network rm "$1" >/dev/null 2>&1 || true
    fi
}

states() {
    # One line per container: NAME STATUS HEALTH RESTARTS EXITCODE RESTART-POLICY.
    # shellcheck disable=SC2086  # one argument per name
    docker inspect --format \
        '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}' \
        $1 2>/dev/null || true
}

up() {
    # $1: a states() line without its name. Running and not restarting, healthy if it has a
    # health check; or run to success and not to be restarted (a one-shot job).
    case $1 in
        "running healthy "* | "running none 0 "*) return 0 ;;
        "exited "*" 0 no" | "exited "*" 0 on-failure") return 0 ;;
    esac
    return 1
}

healthy() {
    # Up (see up()), waiting while its health check is starting.
    deadline=$(($(date +%s) + health_timeout))
    while :; do
        state=$(states "$1")
        state=${state#* }
        if up "$state"; then return 0; fi
        case $state in
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
    names=""
    for item in $pending; do names="$names ${item%:*}"; done
    # One docker inspect for all: those already up need nothing more.
    ready=$(states "$names" | while read -r name rest; do
        if up "$rest"; then printf '%s ' "${name#/}"; fi
    done)
    for item in $pending; do
        name=${item%:*}
        case " $ready" in
            *" $name "*) say "${item##*:}" "$name"; continue ;;
        esac
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
