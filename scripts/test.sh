#!/usr/bin/env bash
# The project's one test command.
#   1. scripts/setup-test-deps.sh   (real MCP peers at pinned versions into .test-deps; fast when warm)
#   2. cargo build --examples       (tests run the example servers from target/debug/examples)
#   3. cargo nextest run            (or cargo test when cargo-nextest is not installed)
# Extra arguments go to the test runner, e.g. `scripts/test.sh e2e_` or `scripts/test.sh -- --nocapture`.
# Exits non-zero when any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup-test-deps.sh"

# The first build compiles the hub, its examples and every test binary: about 3 minutes on 2
# cores. cargo's own progress lines show it is moving.
echo "test.sh: building the hub and the example servers (about 3 minutes the first time) ..." >&2
cargo build --examples

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run "$@"
else
    exec cargo test "$@"
fi
