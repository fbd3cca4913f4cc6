# syntax=docker/dockerfile:1
# mcp-hub in a container: one image, two modes. docs/container.md says everything; in short:
#   docker build -t mcp-hub .                                          # the hub only
#   docker build --build-arg WITH_NODE=1 -t mcp-hub:node .             # + node and npm (npx servers)
#   docker build --build-arg WITH_UV=1 -t mcp-hub:uv .                 # + python3 and uv (uvx servers)
#   docker run -i --rm mcp-hub                                         # MCP over stdin/stdout
#   docker run --rm -p 8080:8080 -v ./hub.toml:/etc/mcp-hub/hub.toml:ro \
#       -e MCP_HUB_ADMIN_KEY -e MCP_HUB_API_KEY mcp-hub serve --listen 0.0.0.0:8080
# The entrypoint validates the config first (exit 64 with `mcp-hub check`'s messages), then
# `exec`s the hub, which runs as uid 1000. HEALTHCHECK runs `mcp-hub health` (needs
# `--format docker` with podman/buildah: the OCI format has no HEALTHCHECK).

# Where the binary comes from: `source` (default) compiles it in the stage below; `prebuilt`
# takes dist/mcp-hub, built beforehand on a Debian 12 (glibc 2.36) machine, e.g. by
# `MCP_HUB_BINARY=target/release/mcp-hub scripts/image.sh build`. The unused stage is skipped.
# podman/buildah 4.3 need it given explicitly (`--build-arg BINARY_FROM=source`): their stage
# skipping does not see this default.
ARG BINARY_FROM=source
# The runtime stage's base. scripts/image.sh sets a local one with python3 for WITH_UV=1 offline.
ARG RUNTIME_BASE=debian:bookworm-slim

# ---------------------------------------------------------------- build: the binary from source
FROM rust:1-slim-bookworm AS from-source
# CI builds without a network, from the crates already on the machine (scripts/image.sh).
ARG CARGO_NET_OFFLINE=false
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The static shim stdio containers run under (build.rs builds it; the hub carries it).
COPY shim ./shim
# Only the Rust files Cargo.toml names (so editing an example config is no rebuild).
COPY examples/*.rs ./examples/
COPY benches ./benches
# target/ may be a cache mount (scripts/image.sh mounts one): the binary is copied out of it.
RUN cargo build --release --locked --bin mcp-hub \
    && cp target/release/mcp-hub /usr/local/bin/mcp-hub \
    && strip /usr/local/bin/mcp-hub

FROM debian:bookworm-slim AS from-prebuilt
COPY dist/mcp-hub /usr/local/bin/mcp-hub

# DL3006: a stage of this file, not an image: it has no tag.
# hadolint ignore=DL3006
FROM from-${BINARY_FROM} AS binary

# ---------------------------------------------------------------- runtime
# DL3006: the default is tagged (`debian:bookworm-slim`); scripts/image.sh names a local base
# that already has python3 when it builds WITH_UV=1 offline.
# hadolint ignore=DL3006
FROM ${RUNTIME_BASE}
ARG WITH_NODE=0
ARG WITH_UV=0
# uv's version for WITH_UV=1 (pinned): the wheel in docker/wheels/ if one of this version is
# there (scripts/image.sh puts it there: builds without a network), else from PyPI by pip.
ARG UV_VERSION=0.13.8
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Packages come from Debian's archive, whatever it serves for bookworm (security updates
# included); only packages the base lacks are installed, so a base that has them builds offline.
# tzdata: scheduled containers' zones (`Europe/Paris`) are read from /usr/share/zoneinfo.
# uv is one static binary: from a local wheel it is unzipped (python3's zipfile), no pip needed.
# DL3008/DL3013: apt and pip versions float on purpose (security updates; uv is pinned by UV_VERSION).
# SC2086: $missing is split into package names on purpose.
# hadolint ignore=DL3008,DL3013,SC2086
RUN --mount=type=bind,source=docker/wheels,target=/tmp/wheels \
    set -eux; \
    want="ca-certificates tzdata"; \
    uv_wheel=""; \
    if [ "$WITH_NODE" = 1 ]; then want="$want nodejs npm"; fi; \
    if [ "$WITH_UV" = 1 ]; then \
        uv_wheel="$(find /tmp/wheels -name "uv-${UV_VERSION}-*.whl" | head -n 1)"; \
        want="$want python3"; \
        if [ -z "$uv_wheel" ]; then want="$want python3-pip"; fi; \
    fi; \
    missing=""; \
    for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ "$WITH_UV" = 1 ]; then \
        if [ -n "$uv_wheel" ]; then \
            python3 -m zipfile -e "$uv_wheel" /tmp/uv-wheel; \
            install -m 0755 /tmp/uv-wheel/uv-"${UV_VERSION}".data/scripts/uv \
                /tmp/uv-wheel/uv-"${UV_VERSION}".data/scripts/uvx /usr/local/bin/; \
            rm -rf /tmp/uv-wheel; \
        else \
            pip3 install --no-cache-dir --break-system-packages "uv==${UV_VERSION}"; \
        fi; \
        uv --version; \
    fi; \
    useradd --uid 1000 --user-group --create-home --home-dir /home/mcp-hub \
        --shell /usr/sbin/nologin mcp-hub; \
    install -d -o 1000 -g 1000 /var/lib/mcp-hub
COPY --from=binary /usr/local/bin/mcp-hub /usr/local/bin/mcp-hub
COPY docker/entrypoint.sh /usr/local/bin/mcp-hub-entrypoint
# The built-in config: the demo MCP server built into the binary. Mount yours over it, read-only.
COPY docker/hub.toml /etc/mcp-hub/hub.toml
ENV MCP_HUB_CONFIG=/etc/mcp-hub/hub.toml \
    MCP_HUB_STATE_DIR=/var/lib/mcp-hub \
    HOME=/home/mcp-hub
VOLUME ["/var/lib/mcp-hub"]
USER 1000:1000
WORKDIR /home/mcp-hub
EXPOSE 8080
# `mcp-hub health` probes `/health` on `hub.http.listen` (127.0.0.1:8080 unless set): in HTTP
# mode the listener, in stdio mode the health-only listener the entrypoint opens there.
HEALTHCHECK --interval=30s --timeout=6s --start-period=10s --retries=3 \
    CMD ["mcp-hub", "health"]
ENTRYPOINT ["mcp-hub-entrypoint"]
CMD ["stdio"]
