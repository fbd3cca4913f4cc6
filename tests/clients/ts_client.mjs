#!/usr/bin/env node
// A real MCP client (the official TypeScript SDK, @modelcontextprotocol/sdk 1.x) that runs one
// scenario against a server and prints one JSON object on stdout.
// SDK 1.x speaks only the handshake era: connect() sends `initialize` at its LATEST_PROTOCOL_VERSION.
// Server: a command after `--` (StdioClientTransport), or `--url URL` with `--transport http`
// (StreamableHTTPClientTransport, the default) or `--transport sse` (SSEClientTransport; URL of the
// GET stream, e.g. http://127.0.0.1:PORT/sse). `--header "Name: value"` (repeatable) is sent on
// every HTTP request (requestInit.headers; the SSE transport also puts it on its GET).
//
// Run with the node 22 from .test-deps:
//   .test-deps/node_modules/.bin/node tests/clients/ts_client.mjs --scenario basic \
//       [--tool NAME --args JSON] [--uri URI] [--prompt NAME --prompt-args JSON]
//       [--complete-prompt NAME | --complete-template URI_TEMPLATE] [--complete-arg NAME=VALUE]
//       [--complete-context JSON] -- SERVER_CMD [ARGS...]
//   ... --scenario progress --tool NAME --args JSON -- SERVER_CMD...
//   ... --scenario cancel --tool NAME --args JSON --after-ms N [--after-tool NAME --after-args JSON] -- SERVER_CMD...
//   ... --scenario list-changed --tool TOGGLE_TOOL [--args JSON] [--wait SECONDS] -- SERVER_CMD...
//   (any of them with `--url URL [--transport http|sse] [--header "Name: value"]...` instead of `-- SERVER_CMD...`)
// Output: the same JSON shapes as tests/clients/py_client.py. Errors: exit 1, message on stderr.
// The SDK is loaded from $MCP_HUB_TEST_DEPS (default: <repo>/.test-deps).
// The whole run is bounded by --timeout seconds (default 30).

import { checkTarget, failer, parseHeader, parseJson, sdkPackage, splitServer } from "./common.mjs";

const sdkPkg = sdkPackage("@modelcontextprotocol/sdk", "dist/esm");
const load = sdkPkg.load;

const fail = failer("ts_client");

function parseArgs(argv) {
  const { own, server } = splitServer(argv, fail);
  const opts = { scenario: "basic", timeout: 30, afterMs: 500, transport: "http", wait: 5, headers: {} };
  const keys = {
    "--scenario": "scenario",
    "--timeout": "timeout",
    "--tool": "tool",
    "--args": "toolArgs",
    "--uri": "uri",
    "--prompt": "prompt",
    "--prompt-args": "promptArgs",
    "--complete-prompt": "completePrompt",
    "--complete-template": "completeTemplate",
    "--complete-arg": "completeArg",
    "--complete-context": "completeContext",
    "--after-ms": "afterMs",
    "--after-tool": "afterTool",
    "--after-args": "afterArgs",
    "--url": "url",
    "--transport": "transport",
    "--wait": "wait",
    "--mode": "mode",
  };
  for (let i = 0; i < own.length; i++) {
    const flag = own[i];
    if (flag === "--handshake") continue; // the only mode SDK 1.x has
    if (flag === "--header") {
      if (i + 1 >= own.length) fail("--header needs a value");
      parseHeader(own[++i], opts.headers, fail);
      continue;
    }
    const key = keys[flag];
    if (!key) fail(`unknown flag \`${flag}\``);
    if (i + 1 >= own.length) fail(`${flag} needs a value`);
    opts[key] = own[++i];
  }
  if (opts.mode !== undefined && !["legacy", "handshake"].includes(opts.mode)) {
    fail(`SDK 1.x speaks only the handshake era (--mode ${opts.mode})`);
  }
  opts.timeout = Number(opts.timeout);
  opts.afterMs = Number(opts.afterMs);
  opts.wait = Number(opts.wait);
  checkTarget(opts.url, server, opts.transport, fail);
  if (!["basic", "progress", "cancel", "list-changed"].includes(opts.scenario)) fail(`unknown scenario \`${opts.scenario}\``);
  if (opts.scenario !== "basic" && !opts.tool) fail(`--tool is required for the ${opts.scenario} scenario`);
  return { opts, server };
}

const json = (flag, text) => parseJson(fail, flag, text);

async function listAll(fn, field) {
  const items = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const res = await fn(cursor === undefined ? {} : { cursor });
    items.push(...res[field]);
    cursor = res.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`${field}: more than 100 pages`);
}

