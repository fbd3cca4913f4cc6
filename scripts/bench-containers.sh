#!/usr/bin/env bash
# Container upstreams against the same server as a child process (issue #13): the cold start of
# an on-demand server up to its first `tools/call` answer, and the p50 of warm calls, both
# through `mcp-hub serve` and its REST call route (one keep-alive connection, so the client's own
# cost is the same on both sides). The server is `mcp-hub demo-server`; in the container it runs
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
cat >"$WORK/container.toml" <<EOF
[hub.admin]
watch = false
[hub.containers]
socket = "$SOCK"
[tenants.t.servers.demo.container]
image = "localhost/hostroot:latest"
args = ["/hub/mcp-hub", "demo-server"]
volumes = ["/usr:/usr:ro", "$(dirname "$HUB"):/hub:ro"]
pull = "never"
idle_timeout = "10m"
EOF

python3 - "$HUB" "$WORK" "$RUNS" "$CALLS" <<'PY'
import http.client, json, socket, statistics, subprocess, sys, time
hub, work, runs, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

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

res = {}
for kind in ("process", "container"):
    cold, warm = [], []
    for i in range(runs):
        p, c = serve(kind)
        t0 = time.perf_counter(); call(c); cold.append((time.perf_counter() - t0) * 1000)
        if i == 0:
            for _ in range(50): call(c)
            for _ in range(calls):
                t0 = time.perf_counter(); call(c); warm.append((time.perf_counter() - t0) * 1e6)
        p.terminate(); p.wait(timeout=30)
    res[kind] = (statistics.median(cold), min(cold), max(cold), statistics.median(warm))
    print(f"{kind:9}: cold start to first answer p50 {res[kind][0]:7.1f} ms (min {res[kind][1]:.1f}, max {res[kind][2]:.1f}); warm call p50 {res[kind][3]:7.1f} µs")
d_cold = res["container"][0] - res["process"][0]
d_warm = res["container"][3] - res["process"][3]
print(f"container - process: cold {d_cold:+.1f} ms, warm p50 {d_warm:+.1f} µs")
PY
rm -rf "$WORK"
