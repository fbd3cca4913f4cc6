#!/usr/bin/env bash
# The project's one test command.
#   1. cargo fmt --check            (formatting; fix with `cargo fmt`)
#   2. cargo clippy --all-targets -- -D warnings
#   3. scripts/setup-test-deps.sh   (real MCP peers at pinned versions into .test-deps; fast when warm)
#   4. cargo build --examples       (tests run the example servers from target/debug/examples)
#   5. scripts/image.sh build       (the container image, offline with podman, for tests/image.rs;
#                                    first run: base images by debootstrap and a release build;
#                                    then a cache hit unless the hub's sources changed)
#   6. cargo nextest run            (or cargo test when cargo-nextest is not installed)
# Extra arguments go to the test runner, e.g. `scripts/test.sh e2e_` or `scripts/test.sh -- --nocapture`.
# Exits non-zero when any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "test.sh: cargo fmt --check ..." >&2
if ! cargo fmt --check; then
    echo "test.sh: FAILED: the code is not formatted (the diff is above); run \`cargo fmt\`." >&2
    exit 1
fi

# The first build compiles the hub, its examples and every test binary: about 3 minutes on 2
# cores. cargo's own progress lines show it is moving.
echo "test.sh: cargo clippy --all-targets -- -D warnings (about 3 minutes the first time) ..." >&2
if ! cargo clippy --all-targets -- -D warnings; then
    echo "test.sh: FAILED: clippy found warnings (listed above); fix them before the tests run." >&2
    exit 1
fi

"$ROOT/scripts/setup-test-deps.sh"

echo "test.sh: building the hub and the example servers ..." >&2
cargo build --examples

echo "test.sh: building the container image (scripts/image.sh build) ..." >&2
"$ROOT/scripts/image.sh" build

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run "$@"
else
    exec cargo test "$@"
fi
