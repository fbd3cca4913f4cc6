#!/usr/bin/env bash
# Instructions per forwarded `tools/call`, counted by valgrind's callgrind, in the hub process
# and in a byte relay (socat) between the same pipes, against the same upstream
# (examples/demo_server, which runs natively: only the middle process is counted).
#
# Method: each middle process is run twice, with 300 and with 3,300 `tools/call echo` requests
# piped on its stdin (after initialize); the difference of the two totals divided by 3,000 is
# the cost of one call, so start-up and shutdown cancel out. Counts are instructions, not time:
# they do not depend on what else the machine does (but see ROUNDS below).
#
# Usage: scripts/callgrind.sh            (builds the release hub and demo server first)
# Needs: valgrind and socat (installed with apt when missing, as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v socat >/dev/null || need+=(socat)
if [ "${#need[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "callgrind.sh: needs ${need[*]} (apt-get install ${need[*]})" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --quiet --bin mcp-hub --example demo_server
HUB="$ROOT/target/release/mcp-hub"
DEMO="$ROOT/target/release/examples/demo_server"

cat >"$WORK/hub.toml" <<EOF
[hub]
shutdown_grace = "1s"
[tenants.default.servers.demo]
command = "$DEMO"
EOF

# initialize, initialized, then N calls of `tool`, all written at once (the middle answers every
# request read before stdin's end, then exits).
input() {
    local n="$1" tool="$2"
    printf '%s\n' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"callgrind","version":"1"}}}'
    printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    for ((i = 1; i <= n; i++)); do
        printf '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":{"message":"hello"}}}\n' "$i" "$tool"
    done
}

# total instructions of one run of the middle process
count() {
    local n="$1" tool="$2"; shift 2
    local out="$WORK/cg.$n.$tool"
    input "$n" "$tool" >"$WORK/in"
    # The hub exits at stdin's end once every call is answered; socat needs a moment for the
    # last answers (-t), then exits.
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" <"$WORK/in" >"$WORK/out.$n" 2>"$WORK/err.$n"
    local answered
    answered="$(grep -c '"result"' "$WORK/out.$n" || true)"
    if [ "$answered" -ne $((n + 1)) ]; then
        echo "callgrind.sh: $* answered $answered of $((n + 1)) requests; its stderr:" >&2
        tail -n 20 "$WORK/err.$n" >&2
        exit 1
    fi
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

# One estimate: (3,300-call run − 300-call run) / 3,000. How the hub's threads interleave under
# valgrind changes how many messages each read and write carries, so one estimate varies by
# ±10%: the median of ROUNDS is reported, with the range.
ROUNDS="${ROUNDS:-5}"
per_call() {
    local tool="$1"; shift
    local a b i all=()
    for ((i = 0; i < ROUNDS; i++)); do
        a="$(count 300 "$tool" "$@")"
        b="$(count 3300 "$tool" "$@")"
        all+=($(((b - a) / 3000)))
    done
    printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR]=$1} END {printf "%d %d %d\n", v[int((NR+1)/2)], v[1], v[NR]}'
}

read -r hub hub_lo hub_hi < <(per_call demo__echo "$HUB" --config "$WORK/hub.toml" --log-level warn stdio)
read -r relay relay_lo relay_hi < <(per_call echo socat -t 5 - "EXEC:$DEMO")
[ -n "${hub:-}" ] && [ -n "${relay:-}" ] || { echo "callgrind.sh: a run failed (above)" >&2; exit 1; }
echo "instructions per forwarded tools/call (callgrind, (3,300 − 300 calls) / 3,000; median of $ROUNDS, range):"
printf '  hub (stdio)   %8d   (%d … %d)\n' "$hub" "$hub_lo" "$hub_hi"
printf '  relay (socat) %8d   (%d … %d)\n' "$relay" "$relay_lo" "$relay_hi"
awk -v h="$hub" -v r="$relay" 'BEGIN { printf "  hub / relay   %8.1fx\n", h / r }'
