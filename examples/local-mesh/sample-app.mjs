#!/usr/bin/env node
// A sample app for the local mesh: an HTTP server on its pod IP that answers with its own name. With --call it is a
// frontend: each request calls that URL through the pod's SOCKS5 port (ztunnel's explicit capture) and shows the
// answer, so the whole path client → ztunnel → ztunnel → frontend → ztunnel → ztunnel → backend is visible.
//
//   node sample-app.mjs --name backend-v1 --listen 127.0.1.10:8080
//   node sample-app.mjs --name frontend-1 --listen 127.0.1.20:8080 --call http://127.0.2.10/ --socks 127.0.1.20:15080
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { socksGet } from './socks.mjs';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    listen: { type: 'string' },
    call: { type: 'string' },
    socks: { type: 'string' },
  },
});
const [host, port] = values.listen.split(':');

const server = createServer(async (req, res) => {
  if (!values.call) {
    res.end(`${values.name}\n`);
    return;
  }
  try {
    const answer = await socksGet(values.socks, values.call);
    res.writeHead(answer.status === 200 ? 200 : 502, { 'content-type': 'text/plain' });
    res.end(
      `${values.name} -> ${answer.status === 200 ? answer.body.trim() : `backend failed: ${answer.body.trim()}`}\n`,
    );
  } catch (error) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`${values.name} -> backend failed: ${error.message}\n`);
  }
});
server.keepAliveTimeout = 1_000;
server.listen(Number(port), host, () => console.log(`${values.name} listening on ${values.listen}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
