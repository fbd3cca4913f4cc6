#!/usr/bin/env bash
# The container image, built offline with podman (for CI and tests/image.rs).
#
# Usage:
#   scripts/image.sh bases    make the base images the Dockerfile names, if missing:
#                             `debian:bookworm-slim` and `rust:1-slim-bookworm` (debootstrap from
#                             Debian's mirror, the one apt uses; about 1 minute each, once)
#   scripts/image.sh build    bases, then `podman build` of the Dockerfile as localhost/mcp-hub:ci
#                             (--network none; the host's Rust toolchain and crate registry are
#                             mounted into the build stage, target/ is kept in target/image so a
#                             second build is incremental, and an unchanged tree is a cache hit)
#                             With MCP_HUB_BINARY=PATH: no build stage, the image takes that binary
#                             (built on a Debian 12 machine, e.g. target/release/mcp-hub)
#                             With WITH_UV=1: the uv variant (python3 and uv, for `uvx` servers),
#                             still offline: uv's wheel is fetched on the host by pip into
#                             docker/wheels/ (bind-mounted into the build, not copied), and the
#                             runtime stage starts from a local base that has python3
#                             (localhost/mcp-hub-base:bookworm-python3). Use another HUB_IMAGE.
#                             WITH_NODE=1 is passed on as is (node and npm from apt: needs a network)
#   scripts/image.sh env      print the `export` lines that point the podman CLI at the same store
#
# No registry is reachable: no image is ever pulled. The base images are made locally and tagged
# with the public names the Dockerfile uses, so the same Dockerfile builds with `docker build .`
# anywhere else. The store is scripts/podman.sh's scratch folder (.test-deps/podman, gitignored),
# which also caches the base images between runs. Concurrent runs for one image are serialised by a lock.
# Env: HUB_IMAGE (default localhost/mcp-hub:ci), PODMAN_DIR (default .test-deps/podman),
#      RUSTUP_HOME, CARGO_HOME (default ~/.rustup, ~/.cargo: rustup's places).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${HUB_IMAGE:-localhost/mcp-hub:ci}"
PODMAN_DIR="${PODMAN_DIR:-$ROOT/.test-deps/podman}"
RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
SUITE=bookworm
# Bump when the recipe of a base image changes: an image with another label is made again.
BASE_RECIPE=2
SLIM=docker.io/library/debian:bookworm-slim
PYTHON_BASE=localhost/mcp-hub-base:bookworm-python3
BUILDER=docker.io/library/rust:1-slim-bookworm

die() { echo "image.sh: error: $*" >&2; exit 1; }
say() { echo "image.sh: $*" >&2; }

podman_env() {
    "$ROOT/scripts/podman.sh" start "$PODMAN_DIR" >/dev/null
    eval "$("$ROOT/scripts/podman.sh" env "$PODMAN_DIR")"
}

has_base() { # image
    [ "$(podman image inspect --format '{{ index .Labels "mcp-hub.base-recipe" }}' "$1" 2>/dev/null)" = "$BASE_RECIPE" ]
}

# What Debian's own slim images leave out (debuerreotype --slimify): docs, man pages, locales.
SLIM_EXCLUDES='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias'

unmount_under() { # dir: lazily unmounts every mount below dir (deepest first)
    local m
    awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" || die "could not unmount $m (left by debootstrap)"
    done
}

