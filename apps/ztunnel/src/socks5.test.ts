import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { parseGreeting, parseRequest, socksHandshake } from './socks5.js';

describe('SOCKS5 parser', () => {
  it('parses greetings and CONNECT requests for IPv4, IPv6 and domain names, asking for more when short', () => {
    expect(parseGreeting(Uint8Array.of(5, 2, 0))).toEqual({ state: 'more' });
    expect(parseGreeting(Uint8Array.of(5, 2, 0, 2))).toEqual({ state: 'done', value: { methods: [0, 2] }, used: 4 });
    expect(parseGreeting(Uint8Array.of(4, 1, 0))).toMatchObject({ state: 'error' });
    expect(parseRequest(Uint8Array.of(5, 1, 0, 1, 10, 0, 0, 1, 0x1f))).toEqual({ state: 'more' });
    expect(parseRequest(Uint8Array.of(5, 1, 0, 1, 10, 0, 0, 1, 0x1f, 0x90))).toEqual({
      state: 'done',
      value: { kind: 'ip', host: '10.0.0.1', port: 8080 },
      used: 10,
    });
    const v6 = Uint8Array.of(5, 1, 0, 4, 0xfd, 0, ...new Array(13).fill(0), 7, 0, 80);
    expect(parseRequest(v6)).toMatchObject({ state: 'done', value: { host: 'fd00::7', port: 80 } });
    const name = Buffer.from('web.shop.svc.cluster.local');
    expect(parseRequest(Uint8Array.of(5, 1, 0, 3, name.length, ...name, 0, 80))).toMatchObject({
      state: 'done',
      value: { kind: 'domain', host: 'web.shop.svc.cluster.local', port: 80 },
    });
    expect(parseRequest(Uint8Array.of(5, 2, 0, 1, 10, 0, 0, 1, 0, 80))).toMatchObject({ state: 'error', reply: 7 });
    expect(parseRequest(Uint8Array.of(5, 1, 0, 9, 0, 0))).toMatchObject({ state: 'error', reply: 8 });
    expect(parseRequest(Uint8Array.of(5, 1, 0, 3, 3, 0x2f, 0x2f, 0x2f, 0, 80))).toMatchObject({ state: 'error' });
  });
});

describe('SOCKS5 handshake on a socket', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function serve(timeoutMs: number) {
    const results: Promise<unknown>[] = [];
    server = createServer((s) => results.push(socksHandshake(s, { timeoutMs }).catch((e: unknown) => e)));
    await new Promise<void>((r) => server!.listen(0, '127.12.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = () => {
      const s = connect({ host: '127.12.0.1', port });
      s.on('error', () => {});
      return s;
    };
    return { results, client };
  }
  const closed = (s: Socket) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.once('close', () => resolve(Buffer.concat(chunks)));
    });

  it('returns the target and the early data sent with the request', async () => {
    const { results, client } = await serve(5_000);
    const s = client();
    s.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80, 0x47, 0x45, 0x54]));
    await new Promise((r) => setTimeout(r, 100));
    const r = (await results[0]) as { target: unknown; rest: Buffer };
    expect(r.target).toEqual({ kind: 'ip', host: '127.0.0.1', port: 80 });
    expect(r.rest.toString()).toBe('GET');
    s.destroy();
  });

  it('closes on garbage, on an unsupported auth method, on an oversized request and on silence', async () => {
    const { results, client } = await serve(300);
    const garbage = client();
    garbage.write('GET / HTTP/1.1\r\n\r\n');
    await closed(garbage);
    const auth = client();
    auth.write(Buffer.from([5, 1, 2]));
    expect([...(await closed(auth))]).toEqual([5, 0xff]);
    const big = client();
    big.write(Buffer.from([5, 1, 0]));
    big.write(Buffer.from([5, 1, 0, 3, 255, ...Buffer.alloc(255, 0x61)]));
    big.write(Buffer.alloc(600, 0x61));
    await closed(big);
    const silent = client();
    await closed(silent);
    const errors = (await Promise.all(results)) as MeshError[];
    expect(errors.map((e) => MeshError.is(e, 'ERR_ZTUNNEL_SOCKS5'))).toEqual([true, true, true, true]);
    expect(errors[3]!.message).toMatch(/within 300 ms/);
  });
});
