#!/bin/sh
# mcp-hub's container entrypoint: validate the config, then `exec` the hub so that it is PID 1's
# process and receives the signals (`docker stop` sends SIGTERM to it, not to this shell).
#
#   (no arguments), or options only  ->  mcp-hub stdio [options]   (MCP over stdin/stdout)
#   stdio [options]                  ->  also opens a health-only listener (see below)
#   serve [options]                  ->  MCP over HTTP
#   any other command (check, health, tools, call, status, schema, demo-server, --help)
#                                    ->  run as given, without the check
#
# Bad config: exit 64 with the messages of `mcp-hub check` (on stderr). The check's summary also
# goes to stderr: in stdio mode stdout belongs to the protocol.
#
# Health in stdio mode: unless `--listen` or `--health-listen` is given, the hub also serves
# /health and /ready (nothing else) on $MCP_HUB_HTTP_LISTEN, else 127.0.0.1:8080, the address
# the image's HEALTHCHECK (`mcp-hub health`) probes.
set -eu

case "${1:-}" in
    "" | -*) set -- stdio "$@" ;;
esac

case "$1" in
    stdio | serve) ;;
    *) exec mcp-hub "$@" ;;
esac

# The file the hub will read: `--config` among the arguments, else MCP_HUB_CONFIG.
config="${MCP_HUB_CONFIG:-/etc/mcp-hub/hub.toml}"
next=no
for arg in "$@"; do
    if [ "$next" = yes ]; then
        config="$arg"
        next=no
        continue
    fi
    case "$arg" in
        --config) next=yes ;;
        --config=*) config="${arg#--config=}" ;;
    esac
done

status=0
mcp-hub --config "$config" check >&2 || status=$?
if [ "$status" -ne 0 ]; then
    echo "mcp-hub-entrypoint: the config is not valid (\`mcp-hub check\` exited $status); not starting" >&2
    [ "$status" -eq 64 ] || status=64
    exit "$status"
fi

if [ "$1" = stdio ]; then
    probe=yes
    for arg in "$@"; do
        case "$arg" in
            --listen | --listen=* | --health-listen | --health-listen=*) probe=no ;;
        esac
    done
    if [ "$probe" = yes ]; then
        set -- "$@" --health-listen "${MCP_HUB_HTTP_LISTEN:-127.0.0.1:8080}"
    fi
fi

exec mcp-hub "$@"
