// The HBONE server over real sockets: what it refuses, whom it lets in, and how its owner controls live tunnels.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { X509Bundle } from '@mesh/spiffe';
import { createHboneServer, createHbonePool, type ConnectionErrorMessage } from '../src/index.js';
import { createTestPki, startEchoServer, startLoopbackHbone } from '../src/testing.js';
import { collect, once, rawRequest, rawSession, sleep, within } from './helpers.js';

function capture(name: string) {
  const messages: unknown[] = [];
  const fn = (m: unknown) => messages.push(m);
  subscribe(name, fn);
  return { messages, [Symbol.dispose]: () => unsubscribe(name, fn) };
}

const portOf = (via: string) => Number(via.split(':')[1]);

describe('HBONE server: requests', () => {
  it('answers 400 to GET, to a bad authority and to a hostname authority', async () => {
    await using hb = await startLoopbackHbone();
    const session = await rawSession(portOf(hb.via), hb.pki, hb.pki.issue('/ns/default/sa/raw'));
    try {
      expect(await rawRequest(session, { ':method': 'GET', ':path': '/', ':authority': '10.0.0.1:80' })).toBe(400);
      expect(await rawRequest(session, { ':method': 'CONNECT', ':authority': 'not-an-address' })).toBe(400);
      expect(await rawRequest(session, { ':method': 'CONNECT', ':authority': 'svc.ns.svc.cluster.local:80' })).toBe(
        400,
      );
      expect(await rawRequest(session, { ':method': 'CONNECT', ':authority': '10.0.0.1:0' })).toBe(400);
    } finally {
      session.destroy();
    }
  });

  it('passes refusals through: 401 from policy, 503 when the upstream is down or the handler fails', async () => {
    await using hb = await startLoopbackHbone({
      handler: (req) => {
        if (req.authority.port === 1) return { action: 'refuse', status: 401, reason: 'denied by policy' };
        if (req.authority.port === 2) throw new Error('handler bug');
        if (req.authority.port === 3) return { action: 'refuse', status: 200 };
        return { action: 'forward' };
      },
    });
    using closes = capture('mesh:hbone:tunnel:close');
    const dial = (target: string) => hb.pool.dial({ target, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    await expect(dial('127.0.0.1:1')).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 401 } });
    await expect(dial('127.0.0.1:2')).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 503 } });
    await expect(dial('127.0.0.1:3')).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 503 } });
    // Nothing listens on port 9 (discard) here: the upstream connect fails.
    await expect(dial('127.0.0.1:9')).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 503 } });
    await sleep(20);
    const inbound = (
      closes.messages as Array<{
        tunnel: { direction: string; error?: { code: string; details?: unknown }; status?: number };
      }>
    )
      .map((m) => m.tunnel)
      .filter((t) => t.direction === 'inbound');
    expect(inbound.map((t) => t.status)).toEqual([401, 503, 503, 503]);
    expect(inbound[0]!.error).toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { reason: 'denied by policy' } });
    expect(inbound[3]!.error).toMatchObject({ code: 'ERR_HBONE_CONNECT_FAILED' });
  });

  it('gives the handler the peer identity, the local address and the decoded headers', async () => {
    const seen: unknown[] = [];
    await using hb = await startLoopbackHbone({
      handler: (req) => {
        seen.push({
          peer: req.peerIdentity,
          local: req.connection.localAddress,
          request: req.request,
          authority: req.authority,
        });
        return { action: 'refuse', status: 503 };
      },
    });
    await expect(
      hb.pool.dial({
        target: '[fd00::1]:8080',
        via: hb.via,
        expectedIdentities: [hb.serverIdentity],
        baggage: { clusterName: 'c1', namespace: 'ns1', workloadName: 'w1' },
        forwarded: { for: '10.1.1.1:1', host: 'w.ns1.svc.cluster.local' },
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
      }),
    ).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED' });
    expect(seen[0]).toMatchObject({
      peer: hb.clientIdentity,
      local: '127.0.0.1',
      authority: { host: 'fd00::1', port: 8080, kind: 'ipv6' },
      request: {
        forwardedHost: 'w.ns1.svc.cluster.local',
        baggage: { clusterName: 'c1', namespace: 'ns1', workloadName: 'w1', workloadType: 'deployment' },
        traceparent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      },
    });
  });
});

