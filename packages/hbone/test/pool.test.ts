// The client side over real sockets: pooling rules, failure classification, keepalive, double HBONE.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHboneServer, createHbonePool, dial, type ConnectionMessage, type HboneServer } from '../src/index.js';
import { createTestPki, startEchoServer, startLoopbackHbone } from '../src/testing.js';
import { collect, sleep, within } from './helpers.js';

function capture(name: string) {
  const messages: unknown[] = [];
  const fn = (m: unknown) => messages.push(m);
  subscribe(name, fn);
  return { messages, [Symbol.dispose]: () => unsubscribe(name, fn) };
}

const openedBy = (messages: unknown[], side: 'client' | 'server') =>
  (messages as ConnectionMessage[]).filter((m) => m.connection.side === side).length;

describe('HBONE pool', () => {
  it('shares one connection until maxStreamsPerConnection, then opens another', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone({ pool: { maxStreamsPerConnection: 2 } });
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const tunnels = [await hb.pool.dial(opts), await hb.pool.dial(opts), await hb.pool.dial(opts)];
    const connections = [...hb.pool.connections()];
    expect(connections.map((c) => c.activeTunnels).sort()).toEqual([1, 2]);
    // A finished tunnel frees its slot: the next one reuses a connection.
    tunnels[0]!.end();
    await collect(tunnels[0]!);
    await within(tunnels[0]!.info.closed);
    const fourth = await hb.pool.dial(opts);
    expect([...hb.pool.connections()]).toHaveLength(2);
    for (const t of [...tunnels.slice(1), fourth]) t.destroy();
  });

  it('opens one connection for many concurrent dials to a new destination', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    using opened = capture('mesh:hbone:connection:open');
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const tunnels = await Promise.all(Array.from({ length: 20 }, () => hb.pool.dial(opts)));
    expect(openedBy(opened.messages, 'client')).toBe(1);
    expect([...hb.pool.connections()][0]?.activeTunnels).toBe(20);
    for (const t of tunnels) t.destroy();
  });

  it('adds no listener per pending dial to a long-lived signal (no MaxListenersExceededWarning)', async () => {
    await using echo = await startEchoServer({ host: '127.40.0.2' });
    await using hb = await startLoopbackHbone();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
      // Pending together: all wait on the same connection being opened, then all send their CONNECT.
      const tunnels = await Promise.all(Array.from({ length: 40 }, () => hb.pool.dial(opts)));
      for (const t of tunnels) t.destroy();
      // Node emits the warning on the next turn.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('aborts pending dials and connections being opened when the pool closes', async () => {
    // A TCP server that accepts and never answers the TLS handshake: dials stay pending.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(29001, '127.40.0.3', r));
    try {
      await using hb = await startLoopbackHbone();
      const opts = { target: '127.40.0.3:80', via: '127.40.0.3:29001', expectedIdentities: [hb.serverIdentity] };
      const dials = Array.from({ length: 12 }, () => hb.pool.dial(opts));
      for (const d of dials) d.catch(() => {});
      await within(
        new Promise<void>((resolve) => {
          const check = () => (sockets.size > 0 ? resolve() : setTimeout(check, 10));
          check();
        }),
      );
      await hb.pool.close({ timeoutMs: 0 });
      for (const d of dials) await expect(within(d)).rejects.toMatchObject({ code: 'ERR_HBONE_POOL_CLOSED' });
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('keys connections by source identity, expected identities, next hop and source address', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    using opened = capture('mesh:hbone:connection:open');
    const base = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const tunnels = [
      await hb.pool.dial(base),
      await hb.pool.dial({ ...base, source: { identity: 'spiffe://cluster.local/ns/default/sa/client' } }),
      await hb.pool.dial({
        ...base,
        expectedIdentities: [hb.serverIdentity, 'spiffe://cluster.local/ns/default/sa/alt'],
      }),
      await hb.pool.dial({ ...base, source: { address: '127.0.0.2' } }),
      await hb.pool.dial(base),
    ];
    expect(openedBy(opened.messages, 'client')).toBe(4);
    const server = [...hb.server.connections()].map((c) => c.remoteAddress).sort();
    expect(server).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.2']);
    for (const t of tunnels) t.destroy();
  });

  it("respects the server's SETTINGS_MAX_CONCURRENT_STREAMS", async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone({ server: { http2: { maxConcurrentStreams: 2 } } });
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const first = await hb.pool.dial(opts);
    await sleep(20); // the server's SETTINGS have arrived
    const more = [await hb.pool.dial(opts), await hb.pool.dial(opts)];
    expect([...hb.pool.connections()].map((c) => c.activeTunnels).sort()).toEqual([1, 2]);
    for (const t of [first, ...more]) t.destroy();
  });

  it('releases idle connections', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone({ pool: { idleTimeoutMs: 100 } });
    using closed = capture('mesh:hbone:connection:close');
    const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    t.end();
    await collect(t);
    await within(t.info.closed);
    await sleep(400);
    expect(openedBy(closed.messages, 'client')).toBe(1);
    expect([...hb.pool.connections()]).toHaveLength(0);
  });

  it('skips connections that received GOAWAY', async () => {
    // One listener, two HBONE servers behind it: the first drains (GOAWAY), new connections go to the second.
    await using echo = await startEchoServer();
    const pki = createTestPki();
    const serverSvid = pki.issue('/ns/default/sa/server');
    const make = () =>
      createHboneServer({
        certificate: () => serverSvid,
        bundles: pki.bundles,
        handler: () => ({ action: 'forward' }),
      });
    let current: HboneServer = make();
    const first = current;
    const listener = createServer({ pauseOnConnect: true }, (s: Socket) => current.handleConnection(s));
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const via = `127.0.0.1:${(listener.address() as { port: number }).port}`;
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
    try {
      const opts = { target: echo.address, via, expectedIdentities: [serverSvid.id] };
      const old = await pool.dial(opts);
      current = make();
      const draining = first.close({ timeoutMs: 5_000 });
      await sleep(50);
      const fresh = await pool.dial(opts);
      expect(fresh.info.connection).not.toBe(old.info.connection);
      expect(old.info.connection?.state).toBe('draining');
      old.end('old');
      fresh.end('new');
      expect((await collect(old)).toString()).toBe('old');
      expect((await collect(fresh)).toString()).toBe('new');
      await within(draining);
    } finally {
      await pool.destroy();
      await current.destroy();
      listener.close();
    }
  });

  it('drops a connection whose peer stops answering PINGs', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone({ pool: { keepalive: { intervalMs: 100, timeoutMs: 200 } } });
    // A TCP relay in front of the server that can freeze: bytes stop moving both ways, like a dead peer.
    const frozen: Socket[] = [];
    const relay = createServer((client: Socket) => {
      const [host, port] = hb.via.split(':');
      const upstream = connect({ host: host!, port: Number(port) });
      for (const s of [client, upstream]) s.on('error', () => {});
      client.pipe(upstream);
      upstream.pipe(client);
      frozen.push(client, upstream);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const via = `127.0.0.1:${(relay.address() as { port: number }).port}`;
      const t = await hb.pool.dial({ target: echo.address, via, expectedIdentities: [hb.serverIdentity] });
      const error = new Promise<Error>((resolve) => t.once('error', resolve));
      for (const s of frozen) {
        s.unpipe();
        s.pause();
      }
      expect(await within(error, 3_000)).toMatchObject({ code: 'ERR_HBONE_CONNECTION_LOST' });
      await within(t.info.closed);
      expect(t.info).toMatchObject({ outcome: 'error', error: { code: 'ERR_HBONE_CONNECTION_LOST' } });
      expect(t.info.connection?.error?.message).toMatch(/PING/);
    } finally {
      for (const s of frozen) s.destroy();
      relay.close();
    }
  });

  it('classifies failures: connect refused, untrusted server, wrong identity, our certificate rejected', async () => {
    await using hb = await startLoopbackHbone();
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const target = '10.0.0.1:80';
    await expect(
      hb.pool.dial({ target, via: `127.0.0.1:${deadPort}`, expectedIdentities: [hb.serverIdentity] }),
    ).rejects.toMatchObject({
      code: 'ERR_HBONE_CONNECT_FAILED',
      details: { code: 'ECONNREFUSED' },
    });
    await expect(
      hb.pool.dial({ target, via: hb.via, expectedIdentities: ['spiffe://cluster.local/ns/other/sa/x'] }),
    ).rejects.toMatchObject({
      code: 'ERR_HBONE_IDENTITY_MISMATCH',
    });
    const stranger = createTestPki();
    const strangerPool = createHbonePool({
      certificate: () => stranger.issue('/ns/default/sa/client'),
      bundles: stranger.bundles,
    });
    await expect(
      strangerPool.dial({ target, via: hb.via, expectedIdentities: [hb.serverIdentity] }),
    ).rejects.toMatchObject({
      code: 'ERR_HBONE_UNTRUSTED_PEER',
    });
    // Trusts the server, but the server does not trust our certificate.
    const mixed = createTestPki();
    const rejectedPool = createHbonePool({
      certificate: () => mixed.issue('/ns/default/sa/client'),
      bundles: hb.pki.bundles,
    });
    await expect(
      rejectedPool.dial({ target, via: hb.via, expectedIdentities: [hb.serverIdentity] }),
    ).rejects.toMatchObject({
      code: 'ERR_HBONE_HANDSHAKE_FAILED',
      details: { phase: 'http2' },
    });
    const broken = createHbonePool({ certificate: () => 'not an svid' as never, bundles: hb.pki.bundles });
    await expect(broken.dial({ target, via: hb.via, expectedIdentities: [hb.serverIdentity] })).rejects.toMatchObject({
      code: 'ERR_HBONE_CERTIFICATE',
    });
    await Promise.all([strangerPool.destroy(), rejectedPool.destroy(), broken.destroy()]);
  });

  it('honours abort signals and dial deadlines', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await using hb = await startLoopbackHbone({
      handler: async () => {
        await held;
        return { action: 'refuse', status: 503 };
      },
    });
    const opts = { target: '10.0.0.1:80', via: hb.via, expectedIdentities: [hb.serverIdentity] };
    await expect(hb.pool.dial({ ...opts, signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ERR_CORE_ABORTED',
    });
    const controller = new AbortController();
    const pending = hb.pool.dial({ ...opts, signal: controller.signal });
    await sleep(50);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CORE_ABORTED' });
    await expect(hb.pool.dial({ ...opts, timeoutMs: 100 })).rejects.toMatchObject({
      code: 'ERR_HBONE_TIMEOUT',
      details: { phase: 'dial' },
    });
    release();
    await sleep(50);
    expect([...hb.pool.connections()][0]?.activeTunnels ?? 0).toBe(0);
  });

  it('validates dial options and refuses dials once closed', async () => {
    await using hb = await startLoopbackHbone();
    const base = { target: '10.0.0.1:80', via: hb.via, expectedIdentities: [hb.serverIdentity] };
    await expect(hb.pool.dial({ ...base, target: 'x' })).rejects.toMatchObject({ code: 'ERR_HBONE_BAD_AUTHORITY' });
    await expect(hb.pool.dial({ ...base, expectedIdentities: [] })).rejects.toMatchObject({
      code: 'ERR_HBONE_BAD_OPTIONS',
    });
    await expect(hb.pool.dial({ ...base, expectedIdentities: ['nope'] })).rejects.toMatchObject({
      code: 'ERR_HBONE_BAD_OPTIONS',
    });
    await expect(hb.pool.dial({ ...base, headers: { Upper: 'x' } })).rejects.toMatchObject({
      code: 'ERR_HBONE_BAD_HEADER',
    });
    expect(() =>
      createHbonePool({ certificate: () => undefined as never, bundles: hb.pki.bundles, idleTimeoutMs: -1 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }));
    await hb.pool.close();
    expect(hb.pool.state).toBe('closed');
    await expect(hb.pool.dial(base)).rejects.toMatchObject({ code: 'ERR_HBONE_POOL_CLOSED' });
  });

  it('drains on close(): open tunnels finish, leftovers are reset at the deadline', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const opts = { target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] };
    const finishing = await hb.pool.dial(opts);
    const lingering = await hb.pool.dial(opts);
    const lingeringError = new Promise<Error>((resolve) => lingering.once('error', resolve));
    const closing = hb.pool.close({ timeoutMs: 300 });
    finishing.end('bye');
    expect((await collect(finishing)).toString()).toBe('bye');
    await within(closing);
    expect(await within(lingeringError)).toMatchObject({ code: 'ERR_HBONE_CONNECTION_LOST' });
  });
});

