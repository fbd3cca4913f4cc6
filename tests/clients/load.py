#!/usr/bin/env python3
"""Load: many concurrent MCP sessions (the official Python SDK, mcp 2.x) against one HTTP server.

Opens --clients sessions at once, a mix of legacy HTTP+SSE (--sse-url) and Streamable HTTP
(--url; some in the SDK's "legacy" mode = initialize handshake, some in "auto" mode = 2026-07-28
when the server answers server/discover), waits until every session is connected (so they really
are concurrent), optionally fetches --peek-url (e.g. the hub's /health) while all are open, then
each session makes --calls sequential `tools/call` of --tool with {"message": "<client>-<call>"}
and checks the answer is "Echo: <client>-<call>", then all disconnect.

Run with .test-deps/py2/bin/python. Prints one JSON object:
  {"clients", "callsPerClient", "connected", "ok", "errors", "errorSamples": [..],
   "modes": {"sse": n, "http-legacy": n, "http-auto": n}, "protocolVersions": {v: n},
   "connectMs", "elapsedMs", "callP50Ms", "callP95Ms", "peek": <body of --peek-url or null>}
Exit 0 when it ran (whatever the error count: the caller judges), 1 when it could not run at all.
The whole run is bounded by --timeout seconds (default 60).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter
from typing import Any

import anyio

from mcp_common import describe, open_streams


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="load.py")
    p.add_argument("--url", required=True, help="Streamable HTTP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    p.add_argument("--sse-url", help="legacy SSE endpoint, e.g. http://127.0.0.1:PORT/sse (default: none)")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--sse-fraction", type=float, default=0.5, help="share of sessions on --sse-url")
    p.add_argument("--auto-fraction", type=float, default=0.2, help="share of sessions in mode auto (of all)")
    p.add_argument("--tool", default="everything__echo")
    p.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    p.add_argument("--peek-url", help="GET this URL while every session is open; its body goes to `peek`")
    p.add_argument("--timeout", type=float, default=60.0)
    return p.parse_args()


def plan(opts: argparse.Namespace) -> list[str]:
    """The transport/mode of each client, interleaved so every kind connects throughout."""
    n = opts.clients
    n_sse = round(n * opts.sse_fraction) if opts.sse_url else 0
    n_auto = min(round(n * opts.auto_fraction), n - n_sse)
    kinds = ["sse"] * n_sse + ["http-auto"] * n_auto + ["http-legacy"] * (n - n_sse - n_auto)
    # Interleave deterministically: spread each kind evenly over the index range.
    return [k for _, k in sorted((i / max(1, kinds.count(k)), k) for k in set(kinds) for i in range(kinds.count(k)))]


def transport(kind: str, opts: argparse.Namespace, headers: dict[str, str]) -> Any:
    # sse_client's connect/POST timeout defaults to 5 s, too short when 200 sessions start at
    # once on a busy 2-core machine (this process alone is then CPU-bound): the Streamable HTTP
    # client's default is 30 s, use that.
    url = opts.sse_url if kind == "sse" else opts.url
    return open_streams(url, kind, [], headers, opts.timeout + 5, sse_timeout=30.0)


async def main(opts: argparse.Namespace) -> dict[str, Any]:
    from mcp import Client

    headers: dict[str, str] = {}
    for h in opts.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    kinds = plan(opts)
    n = len(kinds)
    connected = 0
    all_connected = anyio.Event()
    calls_may_start = anyio.Event()
    done_calls = 0
    ok = 0
    errors: list[str] = []
    latencies: list[float] = []
    versions: Counter[str] = Counter()
    failed_connect = 0

    def note_connected() -> None:
        nonlocal connected
        connected += 1
        if connected + failed_connect == n:
            all_connected.set()

    async def one(i: int, kind: str) -> None:
        nonlocal ok, failed_connect
        mode = "auto" if kind == "http-auto" else "legacy"
        entered = False
        try:
            async with Client(transport(kind, opts, headers), mode=mode, read_timeout_seconds=opts.timeout) as client:
                entered = True
                versions[client.protocol_version or "?"] += 1
                note_connected()
                await calls_may_start.wait()
                for j in range(opts.calls):
                    msg = f"c{i}-{j}"
                    t0 = time.monotonic()
                    result = await client.call_tool(opts.tool, {"message": msg})
                    latencies.append((time.monotonic() - t0) * 1000)
                    text = "".join(getattr(b, "text", "") for b in result.content)
                    if result.is_error or text != f"Echo: {msg}":
                        errors.append(f"client {i} ({kind}) call {j}: unexpected result {text!r}")
                    else:
                        ok += 1
        except BaseException as exc:  # noqa: BLE001 - counted, reported
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            errors.append(f"client {i} ({kind}): {describe(exc)}")
            if not entered:
                failed_connect += 1
                if connected + failed_connect == n:
                    all_connected.set()

    peek: Any = None
    start = time.monotonic()
    connect_ms = None
    async with anyio.create_task_group() as tg:
        for i, kind in enumerate(kinds):
            tg.start_soon(one, i, kind)
        await all_connected.wait()
        connect_ms = round((time.monotonic() - start) * 1000)
        if opts.peek_url:
            peek = await anyio.to_thread.run_sync(fetch, opts.peek_url)
        calls_may_start.set()
    latencies.sort()
    pct = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None  # noqa: E731
    return {
        "clients": n,
        "callsPerClient": opts.calls,
        "connected": connected,
        "ok": ok,
        "errors": len(errors),
        "errorSamples": errors[:10],
        "modes": dict(Counter(kinds)),
        "protocolVersions": dict(versions),
        "connectMs": connect_ms,
        "elapsedMs": round((time.monotonic() - start) * 1000),
        "callP50Ms": pct(0.5),
        "callP95Ms": pct(0.95),
        "peek": peek,
    }


def fetch(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback test URL
            body = r.read().decode()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
    except Exception as e:  # noqa: BLE001
        return {"error": str(e)}
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def run() -> int:
    opts = parse_args()

    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(opts.timeout):
            return await main(opts)

    try:
        out = anyio.run(bounded)
    except BaseException as exc:  # noqa: BLE001
        print(f"load.py: {describe(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run())