describe('HBONE server: who gets in', () => {
  it('rejects a client certificate from another trust domain, even one signed by a trusted CA', async () => {
    await using hb = await startLoopbackHbone();
    // Same CA, other trust domain (federated bundle present): valid SVID, wrong trust domain → identity mismatch.
    hb.pki.bundles.set(X509Bundle.fromPem('other.example', hb.pki.rootPem));
    using errors = capture('mesh:hbone:connection:error');
    const foreign = hb.pki.issue('spiffe://other.example/ns/a/sa/b');
    const session = await rawSession(portOf(hb.via), hb.pki, foreign);
    expect(await rawRequest(session, { ':method': 'CONNECT', ':authority': '10.0.0.1:80' })).toBeInstanceOf(Error);
    session.destroy();
    await sleep(20);
    expect(errors.messages).toContainEqual(
      expect.objectContaining({
        phase: 'identity',
        error: expect.objectContaining({ code: 'ERR_HBONE_IDENTITY_MISMATCH' }),
      }),
    );
  });

  it('rejects certificates from an unknown CA and connections without a certificate during the handshake', async () => {
    await using hb = await startLoopbackHbone();
    using errors = capture('mesh:hbone:connection:error');
    const other = createTestPki();
    for (const svid of [other.issue('/ns/default/sa/intruder'), undefined]) {
      const session = await rawSession(portOf(hb.via), hb.pki, svid);
      expect(await rawRequest(session, { ':method': 'CONNECT', ':authority': '10.0.0.1:80' })).toBeInstanceOf(Error);
      session.destroy();
    }
    await sleep(50);
    const failures = (errors.messages as ConnectionErrorMessage[]).filter((m) => m.connection.side === 'server');
    expect(failures).toHaveLength(2);
    for (const f of failures) expect(f.error).toMatchObject({ code: 'ERR_HBONE_HANDSHAKE_FAILED' });
    // The server still serves good clients.
    await using echo = await startEchoServer();
    const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    t.end('ok');
    expect((await collect(t)).toString()).toBe('ok');
  });

  it('chooses the certificate per accepted connection (by local address)', async () => {
    const pki = createTestPki();
    const a = pki.issue('/ns/a/sa/a');
    const b = pki.issue('/ns/b/sa/b');
    const asked: string[] = [];
    const server = createHboneServer({
      certificate: (conn) => {
        asked.push(conn.localAddress);
        return conn.localAddress === '127.0.0.2' ? b : a;
      },
      bundles: pki.bundles,
      handler: () => ({ action: 'refuse', status: 503 }),
    });
    const { port } = await server.listen({ host: '0.0.0.0', port: 0 });
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/c/sa/c'), bundles: pki.bundles });
    try {
      await expect(
        pool.dial({ target: '10.0.0.1:80', via: `127.0.0.1:${port}`, expectedIdentities: [a.id] }),
      ).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED' });
      await expect(
        pool.dial({ target: '10.0.0.1:80', via: `127.0.0.2:${port}`, expectedIdentities: [b.id] }),
      ).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED' });
      await expect(
        pool.dial({ target: '10.0.0.1:81', via: `127.0.0.2:${port}`, expectedIdentities: [a.id] }),
      ).rejects.toMatchObject({ code: 'ERR_HBONE_IDENTITY_MISMATCH' });
      expect(asked).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.2']);
    } finally {
      await pool.destroy();
      await server.destroy();
    }
  });

  it('times out a connection whose certificate never comes or whose client never speaks', async () => {
    const pki = createTestPki();
    using errors = capture('mesh:hbone:connection:error');
    for (const certificate of [() => new Promise<never>(() => {}), () => pki.issue('/ns/a/sa/a')]) {
      const server = createHboneServer({
        certificate,
        bundles: pki.bundles,
        handler: () => ({ action: 'forward' }),
        handshakeTimeoutMs: 200,
      });
      const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
      const silent = connect({ host: '127.0.0.1', port });
      silent.on('error', () => {});
      await once(silent, 'close', 3_000);
      await server.destroy();
    }
    await sleep(20);
    const failures = (errors.messages as ConnectionErrorMessage[]).filter((m) => m.connection.side === 'server');
    expect(failures.map((f) => f.phase)).toEqual(['certificate', 'tls']);
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_HBONE_TIMEOUT' });
  });

  it('reports a failing certificate provider as a connection error', async () => {
    const pki = createTestPki();
    using errors = capture('mesh:hbone:connection:error');
    const server = createHboneServer({
      certificate: () => {
        throw new Error('no certificate yet');
      },
      bundles: pki.bundles,
      handler: () => ({ action: 'forward' }),
    });
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/c/sa/c'), bundles: pki.bundles });
    try {
      await expect(
        pool.dial({
          target: '10.0.0.1:80',
          via: `127.0.0.1:${port}`,
          expectedIdentities: ['spiffe://cluster.local/ns/x/sa/y'],
        }),
      ).rejects.toMatchObject({
        code: 'ERR_HBONE_HANDSHAKE_FAILED',
      });
      await sleep(20);
      const phases = (errors.messages as ConnectionErrorMessage[])
        .filter((m) => m.connection.side === 'server')
        .map((m) => [m.phase, (m.error as Error & { code?: string }).code]);
      expect(phases).toContainEqual(['certificate', 'ERR_HBONE_CERTIFICATE']);
    } finally {
      await pool.destroy();
      await server.destroy();
    }
  });
});