describe('one-shot dial and double HBONE', () => {
  it('dial() opens a dedicated connection that closes with its tunnel', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    using closed = capture('mesh:hbone:connection:close');
    const t = await dial({
      target: echo.address,
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
      certificate: () => hb.pki.issue('/ns/default/sa/once'),
      bundles: hb.pki.bundles,
    });
    t.end('once');
    expect((await collect(t)).toString()).toBe('once');
    await sleep(100);
    expect(openedBy(closed.messages, 'client')).toBe(1);
  });

  it('carries a tunnel inside a tunnel through a gateway, TLS end to end', async () => {
    await using echo = await startEchoServer();
    const pki = createTestPki();
    const seen: Array<{ at: string; peer: string; network?: string; authority: string }> = [];
    // The destination: accepts `<service hostname>:<port>` and maps the service to the echo server.
    const destinationSvid = pki.issue('/ns/default/sa/echo');
    const destination = createHboneServer({
      certificate: () => destinationSvid,
      bundles: pki.bundles,
      allowHostnameAuthority: true,
      handler: (req) => {
        seen.push({
          at: 'destination',
          peer: req.peerIdentity,
          network: req.request.forwardedNetwork,
          authority: formatted(req.authority),
        });
        return { action: 'forward', target: echo.address };
      },
    });
    const { port: destinationPort } = await destination.listen({ host: '127.0.0.1', port: 0 });
    // The east-west gateway: forwards the outer tunnel's bytes, opaquely, to the destination's HBONE port.
    const gatewaySvid = pki.issue('/ns/istio-system/sa/eastwest');
    const gateway = createHboneServer({
      certificate: () => gatewaySvid,
      bundles: pki.bundles,
      allowHostnameAuthority: true,
      handler: (req) => {
        seen.push({ at: 'gateway', peer: req.peerIdentity, authority: formatted(req.authority) });
        return { action: 'forward', target: `127.0.0.1:${destinationPort}` };
      },
    });
    const { port: gatewayPort } = await gateway.listen({ host: '127.0.0.1', port: 0 });
    const clientSvid = pki.issue('/ns/default/sa/client');
    const pool = createHbonePool({ certificate: () => clientSvid, bundles: pki.bundles });
    try {
      const service = 'echo.default.svc.cluster.local:80';
      const outer = await pool.dial({
        target: service,
        via: `127.0.0.1:${gatewayPort}`,
        expectedIdentities: [gatewaySvid.id],
      });
      const inner = await dial({
        transport: outer,
        target: service,
        expectedIdentities: [destinationSvid.id],
        forwardedNetwork: 'network-west',
        certificate: () => clientSvid,
        bundles: pki.bundles,
      });
      inner.end('across networks');
      expect((await collect(inner)).toString()).toBe('across networks');
      expect(inner.info.connection?.peerIdentity).toBe(destinationSvid.id.toString());
      expect(seen).toEqual([
        { at: 'gateway', peer: clientSvid.id.toString(), authority: service },
        { at: 'destination', peer: clientSvid.id.toString(), network: 'network-west', authority: service },
      ]);
    } finally {
      await pool.destroy();
      await gateway.destroy();
      await destination.destroy();
    }
  });

  it('works over IPv6 loopback', async (ctx) => {
    const probe = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => resolve(true));
    });
    probe.close();
    if (!ok) return ctx.skip();
    await using echo = await startEchoServer({ host: '::1' });
    const pki = createTestPki();
    const svid = pki.issue('/ns/default/sa/server');
    const server = createHboneServer({
      certificate: () => svid,
      bundles: pki.bundles,
      handler: () => ({ action: 'forward' }),
    });
    const { port } = await server.listen({ host: '::1', port: 0 });
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
    try {
      const t = await pool.dial({ target: echo.address, via: `[::1]:${port}`, expectedIdentities: [svid.id] });
      expect(t.info.authority).toBe(echo.address);
      t.end('v6');
      expect((await collect(t)).toString()).toBe('v6');
    } finally {
      await pool.destroy();
      await server.destroy();
    }
  });
});

function formatted(a: { host: string; port: number }) {
  return `${a.host}:${a.port}`;
}
