#!/usr/bin/env bash
# podman for the container tests and the image build: Debian's packages at pinned versions, and
# its Docker-compatible API service with all its state in a scratch folder (never the global store).
#
# Usage:
#   scripts/podman.sh install          install the pinned packages (apt, as root); fast when present
#   scripts/podman.sh start [DIR]      start the API service with its state under DIR
#                                      (default .test-deps/podman); prints the socket path.
#                                      Idempotent: a service already answering on DIR is kept.
#   scripts/podman.sh stop [DIR]       stop the service this script started (by its PID file)
#   scripts/podman.sh env [DIR]        print `export` lines: DOCKER_HOST, CONTAINERS_CONF,
#                                      CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF (for the
#                                      podman CLI on the same store and registries)
#   scripts/podman.sh busybox [DIR]    import localhost/bb:latest (busybox-static rootfs) if missing
#   scripts/podman.sh hostroot [DIR]   import localhost/hostroot:latest if missing: an almost empty
#                                      rootfs (bin, lib, lib64, sbin → usr/…; passwd with uid 1000)
#                                      meant to run with `-v /usr:/usr:ro` (the host's programs)
#
# PODMAN_SERVICE_TIME=N (start): the service exits after N seconds without a connection (default
# 0: never), so a test run that cannot stop it by its PID leaves nothing running.
#
# Facts this relies on (../shared/CONTAINERS.md in the workspace): the service needs
# CONTAINERS_CONF in its own environment; its socket is root-only (0600); no registry is
# reachable, so every image is built or imported locally. A registry on loopback (Debian's
# docker-registry, started by a test) is plain HTTP: registries.conf marks 127.0.0.1 and
# localhost, any port, insecure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
DIR="${2:-$ROOT/.test-deps/podman}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
SOCK="$DIR/podman.sock"
PIDFILE="$DIR/service.pid"

# Debian 12 (bookworm) versions; change them together.
PKGS=(
    podman=4.3.1+ds1-8+deb12u1+b3
    runc=1.1.5+ds1-1+deb12u1
    catatonit=0.1.7-1+b2
    containernetworking-plugins=1.1.1+ds1-3+b5
    busybox-static=1:1.35.0-4+deb12u1+b1
    debootstrap=1.0.128+nmu2+deb12u2
    docker-registry=2.8.2+ds1-1
    uidmap iptables
)

die() { echo "podman.sh: error: $*" >&2; exit 1; }

install() {
    if command -v podman >/dev/null && command -v runc >/dev/null && command -v busybox >/dev/null \
        && command -v debootstrap >/dev/null && command -v docker-registry >/dev/null \
        && [ -x /usr/libexec/podman/catatonit ] \
        && [ -x /usr/lib/cni/bridge ]; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "installing podman needs root (apt-get install ${PKGS[*]})"
    echo "podman.sh: installing ${PKGS[*]} ..." >&2
    local log
    log="$(mktemp)"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PKGS[@]}"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "apt-get could not install podman (output above)"
    fi
    rm -f "$log"
}

write_conf() {
    mkdir -p "$DIR/libpod-tmp" "$DIR/storage" "$DIR/run"
    # Each file is written aside and renamed into place: tests run the podman CLI on these files
    # while another test's `hostroot` or `start` writes them again (a reader must never see one
    # half written: "The storage 'driver' option must be set", seen in CI).
    cat >"$DIR/containers.conf.$$" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
tmp_dir = "$DIR/libpod-tmp"
events_logger = "file"
cgroup_manager = "cgroupfs"
[network]
network_config_dir = "$DIR/networks"
EOF
    # The system's registries (search lists, mirrors) and, added, the loopback registries as
    # insecure (plain HTTP): a test's own registry on 127.0.0.1:<port> or localhost:<port> (an
    # entry without a port matches every port).
    { [ -f /etc/containers/registries.conf ] && cat /etc/containers/registries.conf; cat <<EOF
[[registry]]
location = "localhost"
insecure = true
[[registry]]
location = "127.0.0.1"
insecure = true
EOF
    } >"$DIR/registries.conf.$$"
    cat >"$DIR/storage.conf.$$" <<EOF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
    local f
    for f in containers.conf registries.conf storage.conf; do
        mv -f "$DIR/$f.$$" "$DIR/$f"
    done
}

envs() {
    echo "export DOCKER_HOST=unix://$SOCK"
    echo "export CONTAINERS_CONF=$DIR/containers.conf"
    echo "export CONTAINERS_STORAGE_CONF=$DIR/storage.conf"
    echo "export CONTAINERS_REGISTRIES_CONF=$DIR/registries.conf"
}

answering() { curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

start() {
    install
    write_conf
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && answering; then
        echo "$SOCK"
        return 0
    fi
    rm -f "$SOCK"
    CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf" \
        CONTAINERS_REGISTRIES_CONF="$DIR/registries.conf" setsid podman system service --time="${PODMAN_SERVICE_TIME:-0}" "unix://$SOCK" >"$DIR/service.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
        if answering; then
            echo "$SOCK"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$DIR/service.log" >&2 || true
    die "podman system service did not answer on $SOCK within 10 s (its log is above)"
}

stop() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE" "$SOCK"
}

busybox_image() {
    eval "$(envs)"
    if podman image exists localhost/bb:latest; then return 0; fi
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for a in $("$rootfs/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$rootfs.tar" .
    podman import -q --change 'ENV PATH=/bin' "$rootfs.tar" localhost/bb:latest >/dev/null
    rm -rf "$rootfs" "$rootfs.tar"
}

hostroot_image() {
    eval "$(envs)"
    if podman image exists localhost/hostroot:latest; then return 0; fi
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/usr" "$rootfs/etc" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
    for d in bin lib lib64 sbin; do ln -s "usr/$d" "$rootfs/$d"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$rootfs.tar" .
    podman import -q --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$rootfs.tar" localhost/hostroot:latest >/dev/null
    rm -rf "$rootfs" "$rootfs.tar"
}

case "$cmd" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    env) envs ;;
    busybox) install; write_conf; busybox_image ;;
    hostroot) install; write_conf; hostroot_image ;;
    *) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
