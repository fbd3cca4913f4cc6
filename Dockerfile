# syntax=docker/dockerfile:1
# mcp-hub in a container. Build it from the repository root:
#   docker build -t mcp-hub .                                                     # the hub only
#   docker build --build-arg WITH_NODE=1 --build-arg WITH_UV=1 -t mcp-hub:full .  # plus node/npm and uv
# Run it (MCP over stdin/stdout, logs on stderr):
#   docker run -i --rm --init mcp-hub                                             # the built-in demo config
#   docker run -i --rm --init -v $PWD/examples/first-hub.toml:/etc/mcp-hub/hub.toml:ro mcp-hub:full
# Upstreams run inside the container, so the image must hold their runtimes:
#   WITH_NODE=1  Debian's nodejs and npm, for `npx` servers
#   WITH_UV=1    python3 and uv (installed with pip), for `uvx` servers
# --init (or tini) reaps what upstream launchers leave behind when the hub is PID 1.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
COPY benches ./benches
RUN cargo build --release --locked --bin mcp-hub

FROM debian:bookworm-slim
ARG WITH_NODE=0
ARG WITH_UV=0
RUN set -eux; \
    pkgs="ca-certificates"; \
    if [ "$WITH_NODE" = 1 ]; then pkgs="$pkgs nodejs npm"; fi; \
    if [ "$WITH_UV" = 1 ]; then pkgs="$pkgs python3 python3-pip"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    if [ "$WITH_UV" = 1 ]; then \
        pip3 install --no-cache-dir --break-system-packages uv; \
        uv --version; \
    fi; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --uid 1000 --create-home --home-dir /home/mcp-hub --shell /usr/sbin/nologin mcp-hub
COPY --from=build /src/target/release/mcp-hub /usr/local/bin/mcp-hub
# The built-in config: the demo MCP server, which is part of the mcp-hub binary.
# Mount your own config over this file to serve other upstreams.
COPY <<'TOML' /etc/mcp-hub/hub.toml
[tenants.default.servers.demo]
command = "/usr/local/bin/mcp-hub"
args = ["demo-server"]
TOML
ENV MCP_HUB_CONFIG=/etc/mcp-hub/hub.toml \
    HOME=/home/mcp-hub
USER 1000
WORKDIR /home/mcp-hub
ENTRYPOINT ["mcp-hub"]
CMD ["stdio"]
