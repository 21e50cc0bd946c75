#!/bin/sh
# What fills the board, measured for fleet/cleanup.py to decide on: sections
# headed "### NAME", read by fleet/deploy/scan.py. Reads only, and writes
# nothing anywhere, so it works on a card that is 100 % full. Run as root
# (fleet adds `sudo -n` for another user): logs and layer sizes are root's.
# Arguments, in the environment:
#   FLEET_TMP_MINUTES  list only temporary files older than this (default 10080, 7 days)
set -eu

tmp_minutes=${FLEET_TMP_MINUTES:-10080}
root=/var/lib/docker

section() { printf '### %s\n' "$1"; }

# Files as "bytes<TAB>mtime<TAB>path", regular files only (never a link).
files() { find "$@" -xdev -type f -printf '%s\t%T@\t%p\n' 2>/dev/null || true; }

section now
date +%s

section disk
if [ -d "$root" ]; then df -Pk "$root"; else df -Pk /; fi | tail -n 1

section tools
for tool in journalctl apt-get; do
    if command -v "$tool" >/dev/null 2>&1; then echo "$tool"; fi
done

section tmp
for dir in /tmp /var/tmp; do
    if [ -d "$dir" ]; then files "$dir" -mmin "+$tmp_minutes"; fi
done

section open
# What processes hold open there: those files are never removed.
find /proc/[0-9]*/fd -type l \( -lname '/tmp/*' -o -lname '/var/tmp/*' \
    -o -lname '/var/lib/systemd/coredump/*' -o -lname '/var/crash/*' \) \
    -printf '%l\n' 2>/dev/null | sort -u || true

section cores
for dir in /var/lib/systemd/coredump /var/crash; do
    if [ -d "$dir" ]; then files "$dir"; fi
done

section apt
if [ -d /var/cache/apt/archives ]; then
    find /var/cache/apt/archives -xdev -type f -name '*.deb' -printf '%s\n' 2>/dev/null || true
fi

section journal
if [ -d /var/log/journal ]; then du -sk /var/log/journal | cut -f1; fi

section staging
if [ -d /var/lib/fleet/incoming ]; then
    for dir in /var/lib/fleet/incoming/*/; do
        [ -d "$dir" ] || continue
        newest=$(find "$dir" -printf '%T@\n' | sort -n | tail -n 1)
        printf '%s\t%s\t%s\n' "$(($(du -sk "$dir" | cut -f1) * 1024))" "$newest" "${dir%/}"
    done
fi

if ! docker version >/dev/null 2>&1; then
    exit 0  # no engine: the sections above are all there is
fi

section containers
ids=$(docker ps -aq --no-trunc)
if [ -n "$ids" ]; then
    # shellcheck disable=SC2086  # one argument per id
    docker inspect --size --format \
        '{{.Id}}	{{.Name}}	{{.State.Running}}	{{.Image}}	{{.SizeRw}}	{{.LogPath}}	{{index .Config.Labels "fleet.stack"}}	{{json .Mounts}}' \
        $ids 2>/dev/null || true
fi

section logs
if [ -d "$root/containers" ]; then
    find "$root/containers" -mindepth 2 -maxdepth 3 -type f -name '*.log*' \
        -printf '%s\t%p\n' 2>/dev/null || true
fi

section images
ids=$(docker images -aq --no-trunc | sort -u)
if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker image inspect --format '{{.Id}}	{{json .RepoTags}}	{{json .RootFS.Layers}}' \
        $ids 2>/dev/null || true
fi

section layers
for dir in "$root"/image/*/layerdb/sha256/*/; do
    if [ -r "$dir/size" ]; then printf '%s\t%s\n' "sha256:$(basename "$dir")" "$(cat "$dir/size")"; fi
done

section volumes
docker volume ls -q | while read -r name; do
    point=$(docker volume inspect --format '{{.Mountpoint}}' "$name" 2>/dev/null) || continue
    size=0
    if [ -d "$point" ]; then size=$(($(du -sk "$point" | cut -f1) * 1024)); fi
    printf '%s\t%s\n' "$size" "$name"
done
