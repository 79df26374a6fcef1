// Tunnels over real sockets: HBONE client → HBONE server → TCP upstream, all in this process on loopback.
import { createHash, randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_NAMES,
  decodeProxyV2,
  encodeProxyV2,
  relay,
  type HboneTunnelInfo,
  type TunnelMessage,
} from '../src/index.js';
import { startEchoServer, startLoopbackHbone } from '../src/testing.js';
import { collect, once, sleep, within } from './helpers.js';

async function tcpServer(onSocket: (s: Socket) => void) {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    async [Symbol.asyncDispose]() {
      server.close();
    },
  };
}

describe('tunnels', () => {
  it('carry bytes both ways and honour a half-close from the client', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    expect(tunnel.info).toMatchObject({ state: 'open', status: 200, direction: 'outbound', authority: echo.address });
    expect(tunnel.info.connection).toMatchObject({ peerIdentity: hb.serverIdentity, localIdentity: hb.clientIdentity });
    const reply = collect(tunnel);
    tunnel.write('hello ');
    tunnel.end('world'); // half-close: the echo server still answers, then ends
    expect((await reply).toString()).toBe('hello world');
    await within(tunnel.info.closed);
    expect(tunnel.info).toMatchObject({ outcome: 'complete', bytesSent: 11, bytesReceived: 11 });
  });

  it('honour a half-close from the upstream while the client keeps sending', async () => {
    const received: Buffer[] = [];
    let upstreamDone!: () => void;
    const done = new Promise<void>((r) => (upstreamDone = r));
    await using upstream = await tcpServer((s) => {
      s.end('greeting'); // FIN first, keep reading
      s.on('data', (d: Buffer) => received.push(d));
      s.on('end', () => upstreamDone());
    });
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({
      target: upstream.address,
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
    });
    expect((await collect(tunnel)).toString()).toBe('greeting');
    tunnel.end('after the upstream half-closed');
    await within(done);
    expect(Buffer.concat(received).toString()).toBe('after the upstream half-closed');
    await within(tunnel.info.closed);
    expect(tunnel.info.outcome).toBe('complete');
  });

  it('move 32 MiB intact both ways under backpressure', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const payload = randomBytes(32 * 1024 * 1024);
    const sent = createHash('sha256').update(payload).digest('hex');
    const reply = collect(tunnel, 60_000);
    for (let at = 0; at < payload.length; at += 256 * 1024) {
      if (!tunnel.write(payload.subarray(at, at + 256 * 1024))) await once(tunnel, 'drain', 20_000);
    }
    tunnel.end();
    const back = await reply;
    expect(back.length).toBe(payload.length);
    expect(createHash('sha256').update(back).digest('hex')).toBe(sent);
    await within(tunnel.info.closed);
    expect(tunnel.info.bytesSent).toBe(payload.length);
    expect(tunnel.info.bytesReceived).toBe(payload.length);
  }, 60_000);

  it('publish diagnostics events with identities, bytes and outcome on both sides', async () => {
    const events: Array<[string, HboneTunnelInfo | unknown]> = [];
    const listeners = Object.values(CHANNEL_NAMES).map((name) => {
      const fn = (message: unknown) => events.push([name, message]);
      subscribe(name, fn);
      return [name, fn] as const;
    });
    try {
      await using echo = await startEchoServer();
      await using hb = await startLoopbackHbone();
      const tunnel = await hb.pool.dial({
        target: echo.address,
        via: hb.via,
        expectedIdentities: [hb.serverIdentity],
        forwarded: { for: '10.0.0.9:1234', host: 'echo.default.svc.cluster.local' },
        baggage: { namespace: 'default', workloadName: 'client' },
      });
      tunnel.end('ping');
      await collect(tunnel);
      await within(tunnel.info.closed);
      await sleep(20);
      const names = events.map(([n]) => n);
      expect(names.filter((n) => n === 'mesh:hbone:connection:open')).toHaveLength(2);
      const closes = events
        .filter(([n]) => n === 'mesh:hbone:tunnel:close')
        .map(([, m]) => (m as TunnelMessage).tunnel);
      const inbound = closes.find((t) => t.direction === 'inbound')!;
      const outbound = closes.find((t) => t.direction === 'outbound')!;
      expect(inbound).toMatchObject({
        outcome: 'complete',
        status: 200,
        bytesReceived: 4,
        bytesSent: 4,
        target: echo.address,
        authority: echo.address,
      });
      expect(inbound.connection).toMatchObject({
        side: 'server',
        peerIdentity: hb.clientIdentity,
        localIdentity: hb.serverIdentity,
      });
      expect(inbound.requestHeaders).toMatchObject({
        forwarded: 'for="10.0.0.9:1234";host=echo.default.svc.cluster.local',
      });
      expect(inbound.requestHeaders.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(outbound).toMatchObject({ outcome: 'complete', bytesSent: 4, bytesReceived: 4 });
      expect(outbound.closedAt! >= outbound.startedAt).toBe(true);
      expect(names.indexOf('mesh:hbone:tunnel:open')).toBeLessThan(names.indexOf('mesh:hbone:tunnel:close'));
    } finally {
      for (const [name, fn] of listeners) unsubscribe(name, fn);
    }
  });

  it('turn an upstream TCP reset into RST_STREAM(CONNECT_ERROR), read by the client as ERR_HBONE_RESET', async () => {
    await using upstream = await tcpServer((s) => s.once('data', () => s.resetAndDestroy()));
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({
      target: upstream.address,
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
    });
    tunnel.write('boom');
    const error = await within(new Promise<Error>((resolve) => tunnel.once('error', resolve)));
    expect(error).toMatchObject({ code: 'ERR_HBONE_RESET', details: { code: 10, by: 'peer' } });
    await within(tunnel.info.closed);
    expect(tunnel.info.outcome).toBe('reset');
  });

  it('reset the upstream TCP connection when the client resets the tunnel', async () => {
    let upstreamError: Promise<Error | undefined>;
    await using upstream = await tcpServer((s) => {
      s.resume();
      upstreamError = new Promise((resolve) => {
        s.once('error', resolve);
        s.once('close', () => resolve(undefined));
      });
    });
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({
      target: upstream.address,
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
    });
    tunnel.write('x');
    await sleep(50);
    tunnel.reset();
    expect(await within(upstreamError!)).toMatchObject({ code: 'ECONNRESET' });
    await within(tunnel.info.closed);
    expect(tunnel.info).toMatchObject({
      outcome: 'reset',
      error: { code: 'ERR_HBONE_RESET', details: { by: 'local' } },
    });
  });

  it('let an accept decision hand the tunnel to the application, with response baggage', async () => {
    await using hb = await startLoopbackHbone({
      handler: () => ({
        action: 'accept',
        responseHeaders: { baggage: { namespace: 'default', workloadName: 'upper', serviceName: 'upper' } },
        onTunnel: (t) => {
          t.on('data', (d: Buffer) => t.write(d.toString().toUpperCase()));
          t.on('end', () => t.end());
        },
      }),
    });
    const tunnel = await hb.pool.dial({ target: '10.1.2.3:80', via: hb.via, expectedIdentities: [hb.serverIdentity] });
    expect(tunnel.info.responseHeaders).toMatchObject({
      baggage: 'k8s.namespace.name=default,k8s.deployment.name=upper,service.name=upper',
    });
    tunnel.end('shout');
    expect((await collect(tunnel)).toString()).toBe('SHOUT');
  });

  it('write a PROXY v2 preamble before the bytes of a forward decision', async () => {
    let seen: Promise<Buffer>;
    await using upstream = await tcpServer((s) => {
      seen = collect(s);
      s.end();
    });
    await using hb = await startLoopbackHbone({
      handler: (req) => ({
        action: 'forward',
        target: upstream.address,
        preamble: encodeProxyV2({
          source: { address: req.connection.remoteAddress, port: req.connection.remotePort },
          destination: { address: req.authority.host, port: req.authority.port },
          identity: req.peerIdentity,
        }),
      }),
    });
    const tunnel = await hb.pool.dial({
      target: '10.9.9.9:8080',
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
    });
    tunnel.end('payload');
    await collect(tunnel);
    const bytes = await within(seen!);
    const header = decodeProxyV2(bytes)!;
    expect(header).toMatchObject({
      identity: hb.clientIdentity,
      destination: { address: '10.9.9.9', port: 8080 },
      source: { address: '127.0.0.1' },
    });
    expect(bytes.subarray(header.length).toString()).toBe('payload');
  });

  it('relay() copies both ways and resolves with byte counts', async () => {
    await using echo = await startEchoServer();
    await using hb = await startLoopbackHbone();
    // A local TCP front end relayed into a tunnel: what ztunnel's outbound does per connection.
    let relayed!: Promise<{ aToB: number; bToA: number; error: Error | undefined }>;
    await using front = await tcpServer(async (s) => {
      const t = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
      relayed = relay(s, t);
    });
    const { connect } = await import('node:net');
    const [host, port] = front.address.split(':');
    const c = connect({ host: host!, port: Number(port), allowHalfOpen: true });
    c.end('through a relay');
    expect((await collect(c)).toString()).toBe('through a relay');
    await sleep(20);
    expect(await within(relayed)).toEqual({ aToB: 15, bToA: 15, error: undefined });
  });
});