async function main() {
  const { opts, server } = parseArgs(process.argv.slice(2));
  const killer = setTimeout(() => fail(`timed out after ${opts.timeout}s`), opts.timeout * 1000);
  killer.unref();

  const { Client } = await load("client/index.js");
  const { CallToolResultSchema, ToolListChangedNotificationSchema } = await load("types.js");

  let transport;
  if (!opts.url) {
    const { StdioClientTransport } = await load("client/stdio.js");
    transport = new StdioClientTransport({
      command: server[0],
      args: server.slice(1),
      env: { ...process.env },
      stderr: "inherit",
    });
  } else if (opts.transport === "sse") {
    const { SSEClientTransport } = await load("client/sse.js");
    transport = new SSEClientTransport(new URL(opts.url), { requestInit: { headers: opts.headers } });
  } else {
    const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
    transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers: opts.headers } });
  }
  let protocolVersion = null;
  // The SDK tells the transport the negotiated version through this hook (HTTP transports send it
  // as MCP-Protocol-Version; stdio has none): wrap it to learn the version the SDK accepted.
  const setVersion = transport.setProtocolVersion ? transport.setProtocolVersion.bind(transport) : null;
  transport.setProtocolVersion = (v) => {
    protocolVersion = v;
    if (setVersion) setVersion(v);
  };
  const client = new Client({ name: "mcp-hub-e2e-ts", version: "0.0.0" }, { capabilities: {} });
  // tools/list_changed (handshake era: a plain notification on the stream the server chose).
  let onListChanged = () => {};
  const listChanged = new Promise((resolve) => {
    onListChanged = resolve;
  });
  let listChangedSeen = false;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChangedSeen = true;
    onListChanged();
  });
  // Errors the SDK reports out of band (e.g. "Received a progress notification for an unknown
  // token" when a late progress notification loses the race with its result).
  const sdkErrors = [];
  client.onerror = (e) => sdkErrors.push(String(e && e.message ? e.message : e));
  const reqOpts = { timeout: opts.timeout * 1000 };
  await client.connect(transport, reqOpts);
  const sdkVersion = await sdkPkg.version();
  const out = {
    sdk: `typescript-sdk ${sdkVersion} (handshake)`,
    protocolVersion,
    transport: opts.url ? opts.transport : "stdio",
  };

  try {
    if (opts.scenario === "basic") {
      const caps = client.getServerCapabilities() || {};
      out.serverInfo = client.getServerVersion() ?? null;
      out.capabilities = caps;
      out.tools = caps.tools ? (await listAll((p) => client.listTools(p, reqOpts), "tools")).map((t) => t.name) : [];
      out.prompts = caps.prompts
        ? (await listAll((p) => client.listPrompts(p, reqOpts), "prompts")).map((p) => p.name)
        : [];
      if (caps.resources) {
        out.resources = (await listAll((p) => client.listResources(p, reqOpts), "resources")).map((r) => r.uri);
        out.templates = (await listAll((p) => client.listResourceTemplates(p, reqOpts), "resourceTemplates")).map(
          (t) => t.uriTemplate,
        );
      } else {
        out.resources = [];
        out.templates = [];
      }
      if (opts.tool) {
        out.call = await client.callTool(
          { name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} },
          CallToolResultSchema,
          reqOpts,
        );
      }
      if (opts.uri) out.read = await client.readResource({ uri: opts.uri }, reqOpts);
      if (opts.prompt) {
        out.prompt = await client.getPrompt(
          { name: opts.prompt, arguments: json("--prompt-args", opts.promptArgs) },
          reqOpts,
        );
      }
      if (opts.completePrompt || opts.completeTemplate) {
        const arg = opts.completeArg || "";
        const eq = arg.indexOf("=");
        if (eq < 0) fail("--complete-arg NAME=VALUE is required with --complete-prompt/--complete-template");
        const ref = opts.completePrompt
          ? { type: "ref/prompt", name: opts.completePrompt }
          : { type: "ref/resource", uri: opts.completeTemplate };
        const params = { ref, argument: { name: arg.slice(0, eq), value: arg.slice(eq + 1) } };
        const ctx = json("--complete-context", opts.completeContext);
        if (ctx) params.context = { arguments: ctx };
        out.completion = await client.complete(params, reqOpts);
      }
    } else if (opts.scenario === "progress") {
      const seen = [];
      const start = performance.now();
      const result = await client.callTool(
        { name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} },
        CallToolResultSchema,
        {
          ...reqOpts,
          resetTimeoutOnProgress: true,
          onprogress: (p) => seen.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }),
        },
      );
      out.elapsedMs = Math.round(performance.now() - start);
      out.progress = seen;
      out.result = result;
    } else if (opts.scenario === "list-changed") {
      const names = async () => (await listAll((p) => client.listTools(p, reqOpts), "tools")).map((t) => t.name);
      out.via = "notification";
      out.before = await names();
      const start = performance.now();
      out.call = await client.callTool(
        { name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} },
        CallToolResultSchema,
        reqOpts,
      );
      let timer;
      await Promise.race([listChanged, new Promise((r) => (timer = setTimeout(r, opts.wait * 1000)))]);
      clearTimeout(timer);
      out.listChanged = listChangedSeen;
      out.waitedMs = Math.round(performance.now() - start);
      out.after = await names();
    } else {
      // SDK 1.x: aborting the request's AbortSignal rejects the call and sends
      // notifications/cancelled {requestId, reason} to the server (shared/protocol.js).
      const ac = new AbortController();
      const start = performance.now();
      const timer = setTimeout(() => ac.abort("cancelled by ts_client"), opts.afterMs);
      let result = null;
      let cancelled = false;
      try {
        result = await client.callTool(
          { name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} },
          CallToolResultSchema,
          { ...reqOpts, signal: ac.signal },
        );
      } catch (e) {
        if (!ac.signal.aborted) throw e;
        cancelled = true;
      } finally {
        clearTimeout(timer);
      }
      out.elapsedMs = Math.round(performance.now() - start);
      out.cancelled = cancelled;
      out.result = result;
      out.sdkSendsCancelled = true;
      if (opts.afterTool) {
        out.afterCancel = await client.callTool(
          { name: opts.afterTool, arguments: json("--after-args", opts.afterArgs) ?? {} },
          CallToolResultSchema,
          reqOpts,
        );
      }
    }
  } finally {
    await client.close().catch(() => {});
  }
  if (sdkErrors.length > 0) out.sdkErrors = sdkErrors;
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
}

main().catch((e) => {
  const code = e && e.code !== undefined ? ` (code ${e.code})` : "";
  fail(`${e && e.name ? e.name : "Error"}${code}: ${e && e.message ? e.message : e}`);
});
