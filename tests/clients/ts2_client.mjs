#!/usr/bin/env node
// A real MCP client (the official TypeScript SDK 2.x, npm `@modelcontextprotocol/client`) that runs
// one scenario and prints one JSON object on stdout, like tests/clients/ts_client.mjs (SDK 1.x).
//
// SDK 2.x negotiates by `versionNegotiation.mode`: `legacy` (the SDK's default: plain initialize),
// `auto` (this client's default: `server/discover` first, then the initialize handshake unless the
// answer is definitive 2026-07-28 evidence; over HTTP a probe timeout is an error, not a fallback),
// or `{ pin: "2026-07-28" }` (`--mode 2026`: discover must offer 2026-07-28, no fallback).
// On a 2026-07-28 connection the `listChanged` client option makes the SDK open a
// `subscriptions/listen` stream at connect (`client.autoOpenedSubscription`); on a handshake-era one
// it installs a notifications/tools/list_changed handler.
//
// Server: a command after `--` (StdioClientTransport from `@modelcontextprotocol/client/stdio`), or
// `--url URL` with `--transport http` (StreamableHTTPClientTransport, default) or `--transport sse`
// (SSEClientTransport; the URL of the GET stream). `--header "Name: value"` (repeatable) is sent on
// every HTTP request.
//
//   node tests/clients/ts2_client.mjs --scenario basic [--mode auto|legacy|2026]
//       [--tool NAME --args JSON] [--uri URI] [--prompt NAME --prompt-args JSON]
//       (-- SERVER_CMD [ARGS...] | --url URL [--transport http|sse] [--header "Name: value"]...)
//   ... --scenario progress --tool NAME --args JSON ...
//   ... --scenario list-changed --tool TOGGLE_TOOL [--args JSON] [--wait SECONDS] ...
// Output: the shapes of tests/clients/py_client.py ("sdk", "protocolVersion", "transport", ...).
// Errors: exit 1, message on stderr. The SDK is loaded from $MCP_HUB_TEST_DEPS (default
// <repo>/.test-deps). The whole run is bounded by --timeout seconds (default 30).

import { checkTarget, failer, parseHeader, parseJson, sdkPackage, splitServer } from "./common.mjs";

const sdkPkg = sdkPackage("@modelcontextprotocol/client", "dist");
const load = sdkPkg.load;

const fail = failer("ts2_client");

