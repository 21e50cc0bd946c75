#!/bin/sh
# Reclaim what fleet's own deploys leave behind, and only that. Categories
# (FLEET_CATEGORIES, comma-separated; default all three):
#   previous  the stopped rollback copies (NAME.prev) of stack FLEET_STACK's
#             containers, or of every fleet stack if FLEET_STACK is empty
#   staging   image layers staged by a push that never finished, older than
#             FLEET_STAGING_DAYS (default 7) days
#   dangling  untagged images no container uses (docker image prune)
# Without FLEET_APPLY=yes it only lists. Prints one line per item:
#   would-remove|removed|failed CATEGORY NAME
# Never touches a running container, a tagged image, or anything else.
set -eu

categories=${FLEET_CATEGORIES:-previous,staging,dangling}
stack=${FLEET_STACK:-}
days=${FLEET_STAGING_DAYS:-7}
apply=${FLEET_APPLY:-no}
staging=/var/lib/fleet/incoming

wanted() {
    case ",$categories," in *",$1,"*) return 0 ;; esac
    return 1
}

act() {
    # act CATEGORY NAME COMMAND...: list it, or do it and say how it went.
    category=$1
    name=$2
    shift 2
    if [ "$apply" != yes ]; then
        echo "would-remove $category $name"
    elif "$@" >/dev/null 2>&1; then
        echo "removed $category $name"
    else
        echo "failed $category $name"
    fi
}

if wanted previous; then
    filter=label=fleet.stack
    if [ -n "$stack" ]; then filter="label=fleet.stack=$stack"; fi
    docker ps -a --filter "$filter" --filter status=exited --filter status=created \
        --format '{{.Names}}' | while read -r name; do
        case $name in
            *.prev) act previous "$name" docker rm "$name" ;;
        esac
    done
fi

if wanted staging && [ -d "$staging" ]; then
    find "$staging" -mindepth 1 -maxdepth 1 -type d -mtime "+$days" | while read -r dir; do
        act staging "$dir" rm -rf "$dir"
    done
fi

if wanted dangling; then
    docker images --filter dangling=true --no-trunc --format '{{.ID}}' | while read -r id; do
        # docker rmi refuses an image a container (even a stopped one) still uses.
        act dangling "$id" docker rmi "$id"
    done
fi
