// loopback.cjs — a preload for node MCP servers that have no host option (server-everything's HTTP
// modes, for instance): `NODE_OPTIONS="--require tests/support/loopback.cjs"` makes every
// server.listen() without an explicit host bind 127.0.0.1 (or $LOOPBACK_BIND_HOST) instead of all
// interfaces. Explicit hosts, unix sockets and handles are left alone. (A copy of the workplace's
// shared/tools/loopback.cjs, so the HTTP tests need nothing outside the repository.)
'use strict';
const net = require('net');
const HOST = process.env.LOOPBACK_BIND_HOST || '127.0.0.1';
const orig = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(...args) {
  const a0 = args[0];
  if (a0 === undefined || a0 === null || typeof a0 === 'function') {
    if (a0 === undefined || a0 === null) args.shift();
    args.unshift(0, HOST);
  } else if (typeof a0 === 'number' || (typeof a0 === 'string' && /^\d+$/.test(a0))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, HOST);
  } else if (typeof a0 === 'object' && a0.path === undefined && a0.fd === undefined && a0.handle === undefined && !a0._handle) {
    if (!a0.host) args[0] = { ...a0, host: HOST };
  }
  return orig.apply(this, args);
};
