import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createHboneServer, createHbonePool } from '@mesh/hbone';
import { createTestPki } from '@mesh/hbone/testing';
import { socketLike, TunnelHttpPool } from './upstream.js';

// A pod: HTTP/1.1 on every tunnel. The second request on a tunnel is dropped without an answer (a server closing a
// kept-alive connection just as the client reuses it).
const pki = createTestPki();
const svid = pki.issue('/ns/a/sa/pod');
let tunnels = 0;
const server = createHboneServer({
  certificate: () => svid,
  bundles: pki.bundles,
  handler: () => ({
    action: 'accept',
    onTunnel: (tunnel) => {
      tunnels++;
      let served = 0;
      const http = createServer((req, res) => {
        req.resume();
        if (req.url === '/drop-second' && ++served === 2) return void req.socket.destroy();
        res.end(`ok ${req.method} ${req.url}`);
      });
      http.emit('connection', socketLike(tunnel));
    },
  }),
});
const { port } = await server.listen({ host: '127.20.9.1', port: 0 });
const pool = createHbonePool({ certificate: () => svid, bundles: pki.bundles });
const dial = () => pool.dial({ target: '127.20.9.1:8080', via: `127.20.9.1:${port}`, expectedIdentities: [svid.id] });

afterAll(async () => {
  await pool.destroy();
  await server.destroy();
});

async function text(res: IncomingMessage) {
  let body = '';
  for await (const chunk of res) body += chunk;
  return body;
}

const get = (http: TunnelHttpPool, path: string, method = 'GET') =>
  http.request('pod', dial, { method, path, headers: { host: 'pod' }, body: null });

describe('HTTP/1.1 over kept-alive tunnels', () => {
  it('reuses one tunnel for sequential requests, and many for concurrent ones', async () => {
    const http = new TunnelHttpPool();
    tunnels = 0;
    for (let i = 0; i < 5; i++) expect(await text(await get(http, `/seq/${i}`))).toBe(`ok GET /seq/${i}`);
    expect(tunnels).toBe(1);
    await Promise.all(Array.from({ length: 4 }, async (_, i) => text(await get(http, `/par/${i}`))));
    expect(tunnels).toBeLessThanOrEqual(4);
    expect(http.open('pod')).toBe(tunnels);
    http.close();
  });

  it('sends an idempotent request again on a new tunnel when a reused one fails before answering', async () => {
    const http = new TunnelHttpPool();
    tunnels = 0;
    expect(await text(await get(http, '/drop-second'))).toBe('ok GET /drop-second');
    expect(await text(await get(http, '/drop-second'))).toBe('ok GET /drop-second');
    expect(tunnels).toBe(2);
    // Not for POST (it may have been processed): the reused tunnel drops it and the error comes back.
    await expect(get(http, '/drop-second', 'POST')).rejects.toThrow(/socket hang up/);
    expect(tunnels).toBe(2);
    http.close();
  });

  it('closes tunnels idle longer than its idle timeout', async () => {
    const http = new TunnelHttpPool({ idleTimeoutMs: 100 });
    await text(await get(http, '/idle'));
    expect(http.open('pod')).toBe(1);
    await new Promise((r) => setTimeout(r, 1_500)); // the sweep runs once a second
    expect(http.open('pod')).toBe(0);
    http.close();
  });
});
