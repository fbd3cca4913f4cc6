# mcp-hub in a container: `docker run -i --init -v $PWD/hub.toml:/etc/mcp-hub/hub.toml mcp-hub`
# serves the default tenant over stdio (logs on stderr). Upstreams run inside the container,
# so the image must hold their runtimes: extend it (node, python/uv) for npx/uvx servers.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --bin mcp-hub --example demo_server

FROM debian:bookworm-slim
COPY --from=build /src/target/release/mcp-hub /usr/local/bin/mcp-hub
COPY --from=build /src/target/release/examples/demo_server /usr/local/bin/demo_server
COPY <<'TOML' /etc/mcp-hub/hub.toml
[tenants.default.servers.demo]
command = "/usr/local/bin/demo_server"
TOML
ENV MCP_HUB_CONFIG=/etc/mcp-hub/hub.toml
# --init (or tini) reaps what upstream launchers leave behind when the hub is PID 1.
ENTRYPOINT ["mcp-hub"]
CMD ["stdio"]
