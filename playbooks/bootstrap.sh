#!/bin/sh
# Bootstrap a board for fleet: Docker, the agent's image, its config, the agent container.
# Run as root (fleet adds `sudo -n` for another user). Arguments, in the environment:
#   FLEET_IMAGE    the agent image's tag, fleet/agent:VERSION-HASH
#   FLEET_BASE     the image it is built on (a build argument)
#   FLEET_CONTEXT  a gzipped build context fleet sent because the image was missing (removed after)
#   FLEET_CONFIG   the agent's environment file: FLEET_AGENT_* lines, no secret
#   FLEET_SETTLE   seconds a new agent must stay up (default 3)
# fleet then appends `fleet_bootstrap PASSWORD_BASE64` (empty: the broker takes no password),
# so the password travels on stdin, never on a command line that sudo or ps would show.
# Each step checks before it acts, so a second run changes nothing; each prints one line:
#   step docker ok|installed|enabled|started
#   step agent-image present|built
#   step config unchanged|written
#   step password unchanged|written|removed|none
#   step host-key ok|readable|missing
#   step agent running|started|replaced CONTAINER-ID
#   step old-images none|removed N
# A failed step prints `error STEP why` and the script exits 1.
set -eu

CONFIG_DIR=/etc/fleet
CONFIG=$CONFIG_DIR/agent.env
PASSWORD=$CONFIG_DIR/mqtt-password
PASSWORD_MOUNT=/run/secrets/fleet-mqtt-password
HOST_KEY=/etc/ssh/ssh_host_ed25519_key.pub
DEVICE_TREE=/sys/firmware/devicetree/base
DEVICE_TREE_MOUNT=/fleet/device-tree
SOCKET=/var/run/docker.sock
NAME=fleet-agent
AGENT_USER=65534
ROLE_LABEL=fleet.role=agent-image
settle=${FLEET_SETTLE:-3}
: "${FLEET_IMAGE:?the agent image tag}" "${FLEET_BASE:?its base image}" \
    "${FLEET_CONFIG:?the agent environment file}"
log=$(mktemp)
trap 'rm -f "$log" "$CONFIG_DIR"/.fleet-new.*' EXIT

say() { printf 'step %s\n' "$*"; }

fail() {
    printf 'error %s %s\n' "$1" "$2"
    exit 1
}

why() {
    # The last line of the log that says something: not the legacy builder's deprecation notice.
    grep -v -e DEPRECATED -e buildx -e '^[[:space:]]*$' "$log" | tail -n 1 || true
}

fleet_docker() {
    outcome=ok
    if ! command -v docker >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || fail docker \
            "docker is not installed and this board has no apt-get: install Docker Engine, then enroll it again"
        # A fresh image's package lists are often stale or empty: update first, though one
        # unreachable mirror (which fails the update) need not stop the install.
        apt-get update -q >"$log" 2>&1 || true
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >"$log" 2>&1; then
            fail docker "apt-get install docker.io failed: $(why)"
        fi
        outcome=installed
    fi
    # Only where systemd runs (sd_booted(3)'s test): a chroot or container has systemctl but no systemd.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        if ! systemctl is-enabled --quiet docker 2>/dev/null; then
            systemctl enable docker >"$log" 2>&1 || fail docker "systemctl enable docker: $(why)"
            [ "$outcome" = installed ] || outcome=enabled
        fi
        if ! systemctl is-active --quiet docker; then
            systemctl start docker >"$log" 2>&1 || fail docker "systemctl start docker: $(why)"
            [ "$outcome" = installed ] || outcome=started
        fi
    fi
    docker version --format '{{.Server.Version}}' >/dev/null 2>"$log" \
        || fail docker "the Docker engine does not answer: $(why)"
    say docker "$outcome"
}

fleet_image() {
    if docker image inspect "$FLEET_IMAGE" >/dev/null 2>&1; then
        say agent-image present
        return 0
    fi
    context=${FLEET_CONTEXT:-}
    if [ -z "$context" ] || [ ! -f "$context" ]; then
        fail agent-image "$FLEET_IMAGE is missing and fleet sent no build context: enroll it again"
    fi
    if docker build --quiet --tag "$FLEET_IMAGE" --label "$ROLE_LABEL" \
            --build-arg "BASE=$FLEET_BASE" - <"$context" >"$log" 2>&1; then
        rm -f "$context"
        say agent-image built
    else
        rm -f "$context"
        fail agent-image "docker build on $FLEET_BASE: $(why)"
    fi
}

staged() { mktemp "$CONFIG_DIR/.fleet-new.XXXXXX"; }

place() {
    # Move the staged file $1 to $2 with mode $3 and owner $4, unless $2 is all that already.
    # Sets $changed to yes or no.
    if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c '%a %u' "$2")" = "$3 $4" ]; then
        rm -f "$1"
        changed=no
    else
        chown "$4" "$1"
        chmod "$3" "$1"
        mv -f "$1" "$2"
        changed=yes
    fi
}

