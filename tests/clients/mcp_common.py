"""What the Python test clients share (py_client.py, py_callbacks.py, load.py): the SDK's version,
the wire form of its models, one message for an error, and the (read, write) streams of a
transport for `mcp` 1.x and 2.x alike. Imported from the scripts' own folder."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])


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


def describe(exc: BaseException) -> str:
    """Flatten exception groups (anyio task groups wrap errors) into one message."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return "timed out"
    err = getattr(exc, "error", None)  # McpError / MCPError carry ErrorData
    code = getattr(err, "code", None)
    return f"{type(exc).__name__}" + (f" (code {code})" if code is not None else "") + f": {exc}"


@asynccontextmanager
async def open_streams(
    url: str | None,
    transport: str,
    cmd: list[str],
    headers: dict[str, str] | None,
    read_timeout: float,
    sse_timeout: float | None = None,
) -> AsyncIterator[Any]:
    """The (read, write) streams of `cmd` over stdio (no `url`), or of `url` over `transport`
    (`sse` or `http`). `sse_timeout` overrides sse_client's connect/POST timeout."""
    if not url:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        # Pass our whole environment on (the SDK default is a small safe subset), so the test
        # harness decides what the server sees.
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            yield read, write
    elif transport == "sse":
        from mcp.client.sse import sse_client

        extra = {} if sse_timeout is None else {"timeout": sse_timeout}
        async with sse_client(url, headers=headers or None, sse_read_timeout=read_timeout, **extra) as (
            read,
            write,
        ):
            yield read, write
    elif MCP_MAJOR >= 2:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=headers or None) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):  # 2-tuple in 2.x
                yield read, write
    else:
        from mcp.client.streamable_http import streamablehttp_client

        # 1.x yields (read, write, get_session_id).
        async with streamablehttp_client(url, headers=headers or None) as (read, write, _sid):
            yield read, write