make_base() { # image include-packages env-changes...
    local image="$1" include="$2" dir log started
    shift 2
    has_base "$image" && return 0
    started=$SECONDS
    say "making $image with debootstrap (minbase${include:+, $include}) ..."
    dir="$(mktemp -d "$PODMAN_DIR/rootfs.XXXXXX")"
    log="$dir.log"
    # shellcheck disable=SC2086
    # One more try on failure: seen once here, ca-certificates failed to configure five times in a
    # row and the same command passed at once afterwards.
    local try
    for try in 1 2; do
        if debootstrap --variant=minbase ${include:+--include=$include} "$SUITE" "$dir" http://deb.debian.org/debian >"$log" 2>&1; then
            break
        fi
        tail -n 30 "$log" >&2
        [ -f "$dir/debootstrap/debootstrap.log" ] && tail -n 30 "$dir/debootstrap/debootstrap.log" >&2
        unmount_under "$dir"
        rm -rf --one-file-system "$dir"
        [ "$try" = 2 ] && die "debootstrap failed twice for $image (its logs are above)"
        say "debootstrap failed for $image; trying once more ..."
        mkdir -p "$dir"
    done
    # debootstrap mounts the target's /proc and means to unmount it on exit; when something held
    # it busy (seen once: the engine's service starting at the same time), it stays mounted and a
    # tar of the folder would read the host's /proc (kcore) until the disk is full.
    unmount_under "$dir"
    printf '%s\n' "$SLIM_EXCLUDES" >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim"
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$dir"/usr/share/{man,groff,info,lintian,linda}/* "$dir"/var/cache/apt/archives/*.deb \
        "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log "$dir"/tmp/*
    find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    local changes=(--change "LABEL mcp-hub.base-recipe=$BASE_RECIPE" --change 'CMD ["bash"]')
    for c in "$@"; do changes+=(--change "$c"); done
    tar -C "$dir" --one-file-system -c . | podman import -q "${changes[@]}" - "$image" >/dev/null
    rm -rf --one-file-system "$dir" "$log"
    say "made $image in $((SECONDS - started)) s"
}

bases() {
    command -v debootstrap >/dev/null || "$ROOT/scripts/podman.sh" install
    local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    # ca-certificates is not in Debian's slim image (the Dockerfile installs it when missing); it
    # is made part of the base here because the build runs without a network.
    make_base "$SLIM" ca-certificates "ENV PATH=$path" &
    local a=$!
    # The official rust image's layout: the toolchain under /usr/local/{rustup,cargo}; here those
    # folders are empty and the build mounts the host's toolchain there.
    make_base "$BUILDER" gcc,libc6-dev,ca-certificates \
        "ENV PATH=/usr/local/cargo/bin:$path" "ENV RUSTUP_HOME=/usr/local/rustup" \
        "ENV CARGO_HOME=/usr/local/cargo" &
    local b=$!
    local rc=0
    wait "$a" || rc=1
    wait "$b" || rc=1
    [ "$rc" = 0 ] || die "a base image could not be made (see above)"
}

# WITH_UV=1: uv's wheel in docker/wheels (pip on the host reaches PyPI; the build does not), and
# the python3 base; adds the build args.
uv_variant() {
    local version
    version="$(sed -n 's/^ARG UV_VERSION=//p' "$ROOT/Dockerfile")"
    [ -n "$version" ] || die "no \`ARG UV_VERSION=\` in the Dockerfile"
    if ! compgen -G "$ROOT/docker/wheels/uv-$version-*.whl" >/dev/null; then
        say "fetching uv $version's wheel into docker/wheels (pip download) ..."
        python3 -m pip download --quiet --only-binary :all: --no-deps \
            --dest "$ROOT/docker/wheels" "uv==$version" >&2 \
            || die "pip could not download uv==$version (a wheel for this machine put in docker/wheels/ works too)"
    fi
    make_base "$PYTHON_BASE" ca-certificates,python3 "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    args+=(--build-arg WITH_UV=1 --build-arg "RUNTIME_BASE=$PYTHON_BASE")
}

build() {
    local started=$SECONDS log args=()
    if [ -n "${MCP_HUB_BINARY:-}" ]; then
        # A binary built on this (Debian 12) machine: no build stage, no builder base.
        [ -x "$MCP_HUB_BINARY" ] || die "MCP_HUB_BINARY=$MCP_HUB_BINARY is not an executable file"
        make_base "$SLIM" ca-certificates "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        mkdir -p "$ROOT/dist"
        cp "$MCP_HUB_BINARY" "$ROOT/dist/mcp-hub"
        args+=(--build-arg BINARY_FROM=prebuilt)
        say "building $IMAGE from $MCP_HUB_BINARY (podman build --network none) ..."
    else
        [ -x "$CARGO_HOME/bin/cargo" ] || die "no Rust toolchain at $CARGO_HOME/bin (install rustup, or set CARGO_HOME/RUSTUP_HOME)"
        [ -d "$RUSTUP_HOME/toolchains" ] || die "no rustup toolchains under $RUSTUP_HOME"
        bases
        mkdir -p "$ROOT/target/image" "$CARGO_HOME/registry"
        # The host's crate registry is mounted read-write (cargo takes its lock there); --locked
        # with CARGO_NET_OFFLINE=true: every crate must already be in it (any cargo build of the
        # tree fetched them).
        args+=(-v "$RUSTUP_HOME:/usr/local/rustup:ro"
            -v "$CARGO_HOME/bin:/usr/local/cargo/bin:ro"
            -v "$CARGO_HOME/registry:/usr/local/cargo/registry"
            -v "$ROOT/target/image:/src/target"
            --build-arg CARGO_NET_OFFLINE=true
            # Explicit: podman 4.3's stage skipping does not see the default of an ARG used in
            # FROM, and fails with `from-source: image not known`.
            --build-arg BINARY_FROM=source)
        say "building $IMAGE (podman build --network none; the first build compiles the hub in release mode: minutes) ..."
    fi
    if [ "${WITH_UV:-0}" = 1 ]; then uv_variant; fi
    if [ "${WITH_NODE:-0}" = 1 ]; then args+=(--build-arg WITH_NODE=1); fi
    log="$PODMAN_DIR/build-$(printf '%s' "$IMAGE" | tr -c 'A-Za-z0-9._-' _).log"
    if ! podman build --pull=never --network none --format docker "${args[@]}" \
        -t "$IMAGE" "$ROOT" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "podman build failed (the end of its log is above; all of it in $log)"
    fi
    say "built $IMAGE in $((SECONDS - started)) s ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
}

cmd="${1:-}"
case "$cmd" in
    bases | build)
        podman_env
        lock="$PODMAN_DIR/image-$(printf '%s' "$IMAGE" | tr -c 'A-Za-z0-9._-' _).lock"
        exec 9>"$lock"
        flock -w 3600 9 || die "another image.sh held $lock for an hour"
        "$cmd"
        ;;
    env) "$ROOT/scripts/podman.sh" env "$PODMAN_DIR" ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
