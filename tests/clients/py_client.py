#!/usr/bin/env python3
"""A real MCP client (the official Python SDK) that runs one scenario and prints one JSON object.

Works with both SDK lines; run it with the interpreter of the venv whose SDK you want:
  .test-deps/py2/bin/python  (mcp 2.x: `mcp.Client`; --mode auto (default) = server/discover
                              first, falling back to initialize; --mode legacy (or --handshake) =
                              initialize only; --mode 2026 = SDK mode "2026-07-28" (no probe, every
                              request stamped with the 2026-07-28 `_meta`) plus one server/discover
                              at 2026-07-28 for the server's capabilities: no fallback)
  .test-deps/py1/bin/python  (mcp 1.x: `ClientSession.initialize()`, handshake only)

Server: either a command after `--` (stdio), or `--url URL` with `--transport http` (Streamable
HTTP, default; mcp 2.x `streamable_http_client` -> 2-tuple, mcp 1.x -> 3-tuple) or `--transport sse`
(legacy HTTP+SSE, `sse_client`; URL of the GET stream, e.g. http://127.0.0.1:PORT/sse).
`--header "Name: value"` (repeatable) adds an HTTP header to every request (e.g. Authorization).

Usage:
  py_client.py --scenario basic [--mode auto|legacy|2026] [--tool NAME --args JSON] [--uri URI]
               [--prompt NAME --prompt-args JSON]
               [--complete-prompt NAME | --complete-template URI_TEMPLATE]
               [--complete-arg NAME=VALUE] [--complete-context JSON] (-- SERVER_CMD [ARGS...] | --url URL)
  py_client.py --scenario progress --tool NAME --args JSON (-- SERVER_CMD... | --url URL)
  py_client.py --scenario cancel --tool NAME --args JSON --after-ms N
               [--after-tool NAME --after-args JSON] (-- SERVER_CMD... | --url URL)
  py_client.py --scenario list-changed --tool TOGGLE_TOOL [--args JSON] [--wait SECONDS]
               (-- SERVER_CMD... | --url URL)
      lists tools, calls TOGGLE_TOOL (one that adds/removes a tool and announces it), waits up to
      --wait seconds (default 5) for tools/list_changed, lists again. Handshake era: the
      notifications/tools/list_changed notification (on the GET stream / SSE stream / stdout);
      2026-07-28: a `subscriptions/listen` stream (tools_list_changed) opened before the call.

Output (stdout, one line of JSON; results in MCP wire form, camelCase):
  basic:    {"sdk", "protocolVersion", "serverInfo", "capabilities", "tools": [names],
             "prompts": [names], "resources": [uris], "templates": [uriTemplates],
             "call", "read", "prompt", "completion"}   (the last four only when asked for)
  progress: {"sdk", "protocolVersion", "progress": [{"progress", "total", "message"}],
             "result", "elapsedMs"}
  cancel:   {"sdk", "protocolVersion", "cancelled": true, "result": null, "elapsedMs",
             "sdkSendsCancelled": true, "afterCancel": <result of --after-tool, if given>}
  list-changed: {"sdk", "protocolVersion", "via": "notification"|"subscriptions/listen",
             "before": [names], "call": result, "listChanged": bool, "waitedMs", "after": [names]}
  Every output also has "transport": "stdio"|"http"|"sse".
Errors: exit 1 with the message on stderr. The whole run is bounded by --timeout (default 30 s).
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

MAX_PAGES = 100


def parse_json(flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"py_client: {flag}: invalid JSON ({e}): {text!r}")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        own, server_cmd = argv[:i], argv[i + 1 :]
        if not server_cmd:
            raise SystemExit("py_client: empty server command after `--`")
    else:
        own, server_cmd = argv, []
    p = argparse.ArgumentParser(prog="py_client.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=["basic", "progress", "cancel", "list-changed"], default="basic")
    p.add_argument("--handshake", action="store_true", help="same as --mode legacy")
    p.add_argument(
        "--mode",
        choices=["auto", "legacy", "2026"],
        default=None,
        help="mcp 2.x: auto (discover, fall back to initialize; default), legacy (initialize), 2026 (forced 2026-07-28)",
    )
    p.add_argument("--url", help="an HTTP server instead of a command after `--`")
    p.add_argument("--transport", choices=["http", "sse"], default="http", help="with --url: Streamable HTTP or HTTP+SSE")
    p.add_argument("--header", action="append", default=[], help='"Name: value", repeatable (HTTP only)')
    p.add_argument("--wait", type=float, default=5.0, help="list-changed: seconds to wait for the notification")
    p.add_argument("--timeout", type=float, default=30.0, help="bound on the whole run, seconds")
    p.add_argument("--tool")
    p.add_argument("--args", dest="tool_args")
    p.add_argument("--uri")
    p.add_argument("--prompt")
    p.add_argument("--prompt-args")
    p.add_argument("--complete-prompt")
    p.add_argument("--complete-template")
    p.add_argument("--complete-arg", help="NAME=VALUE")
    p.add_argument("--complete-context", help="JSON object of already-chosen arguments")
    p.add_argument("--after-ms", type=int, default=500)
    p.add_argument("--after-tool", help="cancel scenario: a tool to call once the cancel is done")
    p.add_argument("--after-args")
    opts = p.parse_args(own)
    if bool(opts.url) == bool(server_cmd):
        raise SystemExit("py_client: give either `--url URL` or `-- SERVER_CMD [ARGS...]`")
    if opts.mode is None:
        opts.mode = "legacy" if opts.handshake else "auto"
    elif opts.handshake and opts.mode != "legacy":
        raise SystemExit("py_client: --handshake contradicts --mode " + opts.mode)
    if MCP_MAJOR < 2 and opts.mode == "2026":
        raise SystemExit("py_client: mcp 1.x speaks only the handshake era (no --mode 2026)")
    headers: dict[str, str] = {}
    for h in opts.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"py_client: --header wants `Name: value`, got {h!r}")
        headers[name.strip()] = value.strip()
    opts.headers = headers
    if opts.scenario == "cancel" and MCP_MAJOR < 2:
        # mcp 1.x abandons a cancelled request locally without telling the server
        # (BaseSession.send_request sends no notifications/cancelled); use the TS or 2.x client.
        raise SystemExit("py_client: the cancel scenario needs mcp >= 2 (mcp 1.x sends no notifications/cancelled)")
    if opts.scenario in ("progress", "cancel", "list-changed") and not opts.tool:
        raise SystemExit(f"py_client: --tool is required for the {opts.scenario} scenario")
    return opts, server_cmd


class Conn:
    """The few calls the scenarios need, over either SDK line."""

    def __init__(self, api: Any, protocol_version: str | None, server_info: Any, capabilities: Any, mode: str):
        self.api = api  # mcp 2.x Client or mcp 1.x ClientSession: same method names below
        self.protocol_version = protocol_version
        self.server_info = server_info
        self.capabilities = capabilities
        self.mode = mode

    async def list_all(self, method: str, field: str, **kw: Any) -> list[Any]:
        items: list[Any] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = await getattr(self.api, method)(cursor=cursor, **kw)
            items.extend(getattr(page, field))
            cursor = page.next_cursor if MCP_MAJOR >= 2 else page.nextCursor
            if not cursor:
                return items
        raise RuntimeError(f"{method}: more than {MAX_PAGES} pages")

    async def call_tool(self, name: str, args: Any, progress_callback: Any = None) -> Any:
        return await self.api.call_tool(name, args or {}, progress_callback=progress_callback)

    def ref_prompt(self, name: str) -> Any:
        from mcp import types

        return types.PromptReference(type="ref/prompt", name=name)

    def ref_template(self, uri: str) -> Any:
        from mcp import types

        return types.ResourceTemplateReference(type="ref/resource", uri=uri)


def sdk_name(mode: str) -> str:
    return f"python-mcp {MCP_VERSION} ({mode})"


def transport_name(opts: argparse.Namespace) -> str:
    return opts.transport if opts.url else "stdio"


def transport(opts: argparse.Namespace, cmd: list[str]) -> Any:
    """The (read, write) streams of the chosen transport."""
    return open_streams(opts.url, opts.transport, cmd, opts.headers, opts.timeout + 5)


class Notifications:
    """Server notifications the SDK hands to the message handler (handshake era)."""

    def __init__(self) -> None:
        self.tools_list_changed = anyio.Event()

    async def handle(self, message: Any) -> None:
        from mcp import types

        root = getattr(message, "root", message)  # 1.x wraps notifications in ServerNotification
        if isinstance(root, types.ToolListChangedNotification):
            self.tools_list_changed.set()


async def connect_and_run(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    notes = Notifications()
    if MCP_MAJOR >= 2:
        from mcp import Client

        sdk_mode = {"auto": "auto", "legacy": "legacy", "2026": "2026-07-28"}[opts.mode]
        async with Client(
            transport(opts, cmd),
            mode=sdk_mode,
            read_timeout_seconds=opts.timeout,
            message_handler=notes.handle,
        ) as client:
            if opts.mode == "2026":
                # Mode "2026-07-28" adopts a synthesized DiscoverResult (no capabilities) without a
                # probe; ask the server once at that version (no fallback) and adopt its answer.
                from mcp import types

                raw = await client.session.send_discover("2026-07-28")
                client.session.adopt(types.DiscoverResult.model_validate(raw))
            conn = Conn(client, client.protocol_version, client.server_info, client.server_capabilities, opts.mode)
            return await run_scenario(opts, conn, notes)
    else:
        from mcp import ClientSession

        async with transport(opts, cmd) as (read, write):
            async with ClientSession(
                read,
                write,
                read_timeout_seconds=timedelta(seconds=opts.timeout),
                message_handler=notes.handle,
            ) as session:
                init = await session.initialize()
                conn = Conn(session, init.protocolVersion, init.serverInfo, init.capabilities, "handshake")
                return await run_scenario(opts, conn, notes)


async def run_scenario(opts: argparse.Namespace, conn: Conn, notes: Notifications) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sdk": sdk_name(conn.mode),
        "protocolVersion": conn.protocol_version,
        "transport": transport_name(opts),
    }
    if opts.scenario == "basic":
        await basic(opts, conn, out)
    elif opts.scenario == "progress":
        await progress(opts, conn, out)
    elif opts.scenario == "list-changed":
        await list_changed(opts, conn, notes, out)
    else:
        await cancel(opts, conn, out)
    return out


async def basic(opts: argparse.Namespace, conn: Conn, out: dict[str, Any]) -> None:
    caps = conn.capabilities
    out["serverInfo"] = dump(conn.server_info)
    out["capabilities"] = dump(caps)
    has = lambda name: caps is not None and getattr(caps, name, None) is not None  # noqa: E731
    out["tools"] = [t.name for t in await conn.list_all("list_tools", "tools")] if has("tools") else []
    out["prompts"] = [p.name for p in await conn.list_all("list_prompts", "prompts")] if has("prompts") else []
    if has("resources"):
        out["resources"] = [str(r.uri) for r in await conn.list_all("list_resources", "resources")]
        templates = await conn.list_all("list_resource_templates", "resource_templates" if MCP_MAJOR >= 2 else "resourceTemplates")
        out["templates"] = [t.uri_template if MCP_MAJOR >= 2 else t.uriTemplate for t in templates]
    else:
        out["resources"], out["templates"] = [], []
    if opts.tool:
        out["call"] = dump(await conn.call_tool(opts.tool, parse_json("--args", opts.tool_args)))
    if opts.uri:
        out["read"] = dump(await conn.api.read_resource(opts.uri))
    if opts.prompt:
        out["prompt"] = dump(await conn.api.get_prompt(opts.prompt, parse_json("--prompt-args", opts.prompt_args)))
    if opts.complete_prompt or opts.complete_template:
        if not opts.complete_arg or "=" not in opts.complete_arg:
            raise SystemExit("py_client: --complete-arg NAME=VALUE is required with --complete-prompt/--complete-template")
        name, value = opts.complete_arg.split("=", 1)
        ref = conn.ref_prompt(opts.complete_prompt) if opts.complete_prompt else conn.ref_template(opts.complete_template)
        context = parse_json("--complete-context", opts.complete_context)
        result = await conn.api.complete(ref, {"name": name, "value": value}, context_arguments=context)
        out["completion"] = dump(result)


async def progress(opts: argparse.Namespace, conn: Conn, out: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append({"progress": progress, "total": total, "message": message})

    start = time.monotonic()
    result = await conn.call_tool(opts.tool, parse_json("--args", opts.tool_args), progress_callback=on_progress)
    out["elapsedMs"] = round((time.monotonic() - start) * 1000)
    out["progress"] = seen
    out["result"] = dump(result)


async def cancel(opts: argparse.Namespace, conn: Conn, out: dict[str, Any]) -> None:
    result = None
    start = time.monotonic()
    # mcp 2.x: abandoning a request through caller cancellation makes the dispatcher send a
    # courtesy `notifications/cancelled` (reason "caller cancelled") before propagating.
    with anyio.move_on_after(opts.after_ms / 1000) as scope:
        result = await conn.call_tool(opts.tool, parse_json("--args", opts.tool_args))
    out["elapsedMs"] = round((time.monotonic() - start) * 1000)
    out["cancelled"] = scope.cancelled_caught
    out["result"] = dump(result)
    out["sdkSendsCancelled"] = True
    if opts.after_tool:
        out["afterCancel"] = dump(await conn.call_tool(opts.after_tool, parse_json("--after-args", opts.after_args)))


async def list_changed(opts: argparse.Namespace, conn: Conn, notes: Notifications, out: dict[str, Any]) -> None:
    names = lambda tools: [t.name for t in tools]  # noqa: E731
    modern = MCP_MAJOR >= 2 and conn.protocol_version == "2026-07-28"
    out["via"] = "subscriptions/listen" if modern else "notification"
    # 2026-07-28 lists are cacheable (ttlMs): the second listing must reach the server.
    list_kw = {"cache_mode": "bypass"} if MCP_MAJOR >= 2 else {}
    out["before"] = names(await conn.list_all("list_tools", "tools", **list_kw))
    start = time.monotonic()
    if modern:
        # mcp 2.x never opens subscriptions/listen by itself: Client.listen() does, and entering
        # waits for notifications/subscriptions/acknowledged.
        async with conn.api.listen(tools_list_changed=True) as sub:
            out["honored"] = dump(sub.honored)
            start = time.monotonic()
            out["call"] = dump(await conn.call_tool(opts.tool, parse_json("--args", opts.tool_args)))
            event = None
            with anyio.move_on_after(opts.wait):
                event = await sub.__anext__()
            out["listChanged"] = event is not None
            out["event"] = type(event).__name__ if event is not None else None
    else:
        out["call"] = dump(await conn.call_tool(opts.tool, parse_json("--args", opts.tool_args)))
        with anyio.move_on_after(opts.wait):
            await notes.tools_list_changed.wait()
        out["listChanged"] = notes.tools_list_changed.is_set()
    out["waitedMs"] = round((time.monotonic() - start) * 1000)
    out["after"] = names(await conn.list_all("list_tools", "tools", **list_kw))


async def _bounded(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    with anyio.fail_after(opts.timeout):
        return await connect_and_run(opts, cmd)


def run() -> int:
    opts, cmd = parse_args(sys.argv[1:])
    try:
        out = anyio.run(_bounded, opts, cmd)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - report anything, exit non-zero
        print(f"py_client: {describe(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run())