fleet_config() {
    [ -d "$CONFIG_DIR" ] || mkdir -m 700 "$CONFIG_DIR"
    new=$(staged)
    printf '%s\n' "$FLEET_CONFIG" >"$new"
    place "$new" "$CONFIG" 600 0
    if [ "$changed" = yes ]; then say config written; else say config unchanged; fi
}

fleet_password() {
    if [ -z "$1" ]; then
        if [ -e "$PASSWORD" ]; then
            rm -f "$PASSWORD"
            say password removed
        else
            say password none
        fi
        return 0
    fi
    new=$(staged)
    printf '%s' "$1" | base64 -d >"$new" 2>/dev/null || fail password "it is not base64"
    # The agent runs as $AGENT_USER and reads it through a read-only mount.
    place "$new" "$PASSWORD" 600 "$AGENT_USER"
    if [ "$changed" = yes ]; then say password written; else say password unchanged; fi
}

fleet_host_key() {
    # The agent advertises this key's fingerprint; without it, it advertises none.
    if [ ! -f "$HOST_KEY" ]; then
        say host-key missing
        return 0
    fi
    case $(stat -c %A "$HOST_KEY") in
        ???????r*) say host-key ok ;;
        *)  # a public key, readable by all on a stock board; the agent is not root
            chmod a+r "$HOST_KEY"
            say host-key readable ;;
    esac
}

container_id() { docker container inspect --format '{{.Id}}' "$NAME"; }

stays_up() {
    # An agent with a bad option exits at once (code 2), and is restarted over and over.
    sleep "$settle"
    state=$(docker container inspect --format '{{.State.Status}} {{.RestartCount}}' "$NAME" \
        2>/dev/null || true)
    [ "$state" = "running 0" ]
}

fleet_agent() {
    gid=$(stat -c %g "$SOCKET" 2>/dev/null) || fail agent "no Docker socket at $SOCKET"
    image=$(docker image inspect --format '{{.Id}}' "$FLEET_IMAGE" 2>"$log") \
        || fail agent "no image $FLEET_IMAGE: $(why)"
    set -- --network host --restart unless-stopped --user "$AGENT_USER:$AGENT_USER" \
        --group-add "$gid" --env-file "$CONFIG" --volume "$SOCKET:/var/run/docker.sock"
    if [ -f "$HOST_KEY" ]; then set -- "$@" --volume "$HOST_KEY:$HOST_KEY:ro"; fi
    # Docker masks /sys/firmware in every container, and /proc/device-tree links into it: the
    # board's device tree (what it says it is) goes where the agent looks instead. Pi and
    # Jetson boards have one. The rest the agent reads (thermal zones, the Pi's get_throttled,
    # a Jetson's GPU load and power monitors) is in the read-only /sys every container has.
    if [ -d "$DEVICE_TREE" ]; then
        set -- "$@" --volume "$DEVICE_TREE:$DEVICE_TREE_MOUNT:ro"
    fi
    if [ -f "$PASSWORD" ]; then set -- "$@" --volume "$PASSWORD:$PASSWORD_MOUNT:ro"; fi
    # The label says what the container was made from: the same run, image, config and password.
    config_hash=$({
        printf '%s\n' "$image" "$@"
        cat "$CONFIG"
        if [ -f "$PASSWORD" ]; then cat "$PASSWORD"; fi
    } | sha256sum | cut -c 1-16)
    current=$(docker container inspect \
        --format '{{index .Config.Labels "fleet.config"}} {{.State.Running}}' "$NAME" 2>/dev/null \
        || true)
    case $current in
        "$config_hash true")
            say agent running "$(container_id)"
            return 0 ;;
        "$config_hash false")
            docker start "$NAME" >/dev/null 2>"$log" || fail agent "docker start: $(why)"
            verb=started ;;
        "")
            verb=started ;;
        *)
            docker rm -f "$NAME" >/dev/null 2>"$log" || fail agent "removing the old agent: $(why)"
            verb=replaced ;;
    esac
    if [ "$current" != "$config_hash false" ]; then
        docker run --detach --name "$NAME" --label "fleet.config=$config_hash" "$@" "$FLEET_IMAGE" \
            >/dev/null 2>"$log" || fail agent "docker run: $(why)"
    fi
    if ! stays_up; then
        docker logs --tail 20 "$NAME" >"$log" 2>&1 || true
        fail agent "it did not stay up: $(why)"
    fi
    say agent "$verb" "$(container_id)"
}

fleet_prune() {
    # Agent images fleet built before this one; an image still in use is kept (rm refuses).
    removed=0
    for ref in $(docker image ls --filter "label=$ROLE_LABEL" --filter dangling=false \
            --format '{{.Repository}}:{{.Tag}}'); do
        if [ "$ref" != "$FLEET_IMAGE" ] && docker image rm "$ref" >/dev/null 2>&1; then
            removed=$((removed + 1))
        fi
    done
    if [ "$removed" -gt 0 ]; then say old-images removed "$removed"; else say old-images none; fi
}

fleet_bootstrap() {
    fleet_docker
    fleet_image
    fleet_config
    fleet_password "${1:-}"
    fleet_host_key
    fleet_agent
    fleet_prune
}
