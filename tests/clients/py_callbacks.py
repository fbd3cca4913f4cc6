#!/usr/bin/env python3
"""A real MCP client (the official Python SDK) with deterministic sampling, elicitation and roots
callbacks: it calls one or more tools and prints ONE JSON object on stdout with each call's result
and every callback that fired, with the params the server sent.

Run it with the interpreter of the venv whose SDK you want:
  .test-deps/py2/bin/python  mcp 2.x `mcp.Client(sampling_callback=, elicitation_callback=,
                             list_roots_callback=, mode=)`. --mode auto (default): server/discover
                             first, falling back to initialize; --mode legacy: initialize only;
                             --mode 2026: SDK mode "2026-07-28" (no probe, no fallback) plus one
                             server/discover at 2026-07-28 to adopt the server's capabilities.
                             On 2026-07-28, `Client.call_tool` itself handles `resultType:
                             "input_required"`: it runs `inputRequests` through the same callbacks
                             and retries with `inputResponses` + `requestState` (mcp/client/
                             _input_required.py, up to 10 rounds); this script does not drive rounds.
  .test-deps/py1/bin/python  mcp 1.x `ClientSession(sampling_callback=, elicitation_callback=,
                             list_roots_callback=)` + initialize (handshake only).

Server: a command after `--` (stdio), or `--url URL --transport http|sse` (SSE: the GET URL).

Usage:
  py_callbacks.py [--mode auto|legacy|2026] [--no-sampling] [--no-elicitation] [--no-roots]
                  [--elicit-action accept|decline|cancel] [--root URI ...]
                  (--tool NAME [--args JSON] | --call NAME JSON [--call NAME JSON ...])
                  [--progress] [--cancel-after-ms N] [--timeout S] [--call-timeout S]
                  (-- SERVER_CMD [ARGS...] | --url URL [--transport http|sse])

Callbacks (deterministic):
  sampling     -> {"role":"assistant","content":{"type":"text","text":"sampled: <first user text>"},
                   "model":"hub-test-model","stopReason":"endTurn"}
  elicitation  -> form mode: accept (or --elicit-action) with content built from requestedSchema:
                  each property's default, else enum[0] / oneOf[0].const / items' first choice,
                  "test@example.com" (format email), "https://example.com/hub-test" (uri),
                  "2000-01-01" (date), "elicited <name>" (other strings), true, minimum or 1;
                  url mode: accept with no content.
  roots        -> [{"uri":"file:///tmp/hub-test-root","name":"test-root"}]
                  (with --root URI...: [{"uri": URI, "name": "root-<i>"}, ...])

Output (one line of JSON; wire form, camelCase):
  {"sdk", "mode", "protocolVersion", "transport", "tools": [names],
   "calls": [{"tool", "args", "result" | "error", "elapsedMs", "progress"?, "cancelled"?}],
   "callbacks": {"sampling": [params], "elicitation": [params], "roots": [{"call": i}]},
   "callbackCalls": {"sampling": [call index or null], ...}}   (which call each callback served)
Errors outside a call: exit 1 with the message on stderr. The run is bounded by --timeout (30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from typing import Any

import anyio

from mcp_common import MCP_MAJOR, MCP_VERSION, describe, dump, open_streams

ROOTS = [{"uri": "file:///tmp/hub-test-root", "name": "test-root"}]


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        own, cmd = argv[:i], argv[i + 1 :]
        if not cmd:
            raise SystemExit("py_callbacks: empty server command after `--`")
    else:
        own, cmd = argv, []
    p = argparse.ArgumentParser(prog="py_callbacks.py")
    p.add_argument("--mode", choices=["auto", "legacy", "2026"], default="auto")
    p.add_argument("--url")
    p.add_argument("--transport", choices=["http", "sse"], default="http")
    p.add_argument("--tool")
    p.add_argument("--args", dest="tool_args")
    p.add_argument("--call", nargs=2, action="append", default=[], metavar=("NAME", "JSON"))
    p.add_argument("--no-sampling", action="store_true")
    p.add_argument("--no-elicitation", action="store_true")
    p.add_argument("--no-roots", action="store_true")
    p.add_argument("--root", action="append", default=[], metavar="URI", help="answer roots/list with these URIs instead")
    p.add_argument("--elicit-action", choices=["accept", "decline", "cancel"], default="accept")
    p.add_argument("--progress", action="store_true", help="pass a progress callback to each call")
    p.add_argument("--cancel-after-ms", type=int, help="abandon each call after N ms (the SDK sends notifications/cancelled)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--call-timeout", type=float, default=None, help="SDK read timeout per request (default: --timeout)")
    o = p.parse_args(own)
    if bool(o.url) == bool(cmd):
        raise SystemExit("py_callbacks: give either `--url URL` or `-- SERVER_CMD [ARGS...]`")
    if MCP_MAJOR < 2 and o.mode != "auto" and o.mode != "legacy":
        raise SystemExit("py_callbacks: mcp 1.x speaks only the handshake era")
    calls = []
    if o.tool:
        calls.append((o.tool, o.tool_args or "{}"))
    calls.extend((n, a) for n, a in o.call)
    if not calls:
        raise SystemExit("py_callbacks: give --tool NAME or --call NAME JSON")
    o.calls = []
    for name, text in calls:
        try:
            o.calls.append((name, json.loads(text)))
        except json.JSONDecodeError as e:
            raise SystemExit(f"py_callbacks: arguments of {name}: invalid JSON ({e})")
    return o, cmd


def elicit_value(name: str, prop: dict[str, Any]) -> Any:
    """A value satisfying one property of a restricted (flat) elicitation schema."""
    if "default" in prop:
        return prop["default"]
    if prop.get("enum"):
        return prop["enum"][0]
    for key in ("oneOf", "anyOf"):
        if prop.get(key) and "const" in prop[key][0]:
            return prop[key][0]["const"]
    t = prop.get("type")
    if t == "boolean":
        return True
    if t in ("integer", "number"):
        return prop.get("minimum", 1)
    if t == "array":
        items = prop.get("items", {})
        first = elicit_value(name, items) if items else "x"
        return [first] * max(1, prop.get("minItems", 1))
    fmt = prop.get("format")
    if fmt == "email":
        return "test@example.com"
    if fmt == "uri":
        return "https://example.com/hub-test"
    if fmt == "date":
        return "2000-01-01"
    if fmt == "date-time":
        return "2000-01-01T00:00:00Z"
    return f"elicited {name}"


class Recorder:
    """The callbacks, and what they saw."""

    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.seen: dict[str, list[Any]] = {"sampling": [], "elicitation": [], "roots": []}
        self.during: dict[str, list[Any]] = {"sampling": [], "elicitation": [], "roots": []}
        self.current_call: int | None = None

    def _note(self, kind: str, params: Any) -> None:
        self.seen[kind].append(params)
        self.during[kind].append(self.current_call)

    async def sampling(self, context: Any, params: Any) -> Any:
        from mcp import types

        wire = dump(params)
        self._note("sampling", wire)
        first = ""
        for m in wire.get("messages", []):
            c = m.get("content")
            items = c if isinstance(c, list) else [c]
            texts = [i.get("text", "") for i in items if isinstance(i, dict) and i.get("type") == "text"]
            if m.get("role") == "user" and texts:
                first = texts[0]
                break
        return types.CreateMessageResult.model_validate(
            {
                "role": "assistant",
                "content": {"type": "text", "text": f"sampled: {first}"},
                "model": "hub-test-model",
                "stopReason": "endTurn",
            }
        )

    async def elicitation(self, context: Any, params: Any) -> Any:
        from mcp import types

        wire = dump(params)
        self._note("elicitation", wire)
        action = self.opts.elicit_action
        if action != "accept":
            return types.ElicitResult.model_validate({"action": action})
        if wire.get("mode") == "url":
            return types.ElicitResult.model_validate({"action": "accept"})
        schema = wire.get("requestedSchema") or {}
        content = {k: elicit_value(k, p) for k, p in (schema.get("properties") or {}).items()}
        return types.ElicitResult.model_validate({"action": "accept", "content": content})

    async def roots(self, context: Any) -> Any:
        from mcp import types

        self._note("roots", {})
        roots = [{"uri": u, "name": f"root-{i}"} for i, u in enumerate(self.opts.root)] or ROOTS
        return types.ListRootsResult.model_validate({"roots": roots})

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if not self.opts.no_sampling:
            kw["sampling_callback"] = self.sampling
        if not self.opts.no_elicitation:
            kw["elicitation_callback"] = self.elicitation
        if not self.opts.no_roots:
            kw["list_roots_callback"] = self.roots
        return kw


def transport(opts: argparse.Namespace, cmd: list[str]) -> Any:
    return open_streams(opts.url, opts.transport, cmd, None, opts.timeout + 5)


async def run_calls(opts: argparse.Namespace, api: Any, rec: Recorder, out: dict[str, Any]) -> None:
    out["calls"] = []
    for i, (name, args) in enumerate(opts.calls):
        rec.current_call = i
        entry: dict[str, Any] = {"tool": name, "args": args}
        seen: list[dict[str, Any]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append({"progress": progress, "total": total, "message": message})

        kw: dict[str, Any] = {"progress_callback": on_progress} if opts.progress else {}
        start = time.monotonic()
        try:
            if opts.cancel_after_ms is not None:
                result = None
                # Abandoning the awaiting call makes the SDK send notifications/cancelled.
                with anyio.move_on_after(opts.cancel_after_ms / 1000) as scope:
                    result = await api.call_tool(name, args, **kw)
                entry["cancelled"] = scope.cancelled_caught
                entry["result"] = dump(result)
            else:
                entry["result"] = dump(await api.call_tool(name, args, **kw))
        except Exception as exc:  # noqa: BLE001 - an error is an outcome to report
            entry["error"] = describe(exc)
        entry["elapsedMs"] = round((time.monotonic() - start) * 1000)
        if opts.progress:
            entry["progress"] = seen
        out["calls"].append(entry)
    rec.current_call = None


async def tool_names(api: Any, caps: Any) -> list[str]:
    if caps is not None and getattr(caps, "tools", None) is None:
        return []
    names: list[str] = []
    cursor = None
    for _ in range(50):
        page = await api.list_tools(cursor=cursor)
        names.extend(t.name for t in page.tools)
        cursor = page.next_cursor if MCP_MAJOR >= 2 else page.nextCursor
        if not cursor:
            break
    return names


async def main(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    rec = Recorder(opts)
    out: dict[str, Any] = {"transport": opts.transport if opts.url else "stdio"}
    read_timeout = opts.call_timeout or opts.timeout
    if MCP_MAJOR >= 2:
        from mcp import Client

        mode = {"auto": "auto", "legacy": "legacy", "2026": "2026-07-28"}[opts.mode]
        out["sdk"] = f"python-mcp {MCP_VERSION} ({opts.mode})"
        async with Client(transport(opts, cmd), mode=mode, read_timeout_seconds=read_timeout, **rec.kwargs()) as client:
            if opts.mode == "2026":
                from mcp import types

                raw = await client.session.send_discover("2026-07-28")
                client.session.adopt(types.DiscoverResult.model_validate(raw))
            out["protocolVersion"] = client.protocol_version
            out["tools"] = await tool_names(client, client.server_capabilities)
            await run_calls(opts, client, rec, out)
    else:
        from mcp import ClientSession

        out["sdk"] = f"python-mcp {MCP_VERSION} (handshake)"
        async with transport(opts, cmd) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=read_timeout), **rec.kwargs()) as s:
                init = await s.initialize()
                out["protocolVersion"] = init.protocolVersion
                out["tools"] = await tool_names(s, init.capabilities)
                await run_calls(opts, s, rec, out)
    out["mode"] = opts.mode if MCP_MAJOR >= 2 else "handshake"
    out["callbacks"] = rec.seen
    out["callbackCalls"] = rec.during
    return out


async def bounded(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    with anyio.fail_after(opts.timeout):
        return await main(opts, cmd)


def run() -> int:
    opts, cmd = parse_args(sys.argv[1:])
    try:
        out = anyio.run(bounded, opts, cmd)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        print(f"py_callbacks: {describe(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run())
