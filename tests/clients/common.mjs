// What the TypeScript test clients share (ts_client.mjs, ts2_client.mjs, ts_callbacks.mjs): where
// the pinned SDKs are, how a failure is reported, and the command-line pieces they have in common.

import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = process.env.MCP_HUB_TEST_DEPS || path.resolve(here, "..", "..", ".test-deps");

// npm package `pkg` under .test-deps: `load(rel)` imports a file relative to its `dist` folder,
// `version()` reads its package.json.
export function sdkPackage(pkg, dist) {
  const dir = path.join(deps, "node_modules", ...pkg.split("/"));
  return {
    load: (rel) => import(pathToFileURL(path.join(dir, dist, rel)).href),
    version: async () =>
      (await import(pathToFileURL(path.join(dir, "package.json")).href, { with: { type: "json" } })).default.version,
  };
}

// A `fail(msg)` that prints `<name>: msg` on stderr and exits 1.
export function failer(name) {
  return (msg) => {
    process.stderr.write(`${name}: ${msg}\n`);
    process.exit(1);
  };
}

// The client's own flags, and the server command after `--` (empty when there is none).
export function splitServer(argv, fail) {
  const sep = argv.indexOf("--");
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const server = sep < 0 ? [] : argv.slice(sep + 1);
  if (sep >= 0 && server.length === 0) fail("empty server command after `--`");
  return { own, server };
}

// `--header "Name: value"` into `headers`.
export function parseHeader(h, headers, fail) {
  const colon = h.indexOf(":");
  if (colon <= 0) fail(`--header wants \`Name: value\`, got ${JSON.stringify(h)}`);
  headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
}

// Exactly one of `--url` and a server command, and a known HTTP transport.
export function checkTarget(url, server, transport, fail) {
  if (!!url === server.length > 0) fail("give either `--url URL` or `-- SERVER_CMD [ARGS...]`");
  if (!["http", "sse"].includes(transport)) fail(`unknown transport \`${transport}\``);
}

// JSON from a flag's value (`undefined` stays `undefined`).
export function parseJson(fail, what, text) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(`${what}: invalid JSON (${e.message}): ${text}`);
  }
}