function parseArgs(argv) {
  const { own, server } = splitServer(argv, fail);
  const opts = { scenario: "basic", timeout: 30, transport: "http", wait: 5, mode: "auto", headers: {} };
  const keys = {
    "--scenario": "scenario",
    "--timeout": "timeout",
    "--tool": "tool",
    "--args": "toolArgs",
    "--uri": "uri",
    "--prompt": "prompt",
    "--prompt-args": "promptArgs",
    "--url": "url",
    "--transport": "transport",
    "--wait": "wait",
    "--mode": "mode",
  };
  for (let i = 0; i < own.length; i++) {
    const flag = own[i];
    if (flag === "--handshake") {
      opts.mode = "legacy";
      continue;
    }
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
  opts.timeout = Number(opts.timeout);
  opts.wait = Number(opts.wait);
  if (!["auto", "legacy", "2026"].includes(opts.mode)) fail(`unknown mode \`${opts.mode}\``);
  checkTarget(opts.url, server, opts.transport, fail);
  if (!["basic", "progress", "list-changed"].includes(opts.scenario)) fail(`unknown scenario \`${opts.scenario}\``);
  if (opts.scenario !== "basic" && !opts.tool) fail(`--tool is required for the ${opts.scenario} scenario`);
  return { opts, server };
}

const json = (flag, text) => parseJson(fail, flag, text);

async function main() {
  const { opts, server } = parseArgs(process.argv.slice(2));
  const killer = setTimeout(() => fail(`timed out after ${opts.timeout}s`), opts.timeout * 1000);
  killer.unref();

  const sdk = await load("index.mjs");
  let transport;
  if (!opts.url) {
    const { StdioClientTransport } = await load("stdio.mjs");
    transport = new StdioClientTransport({
      command: server[0],
      args: server.slice(1),
      env: { ...process.env },
      stderr: "inherit",
    });
  } else if (opts.transport === "sse") {
    transport = new sdk.SSEClientTransport(new URL(opts.url), { requestInit: { headers: opts.headers } });
  } else {
    transport = new sdk.StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers: opts.headers } });
  }

  let listChangedSeen = false;
  let onListChanged = () => {};
  const listChanged = new Promise((resolve) => {
    onListChanged = resolve;
  });
  const mode = opts.mode === "2026" ? { pin: "2026-07-28" } : opts.mode;
  const client = new sdk.Client(
    { name: "mcp-hub-e2e-ts2", version: "0.0.0" },
    {
      capabilities: {},
      versionNegotiation: { mode },
      listChanged:
        opts.scenario === "list-changed"
          ? {
              tools: {
                autoRefresh: false,
                debounceMs: 0,
                onChanged: () => {
                  listChangedSeen = true;
                  onListChanged();
                },
              },
            }
          : undefined,
    },
  );
  const sdkErrors = [];
  client.onerror = (e) => sdkErrors.push(String(e && e.message ? e.message : e));
  const reqOpts = { timeout: opts.timeout * 1000 };
  await client.connect(transport, reqOpts);
  const sdkVersion = await sdkPkg.version();
  const out = {
    sdk: `typescript-sdk ${sdkVersion} (${opts.mode})`,
    protocolVersion: client.getNegotiatedProtocolVersion() ?? null,
    era: client.getProtocolEra() ?? null,
    transport: opts.url ? opts.transport : "stdio",
  };
  // The SDK's list verbs walk every page when called without a cursor; 2026-07-28 lists are
  // cacheable (ttlMs), so listings that must see a change bypass the client's cache.
  const names = async (cacheMode) => (await client.listTools(undefined, { ...reqOpts, cacheMode })).tools.map((t) => t.name);
  const call = () =>
    client.callTool({ name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} }, reqOpts);

  try {
    if (opts.scenario === "basic") {
      const caps = client.getServerCapabilities() || {};
      out.serverInfo = client.getServerVersion() ?? null;
      out.capabilities = caps;
      out.tools = caps.tools ? await names("bypass") : [];
      out.prompts = caps.prompts ? (await client.listPrompts(undefined, reqOpts)).prompts.map((p) => p.name) : [];
      if (caps.resources) {
        out.resources = (await client.listResources(undefined, reqOpts)).resources.map((r) => r.uri);
        out.templates = (await client.listResourceTemplates(undefined, reqOpts)).resourceTemplates.map(
          (t) => t.uriTemplate,
        );
      } else {
        out.resources = [];
        out.templates = [];
      }
      if (opts.tool) out.call = await call();
      if (opts.uri) out.read = await client.readResource({ uri: opts.uri }, reqOpts);
      if (opts.prompt) {
        out.prompt = await client.getPrompt({ name: opts.prompt, arguments: json("--prompt-args", opts.promptArgs) }, reqOpts);
      }
    } else if (opts.scenario === "progress") {
      const seen = [];
      const start = performance.now();
      const result = await client.callTool(
        { name: opts.tool, arguments: json("--args", opts.toolArgs) ?? {} },
        {
          ...reqOpts,
          resetTimeoutOnProgress: true,
          onprogress: (p) => seen.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }),
        },
      );
      out.elapsedMs = Math.round(performance.now() - start);
      out.progress = seen;
      out.result = result;
    } else {
      const sub = client.autoOpenedSubscription;
      out.via = sub ? "subscriptions/listen" : "notification";
      if (sub) out.honored = sub.honoredFilter;
      out.before = await names("bypass");
      const start = performance.now();
      out.call = await call();
      let timer;
      await Promise.race([listChanged, new Promise((r) => (timer = setTimeout(r, opts.wait * 1000)))]);
      clearTimeout(timer);
      out.listChanged = listChangedSeen;
      out.waitedMs = Math.round(performance.now() - start);
      out.after = await names("bypass");
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
