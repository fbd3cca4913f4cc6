#!/usr/bin/env python3
# Where a warm call through a container goes (issue #13), without the hub in between: round trips
# of one line through a child process's pipes and through a container's attach stream (hub ->
# engine service -> conmon -> process and back), with `cat` (the transport alone) and with
# `mcp-hub demo-server` (a `tools/call`); and a published loopback port against host loopback.
#
# Usage: scripts/attach-rtt.py SOCKET HUB_DIR [N]
#   SOCKET   the engine's socket (`scripts/podman.sh start DIR` prints it); needs localhost/hostroot
#   HUB_DIR  the folder of the mcp-hub binary (target/debug), mounted at /hub in the container
import http.client, json, socket, statistics, subprocess, sys, time

sock_path, hubdir = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
WARM = min(100, N // 5)

def api(method, path, body=None):
    s = socket.socket(socket.AF_UNIX); s.connect(sock_path)
    c = http.client.HTTPConnection("d"); c.sock = s
    c.request(method, "/v1.41" + path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse(); return r.status, r.read()

def p50(ts): return statistics.median(ts[WARM:])

def rtt(send, recv, msg):
    ts = []
    for _ in range(N):
        t = time.perf_counter(); send(msg); recv(); ts.append((time.perf_counter() - t) * 1e6)
    return p50(ts)

class Attached:
    """A container created with stdin open, attached before its start; reads stdout lines."""
    def __init__(self, cmd, host):
        host = {"Binds": ["/usr:/usr:ro", hubdir + ":/hub:ro"], "Init": True, **host}
        _, d = api("POST", "/containers/create", {"Image": "localhost/hostroot:latest", "Cmd": cmd,
            "OpenStdin": True, "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
            "Tty": False, "HostConfig": host})
        self.id = json.loads(d)["Id"]
        self.s = socket.socket(socket.AF_UNIX); self.s.connect(sock_path)
        self.s.sendall(f"POST /v1.41/containers/{self.id}/attach?stream=1&stdin=1&stdout=1&stderr=1 "
                       "HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf: self.buf += self.s.recv(4096)
        self.buf = self.buf.split(b"\r\n\r\n", 1)[1]
        api("POST", f"/containers/{self.id}/start")
    def line(self):
        out = b""
        while True:
            while len(self.buf) < 8: self.buf += self.s.recv(65536)
            n = int.from_bytes(self.buf[4:8], "big")
            while len(self.buf) < 8 + n: self.buf += self.s.recv(65536)
            kind, f = self.buf[0], self.buf[8:8 + n]; self.buf = self.buf[8 + n:]
            if kind == 1:
                out += f
                if out.endswith(b"\n"): return out
    def close(self):
        self.s.close(); api("DELETE", f"/containers/{self.id}?force=1")

SECURE = {"CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"], "ReadonlyRootfs": True,
          "NetworkMode": "none", "Tmpfs": {"/tmp": "rw,size=64m"}}
ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
init = (b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        b'"capabilities":{},"clientInfo":{"name":"rtt","version":"1"}}}\n'
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"bench"}}}\n'

for name, cmd, first, msg in (("cat", ["/usr/bin/cat"], None, ping),
                              ("demo-server", ["/hub/mcp-hub", "demo-server"], init, call)):
    p = subprocess.Popen([c.replace("/hub/", hubdir + "/") for c in cmd], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    if first: p.stdin.write(first); p.stdout.readline()
    print(f"{name:12} child process pipes          p50 {rtt(p.stdin.write, p.stdout.readline, msg):7.1f} µs")
    p.kill()
    a = Attached(cmd, SECURE)
    if first: a.s.sendall(first); a.line()
    print(f"{name:12} container attach stream      p50 {rtt(a.s.sendall, a.line, msg):7.1f} µs")
    a.close()

echo = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        "s.bind(('0.0.0.0',PORT));s.listen()\nc,_=s.accept();f=c.makefile('rb')\nfor l in f: c.sendall(l)\n")
_, d = api("POST", "/containers/create", {"Image": "localhost/hostroot:latest",
    "Cmd": ["/usr/bin/python3", "-c", echo.replace("PORT", "7000")], "ExposedPorts": {"7000/tcp": {}},
    "HostConfig": {"Binds": ["/usr:/usr:ro"], "Init": True, "NetworkMode": "bridge",
                   "PortBindings": {"7000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}})
cid = json.loads(d)["Id"]; api("POST", f"/containers/{cid}/start")
_, d = api("GET", f"/containers/{cid}/json")
port = int(json.loads(d)["NetworkSettings"]["Ports"]["7000/tcp"][0]["HostPort"])
host = subprocess.Popen(["python3", "-c", echo.replace("PORT", "0").replace("s.listen()", "s.listen();print(s.getsockname()[1],flush=True)")],
                        stdout=subprocess.PIPE)
host_port = int(host.stdout.readline())
for label, p in (("container published port", port), ("host process loopback", host_port)):
    for _ in range(50):
        try: t = socket.create_connection(("127.0.0.1", p)); break
        except OSError: time.sleep(0.1)
    t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); f = t.makefile("rb")
    print(f"{'echo':12} {label:28} p50 {rtt(t.sendall, f.readline, ping):7.1f} µs")
    t.close()
host.kill(); api("DELETE", f"/containers/{cid}?force=1")
