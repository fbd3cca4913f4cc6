#!/usr/bin/env bash
# Container upstreams against the same server as a child process (issue #13): the cold start of
# an on-demand server up to its first `tools/call` answer, and the p50 of warm calls (interleaved
# across the three, in one run), both through `mcp-hub serve` and its REST call route (one
# keep-alive connection, so the client's own cost is the same on every side). Containers with
# stdio on the hub's pipes (`hub.containers.stdio = "socket"`, the default) and on the engine's
# attach stream (`attach`). The server is `mcp-hub demo-server`; in the container it runs
# from `localhost/hostroot` with the host's /usr and the build folder mounted read-only.
#
# Usage: scripts/bench-containers.sh [RUNS] [CALLS]     (defaults 5 and 500; needs root for podman)
# Measure on an otherwise idle machine: under load the container's processes wait longer for a CPU
# than the hub's child does (their own cgroup), and the difference is the load's, not the path's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-5}"
CALLS="${2:-500}"
DIR="$ROOT/target/podman-bench"
# A release build, as users run it (HUB=path overrides: another build of the hub).
HUB="${HUB:-$ROOT/target/release/mcp-hub}"
[ -x "$HUB" ] || (cd "$ROOT" && cargo build --release --quiet --bin mcp-hub)
SOCK="$("$ROOT/scripts/podman.sh" start "$DIR")"
"$ROOT/scripts/podman.sh" hostroot "$DIR"
trap '"$ROOT/scripts/podman.sh" stop "$DIR"' EXIT
WORK="$(mktemp -d)"

cat >"$WORK/process.toml" <<EOF
[hub.admin]
watch = false
[tenants.t.servers.demo]
command = "$HUB"
args = ["demo-server"]
start = "lazy"
EOF
for stdio in socket attach; do
cat >"$WORK/container-$stdio.toml" <<EOF
[hub.admin]
watch = false
[hub.containers]
socket = "$SOCK"
stdio = "$stdio"
[tenants.t.servers.demo.container]
image = "localhost/hostroot:latest"
args = ["/hub/mcp-hub", "demo-server"]
volumes = ["/usr:/usr:ro", "$(dirname "$HUB"):/hub:ro"]
pull = "never"
idle_timeout = "10m"
EOF
done

python3 - "$HUB" "$WORK" "$RUNS" "$CALLS" <<'PY'
import http.client, json, socket, statistics, subprocess, sys, time
hub, work, runs, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
KINDS = ("process", "container-socket", "container-attach")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def serve(kind):
    port = free_port()
    p = subprocess.Popen([hub, "--config", f"{work}/{kind}.toml", "serve", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); c.request("GET", "/ready"); c.getresponse().read(); return p, c
        except OSError:
            time.sleep(0.05)
    p.kill(); raise SystemExit(f"{kind}: the hub did not start")

def call(c):
    body = json.dumps({"message": "bench"})
    c.request("POST", "/api/tools/demo__echo/call", body, {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 200: raise SystemExit(f"call failed: {r.status} {data[:300]!r}")

# Cold: a fresh hub per run, up to the first answer.
cold = {}
for kind in KINDS:
    cold[kind] = []
    for _ in range(runs):
        p, c = serve(kind)
        t0 = time.perf_counter(); call(c); cold[kind].append((time.perf_counter() - t0) * 1000)
        p.terminate(); p.wait(timeout=30)

# Warm: one hub of each kind at once, their calls interleaved in rounds of 50, so the machine's
# state is the same for all three.
hubs = {k: serve(k) for k in KINDS}
warm = {k: [] for k in KINDS}
try:
    for k in KINDS:
        for _ in range(100): call(hubs[k][1])
    for _ in range(max(1, calls // 50)):
        for k in KINDS:
            c = hubs[k][1]
            for _ in range(50):
                t0 = time.perf_counter(); call(c); warm[k].append((time.perf_counter() - t0) * 1e6)
finally:
    for p, _ in hubs.values(): p.terminate()
    for p, _ in hubs.values(): p.wait(timeout=30)

base_c, base_w = statistics.median(cold["process"]), statistics.median(warm["process"])
for k in KINDS:
    c, w = statistics.median(cold[k]), statistics.median(warm[k])
    print(f"{k:16}: cold start to first answer p50 {c:7.1f} ms (min {min(cold[k]):.1f}, max {max(cold[k]):.1f}, {c - base_c:+.1f} ms); "
          f"warm call p50 {w:6.1f} µs ({w - base_w:+.1f} µs, {w / base_w:.3f}x)")
PY
rm -rf "$WORK"
