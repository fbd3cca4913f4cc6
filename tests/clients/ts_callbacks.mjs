#!/usr/bin/env node
// A real MCP client (the official TypeScript SDK, @modelcontextprotocol/sdk 1.x, handshake era
// only) with deterministic sampling, elicitation and roots handlers (setRequestHandler for
// CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, with the matching
// capabilities: sampling {}, elicitation {form, url}, roots {listChanged}). It calls one or more
// tools and prints ONE JSON object: each call's result and every handler that fired, with the
// params the server sent. Same callbacks and output shape as tests/clients/py_callbacks.py.
//
// Usage (node 22 from .test-deps):
//   ts_callbacks.mjs [--no-sampling] [--no-elicitation] [--no-roots]
//                    [--elicit-action accept|decline|cancel] [--root URI ...]
//                    (--tool NAME [--args JSON] | --call NAME JSON [--call NAME JSON ...])
//                    [--progress] [--cancel-after-ms N] [--timeout S]
//                    (-- SERVER_CMD [ARGS...] | --url URL [--transport http|sse])
// Output: {"sdk", "mode": "handshake", "protocolVersion", "transport", "tools",
//          "calls": [{"tool", "args", "result" | "error", "elapsedMs", "progress"?, "cancelled"?}],
//          "callbacks": {"sampling": [params], "elicitation": [params], "roots": [{}]},
//          "callbackCalls": {...: [call index or null]}}
// Errors outside a call: exit 1, message on stderr. Bounded by --timeout (default 30 s).
// The SDK is loaded from $MCP_HUB_TEST_DEPS (default: <repo>/.test-deps).

import { checkTarget, failer, parseJson as parseJsonOf, sdkPackage, splitServer } from "./common.mjs";

const sdkPkg = sdkPackage("@modelcontextprotocol/sdk", "dist/esm");
const load = sdkPkg.load;
const ROOTS = [{ uri: "file:///tmp/hub-test-root", name: "test-root" }];

const fail = failer("ts_callbacks");
const parseJson = (what, text) => parseJsonOf(fail, what, text);

function parseArgs(argv) {
  const { own, server } = splitServer(argv, fail);
  const o = {
    timeout: 30,
    transport: "http",
    calls: [],
    sampling: true,
    elicitation: true,
    roots: true,
    elicitAction: "accept",
    progress: false,
    rootUris: [],
  };
  let tool;
  let toolArgs = "{}";
  for (let i = 0; i < own.length; i++) {
    const f = own[i];
    const val = () => {
      if (i + 1 >= own.length) fail(`${f} needs a value`);
      return own[++i];
    };
    switch (f) {
      case "--no-sampling": o.sampling = false; break;
      case "--no-elicitation": o.elicitation = false; break;
      case "--no-roots": o.roots = false; break;
      case "--progress": o.progress = true; break;
      case "--handshake": break;
      case "--mode": if (!["legacy", "handshake", "auto"].includes(val())) fail("SDK 1.x speaks only the handshake era"); break;
      case "--elicit-action": o.elicitAction = val(); break;
      case "--root": o.rootUris.push(val()); break;
      case "--cancel-after-ms": o.cancelAfterMs = Number(val()); break;
      case "--timeout": o.timeout = Number(val()); break;
      case "--url": o.url = val(); break;
      case "--transport": o.transport = val(); break;
      case "--tool": tool = val(); break;
      case "--args": toolArgs = val(); break;
      case "--call": {
        const name = val();
        o.calls.push([name, parseJson(`arguments of ${name}`, val())]);
        break;
      }
      default: fail(`unknown flag \`${f}\``);
    }
  }
  if (tool) o.calls.unshift([tool, parseJson("--args", toolArgs)]);
  if (o.calls.length === 0) fail("give --tool NAME or --call NAME JSON");
  checkTarget(o.url, server, o.transport, fail);
  return { o, server };
}

function elicitValue(name, prop) {
  if ("default" in prop) return prop.default;
  if (prop.enum?.length) return prop.enum[0];
  for (const k of ["oneOf", "anyOf"]) if (prop[k]?.length && "const" in prop[k][0]) return prop[k][0].const;
  switch (prop.type) {
    case "boolean": return true;
    case "integer":
    case "number": return prop.minimum ?? 1;
    case "array": {
      const first = prop.items ? elicitValue(name, prop.items) : "x";
      return Array(Math.max(1, prop.minItems ?? 1)).fill(first);
    }
  }
  switch (prop.format) {
    case "email": return "test@example.com";
    case "uri": return "https://example.com/hub-test";
    case "date": return "2000-01-01";
    case "date-time": return "2000-01-01T00:00:00Z";
  }
  return `elicited ${name}`;
}

function errText(e) {
  const code = e && e.code !== undefined ? ` (code ${e.code})` : "";
  return `${e && e.name ? e.name : "Error"}${code}: ${e && e.message ? e.message : String(e)}`;
}