describe('HBONE server: control', () => {
  it('lists live tunnels and resets the ones a new policy denies', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const keep = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const deny = await hb.pool.dial({
      target: echo.address,
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
      headers: { 'x-policy': 'deny' },
    });
    const denyError = new Promise<Error>((resolve) => deny.once('error', resolve));
    const live = [...hb.server.tunnels()];
    expect(live.map((t) => [t.info.state, t.info.connection?.peerIdentity])).toEqual([
      ['open', hb.clientIdentity],
      ['open', hb.clientIdentity],
    ]);
    for (const t of live) if (t.info.requestHeaders['x-policy'] === 'deny') t.reset();
    expect(await within(denyError)).toMatchObject({ code: 'ERR_HBONE_RESET', details: { by: 'peer' } });
    keep.end('still here');
    expect((await collect(keep)).toString()).toBe('still here');
  });

  it('closes a tunnel gracefully: both directions end', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const reply = collect(t);
    t.write('abc');
    await sleep(30);
    const [server] = [...hb.server.tunnels()];
    server!.close();
    expect((await reply).toString()).toBe('abc');
    t.end();
    await within(server!.closed);
    expect(server!.info.outcome).toBe('complete');
  });

  it('drains on close(): GOAWAY, open tunnels finish, then the server is closed', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const closing = hb.server.close({ timeoutMs: 5_000 });
    expect(hb.server.state).toBe('draining');
    await sleep(50);
    expect([...hb.pool.connections()][0]?.state).toBe('draining');
    await expect(
      hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] }),
    ).rejects.toMatchObject({
      code: 'ERR_HBONE_CONNECT_FAILED',
    });
    const reply = collect(t);
    t.end('finishing during drain');
    expect((await reply).toString()).toBe('finishing during drain');
    await within(closing);
    expect(hb.server.state).toBe('closed');
    await expect(hb.server.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_HBONE_SERVER_CLOSED' });
  });

  it('resets what is still open at the drain deadline', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const error = new Promise<Error>((resolve) => t.once('error', resolve));
    await within(hb.server.close({ timeoutMs: 200 }));
    // The RST_STREAM may or may not leave before the connection is torn down; either way the tunnel fails loudly.
    expect((await within(error)) as Error & { code?: string }).toHaveProperty(
      'code',
      expect.stringMatching(/^ERR_HBONE_(RESET|CONNECTION_LOST)$/),
    );
    await within(t.info.closed);
    expect(t.info.outcome).not.toBe('complete');
    expect(hb.server.state).toBe('closed');
  });

  it('validates options', () => {
    const pki = createTestPki();
    const base = {
      certificate: () => pki.issue('/ns/a/sa/a'),
      bundles: pki.bundles,
      handler: () => ({ action: 'forward' as const }),
    };
    expect(() => createHboneServer({ ...base, certificate: undefined as never })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() => createHboneServer({ ...base, handler: 1 as never })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() => createHboneServer({ ...base, bundles: {} as never })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() => createHboneServer({ ...base, http2: { maxFrameSize: 1 } })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() => createHboneServer({ ...base, maxConnections: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
  });
});
