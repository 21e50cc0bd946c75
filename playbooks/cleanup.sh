#!/bin/sh
# Reclaim the items fleet/cleanup.py chose, one call each, appended to this
# script (fleet/deploy/scan.py writes them):
#   fleet_tmp PATH           fleet_cores PATH          fleet_apt clean
#   fleet_journal KEEP_BYTES fleet_staging DIR         fleet_logs CONTAINER_ID
#   fleet_stopped CONTAINER_ID                         fleet_old_revisions IMAGE_ID
#   fleet_unused_images IMAGE_ID                       fleet_dangling IMAGE_ID
#   fleet_volumes NAME
# Every call re-checks its rule before it acts, as the board may have changed
# since the scan: a file must still be old and closed, a container still
# stopped, an image still unused. Nothing is forced. It writes no file of its
# own, so it runs on a card that is 100 % full: the calls come in an order
# that deletes plain files first, making room for what dockerd must write.
# Prints one line per call, and the disk after:
#   reclaimed|skipped|failed CATEGORY TARGET [why]
# Arguments, in the environment:
#   FLEET_TMP_MINUTES  a temporary file must be older than this (default 10080)
set -eu

tmp_minutes=${FLEET_TMP_MINUTES:-10080}
root=/var/lib/docker

say() { printf '%s %s %s%s\n' "$1" "$2" "$3" "${4:+ $4}"; }

# done/failed from a command's status and the last line of its error output.
outcome() {
    category=$1
    target=$2
    shift 2
    if why=$("$@" 2>&1 >/dev/null); then
        say reclaimed "$category" "$target"
    else
        say failed "$category" "$target" "$(printf '%s' "$why" | tail -n 1)"
    fi
}

open_files=""
is_open() {
    # What processes hold open, read once: a scan of /proc per file would be slow.
    if [ -z "$open_files" ]; then
        open_files=$(find /proc/[0-9]*/fd -type l -printf '%l\n' 2>/dev/null | sort -u)
    fi
    printf '%s\n' "$open_files" | grep -qxF -- "$1"
}

old_file() {
    # A regular file (not a link), under one of the given directories, not open.
    path=$1
    shift
    case $path in *'/../'*) return 1 ;; esac
    under=no
    for dir in "$@"; do
        case $path in "$dir"/*) under=yes ;; esac
    done
    [ "$under" = yes ] && [ -f "$path" ] && [ ! -L "$path" ] && ! is_open "$path"
}

fleet_tmp() {
    if ! old_file "$1" /tmp /var/tmp; then
        say skipped tmp "$1" "gone, open, or not a plain file in /tmp or /var/tmp"
    elif [ -z "$(find "$1" -mmin "+$tmp_minutes" 2>/dev/null)" ]; then
        say skipped tmp "$1" "modified since the scan"
    else
        outcome tmp "$1" rm -f -- "$1"
    fi
}

fleet_cores() {
    if old_file "$1" /var/lib/systemd/coredump /var/crash; then
        outcome cores "$1" rm -f -- "$1"
    else
        say skipped cores "$1" "gone, open, or not a plain file in a core dump directory"
    fi
}

fleet_apt() {
    outcome apt "$1" apt-get clean
}

fleet_journal() {
    outcome journal "$1" journalctl --vacuum-size="$1"
}

fleet_staging() {
    case $1 in
        /var/lib/fleet/incoming/*/*|*'/../'*) say skipped staging "$1" "not a staging directory" ;;
        /var/lib/fleet/incoming/?*) outcome staging "$1" rm -rf -- "$1" ;;
        *) say skipped staging "$1" "not a staging directory" ;;
    esac
}

running() {
    [ "$(docker inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]
}

fleet_logs() {
    # Truncated in place: dockerd appends to the file it holds open.
    log=$(docker inspect --format '{{.LogPath}}' "$1" 2>/dev/null) || log=""
    case $log in
        "$root"/containers/*) outcome logs "$1" truncate -s 0 "$log" ;;
        *) say skipped logs "$1" "no json-file log under $root" ;;
    esac
}

fleet_stopped() {
    if running "$1"; then
        say skipped stopped "$1" "running again"
    else
        outcome stopped "$1" docker rm "$1"
    fi
}

remove_image() {
    # Only if no container at all uses it; every tag first, so none is forced.
    category=$1
    image=$2
    if [ -n "$(docker ps -aq --filter "ancestor=$image" 2>/dev/null)" ]; then
        say skipped "$category" "$image" "a container uses it"
        return
    fi
    for tag in $(docker image inspect --format '{{join .RepoTags " "}}' "$image" 2>/dev/null); do
        docker rmi "$tag" >/dev/null 2>&1 || true
    done
    if ! docker image inspect "$image" >/dev/null 2>&1; then
        say reclaimed "$category" "$image"
    else
        outcome "$category" "$image" docker rmi "$image"
    fi
}

fleet_old_revisions() { remove_image old-revisions "$1"; }
fleet_unused_images() { remove_image unused-images "$1"; }
fleet_dangling() { remove_image dangling "$1"; }

fleet_volumes() {
    outcome volumes "$1" docker volume rm "$1"
}

fleet_disk() {
    printf '### disk\n'
    if [ -d "$root" ]; then df -Pk "$root"; else df -Pk /; fi | tail -n 1
}
