#!/bin/sh
# What fleet must know of a board before deploying to it, in one round trip:
# sections headed "### NAME", each parsed by fleet/deploy/facts.py. Reads only.
set -eu

section() { printf '### %s\n' "$1"; }

images() {
    ids=$(docker images -aq)
    if [ -n "$ids" ]; then
        # One argument per image id. One removed since it was listed is left out, not fatal.
        # shellcheck disable=SC2086
        docker image inspect --format '{{.Id}}	{{json .RepoTags}}	{{json .RootFS.Layers}}' \
            $ids 2>/dev/null || true
    fi
}

# Images fleet built on this board: their names, the digest of what they were built from
# (label fleet.build), their size in bytes.
builds() {
    ids=$(docker images -q --filter label=fleet.build)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker image inspect --format \
            '{{json .RepoTags}}	{{index .Config.Labels "fleet.build"}}	{{.Size}}' \
            $ids 2>/dev/null || true
    fi
}

section arch
uname -m

section os
if [ -r /etc/os-release ]; then cat /etc/os-release; fi

section docker
answering=no
if ! command -v docker >/dev/null 2>&1; then
    echo "missing"
elif docker version --format '{{.Server.Version}}' 2>&1; then
    answering=yes
fi  # else its error is the section's text: installed, not answering

section disk
root=/var/lib/docker
[ -d "$root" ] || root=/
df -Pk "$root" | tail -n 1

if [ "$answering" = yes ]; then
    # The engine is asked three things at once (each docker call costs a process and a round
    # trip: on a Pi, a tenth of a second or more); each answer is printed in its turn.
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    docker ps -a --no-trunc --format \
        '{{.ID}}	{{.Names}}	{{.State}}	{{.Status}}	{{.Image}}	{{.Ports}}	{{.Label "fleet.stack"}}	{{.Label "fleet.service"}}	{{.Label "fleet.replica"}}	{{.Label "fleet.revision"}}	{{.Networks}}' \
        >"$out/containers" &
    ps_pid=$!
    docker network ls --format '{{.Name}}	{{.Label "fleet.stack"}}' >"$out/networks" &
    net_pid=$!
    images >"$out/images" &
    img_pid=$!
    wait "$ps_pid"
    section containers
    cat "$out/containers"
    wait "$net_pid"
    section networks
    cat "$out/networks"
    wait "$img_pid"
    section images
    cat "$out/images"
    section builds
    builds
fi

section files
if [ -d /var/lib/fleet/stacks ]; then
    find /var/lib/fleet/stacks -type f -path '*/configs/*' -exec sha256sum {} +
fi