async function main() {
  const { o, server } = parseArgs(process.argv.slice(2));
  const killer = setTimeout(() => fail(`timed out after ${o.timeout}s`), o.timeout * 1000);
  killer.unref();

  const { Client } = await load("client/index.js");
  const types = await load("types.js");
  const { CallToolResultSchema, CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } = types;

  let transport;
  if (!o.url) {
    const { StdioClientTransport } = await load("client/stdio.js");
    transport = new StdioClientTransport({ command: server[0], args: server.slice(1), env: { ...process.env }, stderr: "inherit" });
  } else if (o.transport === "sse") {
    const { SSEClientTransport } = await load("client/sse.js");
    transport = new SSEClientTransport(new URL(o.url));
  } else {
    const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
    transport = new StreamableHTTPClientTransport(new URL(o.url));
  }
  let protocolVersion = null;
  const setVersion = transport.setProtocolVersion ? transport.setProtocolVersion.bind(transport) : null;
  transport.setProtocolVersion = (v) => {
    protocolVersion = v;
    if (setVersion) setVersion(v);
  };

  const capabilities = {};
  if (o.sampling) capabilities.sampling = {};
  if (o.elicitation) capabilities.elicitation = { form: {}, url: {} };
  if (o.roots) capabilities.roots = { listChanged: true };
  const client = new Client({ name: "mcp-hub-e2e-ts-callbacks", version: "0.0.0" }, { capabilities });

  const seen = { sampling: [], elicitation: [], roots: [] };
  const during = { sampling: [], elicitation: [], roots: [] };
  let currentCall = null;
  const note = (kind, params) => {
    seen[kind].push(params);
    during[kind].push(currentCall);
  };
  if (o.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      const params = req.params;
      note("sampling", params);
      let first = "";
      for (const m of params.messages ?? []) {
        const items = Array.isArray(m.content) ? m.content : [m.content];
        const t = items.find((c) => c && c.type === "text");
        if (m.role === "user" && t) {
          first = t.text;
          break;
        }
      }
      return { role: "assistant", content: { type: "text", text: `sampled: ${first}` }, model: "hub-test-model", stopReason: "endTurn" };
    });
  }
  if (o.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      const params = req.params;
      note("elicitation", params);
      if (o.elicitAction !== "accept") return { action: o.elicitAction };
      if (params.mode === "url") return { action: "accept" };
      const props = params.requestedSchema?.properties ?? {};
      const content = {};
      for (const [k, p] of Object.entries(props)) content[k] = elicitValue(k, p);
      return { action: "accept", content };
    });
  }
  if (o.roots) {
    client.setRequestHandler(ListRootsRequestSchema, async (req) => {
      note("roots", req.params ?? {});
      return { roots: o.rootUris.length ? o.rootUris.map((uri, i) => ({ uri, name: `root-${i}` })) : ROOTS };
    });
  }
  const sdkErrors = [];
  client.onerror = (e) => sdkErrors.push(String(e && e.message ? e.message : e));
  const reqOpts = { timeout: o.timeout * 1000 };
  await client.connect(transport, reqOpts);
  const sdkVersion = await sdkPkg.version();
  const out = {
    sdk: `typescript-sdk ${sdkVersion} (handshake)`,
    mode: "handshake",
    protocolVersion,
    transport: o.url ? o.transport : "stdio",
  };
  const caps = client.getServerCapabilities() || {};
  out.tools = [];
  if (caps.tools) {
    let cursor;
    for (let page = 0; page < 50; page++) {
      const res = await client.listTools(cursor === undefined ? {} : { cursor }, reqOpts);
      out.tools.push(...res.tools.map((t) => t.name));
      cursor = res.nextCursor;
      if (!cursor) break;
    }
  }
  out.calls = [];
  for (let i = 0; i < o.calls.length; i++) {
    const [name, args] = o.calls[i];
    currentCall = i;
    const entry = { tool: name, args };
    const progress = [];
    const opts = { ...reqOpts };
    if (o.progress) {
      opts.resetTimeoutOnProgress = true;
      opts.onprogress = (p) => progress.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null });
    }
    let ac;
    let timer;
    if (o.cancelAfterMs !== undefined) {
      // SDK 1.x: aborting the signal rejects the call and sends notifications/cancelled.
      ac = new AbortController();
      opts.signal = ac.signal;
      timer = setTimeout(() => ac.abort("cancelled by ts_callbacks"), o.cancelAfterMs);
      entry.cancelled = false;
    }
    const start = performance.now();
    try {
      entry.result = await client.callTool({ name, arguments: args }, CallToolResultSchema, opts);
    } catch (e) {
      if (ac && ac.signal.aborted) {
        entry.cancelled = true;
        entry.result = null;
      } else {
        entry.error = errText(e);
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    entry.elapsedMs = Math.round(performance.now() - start);
    if (o.progress) entry.progress = progress;
    out.calls.push(entry);
  }
  currentCall = null;
  out.callbacks = seen;
  out.callbackCalls = during;
  if (sdkErrors.length) out.sdkErrors = sdkErrors;
  process.stdout.write(JSON.stringify(out) + "\n");
  await client.close().catch(() => {});
  process.exit(0);
}

main().catch((e) => fail(errText(e)));
