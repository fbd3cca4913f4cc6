#!/usr/bin/env python3
"""A real MCP client (the official Python SDK) that runs one scenario and prints one JSON object.

Works with both SDK lines; run it with the interpreter of the venv whose SDK you want:
  .test-deps/py2/bin/python  (mcp 2.x: `mcp.Client`, mode "auto" = server/discover first,
                              falling back to initialize; --handshake forces mode "legacy")
  .test-deps/py1/bin/python  (mcp 1.x: `stdio_client` + `ClientSession.initialize()`, handshake only)

Usage:
  py_client.py --scenario basic [--handshake] [--tool NAME --args JSON] [--uri URI]
               [--prompt NAME --prompt-args JSON]
               [--complete-prompt NAME | --complete-template URI_TEMPLATE]
               [--complete-arg NAME=VALUE] [--complete-context JSON] -- SERVER_CMD [ARGS...]
  py_client.py --scenario progress --tool NAME --args JSON -- SERVER_CMD...
  py_client.py --scenario cancel --tool NAME --args JSON --after-ms N
               [--after-tool NAME --after-args JSON] -- SERVER_CMD...

Output (stdout, one line of JSON; results in MCP wire form, camelCase):
  basic:    {"sdk", "protocolVersion", "serverInfo", "capabilities", "tools": [names],
             "prompts": [names], "resources": [uris], "templates": [uriTemplates],
             "call", "read", "prompt", "completion"}   (the last four only when asked for)
  progress: {"sdk", "protocolVersion", "progress": [{"progress", "total", "message"}],
             "result", "elapsedMs"}
  cancel:   {"sdk", "protocolVersion", "cancelled": true, "result": null, "elapsedMs",
             "sdkSendsCancelled": true, "afterCancel": <result of --after-tool, if given>}
Errors: exit 1 with the message on stderr. The whole run is bounded by --timeout (default 30 s).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from datetime import timedelta
from typing import Any

import anyio

MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])
MAX_PAGES = 100


def dump(model: Any) -> Any:
    """A pydantic model (or list/dict of them) in MCP wire form."""
    if model is None:
        return None
    if hasattr(model, "model_dump"):
        return model.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(model, list):
        return [dump(m) for m in model]
    if isinstance(model, dict):
        return {k: dump(v) for k, v in model.items()}
    return model


def parse_json(flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"py_client: {flag}: invalid JSON ({e}): {text!r}")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("py_client: missing `-- SERVER_CMD [ARGS...]`")
    i = argv.index("--")
    own, server_cmd = argv[:i], argv[i + 1 :]
    if not server_cmd:
        raise SystemExit("py_client: empty server command after `--`")
    p = argparse.ArgumentParser(prog="py_client.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=["basic", "progress", "cancel"], default="basic")
    p.add_argument("--handshake", action="store_true", help="mcp 2.x: force the initialize handshake (mode legacy)")
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
    if opts.scenario == "cancel" and MCP_MAJOR < 2:
        # mcp 1.x abandons a cancelled request locally without telling the server
        # (BaseSession.send_request sends no notifications/cancelled); use the TS or 2.x client.
        raise SystemExit("py_client: the cancel scenario needs mcp >= 2 (mcp 1.x sends no notifications/cancelled)")
    if opts.scenario in ("progress", "cancel") and not opts.tool:
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

    async def list_all(self, method: str, field: str) -> list[Any]:
        items: list[Any] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = await getattr(self.api, method)(cursor=cursor)
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


async def connect_and_run(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    from mcp import StdioServerParameters

    # Pass our whole environment on (the SDK default is a small safe subset), so the test
    # harness decides what the server sees.
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
    if MCP_MAJOR >= 2:
        from mcp import Client

        mode = "legacy" if opts.handshake else "auto"
        async with Client(params, mode=mode, read_timeout_seconds=opts.timeout) as client:
            conn = Conn(client, client.protocol_version, client.server_info, client.server_capabilities, mode)
            return await run_scenario(opts, conn)
    else:
        from mcp import ClientSession
        from mcp.client.stdio import stdio_client

        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=opts.timeout)) as session:
                init = await session.initialize()
                conn = Conn(session, init.protocolVersion, init.serverInfo, init.capabilities, "handshake")
                return await run_scenario(opts, conn)


async def run_scenario(opts: argparse.Namespace, conn: Conn) -> dict[str, Any]:
    out: dict[str, Any] = {"sdk": sdk_name(conn.mode), "protocolVersion": conn.protocol_version}
    if opts.scenario == "basic":
        await basic(opts, conn, out)
    elif opts.scenario == "progress":
        await progress(opts, conn, out)
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


async def _bounded(opts: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    with anyio.fail_after(opts.timeout):
        return await connect_and_run(opts, cmd)


def describe(exc: BaseException) -> str:
    """Flatten exception groups (anyio task groups wrap errors) into one message."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return "timed out"
    err = getattr(exc, "error", None)  # McpError / MCPError carry ErrorData
    code = getattr(err, "code", None)
    prefix = f"{type(exc).__name__}" + (f" (code {code})" if code is not None else "")
    return f"{prefix}: {exc}"


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
