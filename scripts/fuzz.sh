#!/usr/bin/env bash
# Longer fuzzing runs of the property targets of tests/fuzz.rs (see docs/fuzzing.md).
#   scripts/fuzz.sh [--minutes M] [TARGET...]
# Runs each target (default: all) for M minutes (default 10), one after the other: the test binary
# is run again and again with MCP_HUB_FUZZ_CASES raised so one run takes about 30 s, fresh random
# seeds each run, until the target's time is up or it fails. Prints one line per target and a last
# summary line, e.g.
#   fuzz.sh: summary: 1 min per target, 7 targets, 123456 executions, 0 failed (cursors=... naming=...)
# A failing run's output (the minimal failing input, the panic) is kept in
# $CARGO_TARGET_DIR/fuzz-logs/<target>.log (target/ when CARGO_TARGET_DIR is unset).
# Exits 1 when any target failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MINUTES=10
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES="$2"; shift 2 ;;
        --minutes=*) MINUTES="${1#--minutes=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(downstream_stdio downstream_http upstream_messages cursors naming config request_state)
fi

LOGS="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz-logs"
mkdir -p "$LOGS"

echo "fuzz.sh: building the example servers and tests/fuzz.rs ..." >&2
cargo build --examples >&2
BIN="$(cargo test --test fuzz --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*/deps/fuzz-[^"]*"' | tail -1 | cut -d'"' -f4)"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "fuzz.sh: FAILED: could not build the fuzz test binary" >&2
    exit 1
fi

TOTAL=0
FAILED=0
PARTS=()
for t in "${TARGETS[@]}"; do
    deadline=$(( $(date +%s) + MINUTES * 60 ))
    execs=0
    runs=0
    outcome=pass
    cases=10            # the first run measures the speed; later runs aim at about 30 s each
    : > "$LOGS/$t.log"
    while [ "$(date +%s)" -lt "$deadline" ]; do
        run_log="$LOGS/$t.run.log"
        if MCP_HUB_FUZZ_CASES=$cases "$BIN" --exact "$t" --nocapture --test-threads 1 >"$run_log" 2>&1; then
            status=0
        else
            status=$?
        fi
        # (libtest prints `test <name> ... ` on the same line, before it)
        line="$(grep -ao "fuzz: $t executions=[0-9]* seconds=[0-9.]* outcome=[A-Za-z]*" "$run_log" | tail -1 || true)"
        n="$(sed -n 's/.*executions=\([0-9]*\).*/\1/p' <<<"$line")"
        secs="$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$line")"
        execs=$(( execs + ${n:-0} ))
        runs=$(( runs + 1 ))
        if [ "$status" -ne 0 ] || [ -z "$line" ]; then
            outcome=FAIL
            cp "$run_log" "$LOGS/$t.log"
            break
        fi
        left=$(( deadline - $(date +%s) ))
        [ "$left" -gt 30 ] && left=30
        # cases for the next run: this run's rate times the time to fill (at least 1)
        cases="$(awk -v n="${n:-1}" -v s="${secs:-1}" -v l="$left" \
            'BEGIN { if (s < 0.05) s = 0.05; c = int(n / s * l); if (c < 1) c = 1; print c }')"
    done
    rm -f "$LOGS/$t.run.log"
    echo "fuzz.sh: $t: executions=$execs runs=$runs outcome=$outcome" \
        "$( [ "$outcome" = FAIL ] && echo "(log: $LOGS/$t.log)" )"
    TOTAL=$(( TOTAL + execs ))
    [ "$outcome" = FAIL ] && FAILED=$(( FAILED + 1 ))
    if [ "$outcome" = FAIL ]; then PARTS+=("$t=$execs:FAIL"); else PARTS+=("$t=$execs"); fi
done

echo "fuzz.sh: summary: $MINUTES min per target, ${#TARGETS[@]} targets, $TOTAL executions, $FAILED failed (${PARTS[*]})"
[ "$FAILED" -eq 0 ]
