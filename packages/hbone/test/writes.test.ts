// What Node's own stream users (its HTTP client and server) write to a tunnel: corked strings with an encoding and
// empty chunks. Real TLS and HTTP/2 on loopback, echoed back by a TCP server.
import { describe, expect, it } from 'vitest';
import { startEchoServer, startLoopbackHbone } from '../src/testing.js';
import { collect, within } from './helpers.js';

describe('tunnel writes', () => {
  it('carry corked strings in their own encoding', async () => {
    await using echo = await startEchoServer({ host: '127.40.0.1' });
    await using hb = await startLoopbackHbone();
    const tunnel = await hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const reply = collect(tunnel);
    // Node's HTTP code writes its head this way: a latin1 string corked together with the body's buffers.
    const head = 'HTTP/1.1 200 \xe9t\xe9\r\nx: \xff\r\n\r\n';
    tunnel.cork();
    tunnel.write(head, 'latin1');
    tunnel.write('d\xe9j\xe0 \u20ac', 'utf8');
    tunnel.write(Buffer.from('body'));
    tunnel.write('6869', 'hex');
    tunnel.uncork();
    tunnel.end();
    const expected = Buffer.concat([
      Buffer.from(head, 'latin1'),
      Buffer.from('d\xe9j\xe0 \u20ac', 'utf8'),
      Buffer.from('body'),
      Buffer.from('hi'),
    ]);
    expect((await reply).equals(expected)).toBe(true);
    await within(tunnel.info.closed);
    expect(tunnel.info).toMatchObject({ outcome: 'complete', bytesSent: expected.length });
  });

  it('send no DATA frame for an empty write (the peer would answer a flood of them with GOAWAY)', async () => {
    await using echo = await startEchoServer({ host: '127.40.0.1' });
    await using hb = await startLoopbackHbone();
    const dial = () => hb.pool.dial({ target: echo.address, via: hb.via, expectedIdentities: [hb.serverIdentity] });
    const tunnel = await dial();
    const reply = collect(tunnel);
    // nghttp2 counts empty DATA frames without END_STREAM as a flood past 1,000 on a connection.
    // Each in its own turn, as an HTTP client's writes between requests are (a batch would be one writev).
    for (let i = 0; i < 1_500; i++) {
      await new Promise((resolve) => tunnel.write(i % 2 ? '' : Buffer.alloc(0), resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    let called = false;
    tunnel.write('', () => (called = true));
    tunnel.end('done');
    expect((await reply).toString()).toBe('done');
    expect(called).toBe(true);
    await within(tunnel.info.closed);
    expect(tunnel.info.outcome).toBe('complete');
    // The connection is still usable: no GOAWAY came.
    const again = await dial();
    expect(again.info.connection?.id).toBe(tunnel.info.connection?.id);
    const second = collect(again);
    again.end('again');
    expect((await second).toString()).toBe('again');
  });

  it('apply to accepted (inbound) tunnels too', async () => {
    const head = 'HTTP/1.1 200 \xe9t\xe9\r\n\r\n';
    await using hb = await startLoopbackHbone({
      handler: () => ({
        action: 'accept',
        onTunnel: async (tunnel) => {
          for (let i = 0; i < 1_200; i++) {
            await new Promise((resolve) => tunnel.write('', resolve));
            await new Promise((resolve) => setImmediate(resolve));
          }
          tunnel.cork();
          tunnel.write(head, 'latin1');
          tunnel.write(Buffer.from('body'));
          tunnel.uncork();
          tunnel.end();
        },
      }),
    });
    const tunnel = await hb.pool.dial({
      target: '127.40.0.1:9',
      via: hb.via,
      expectedIdentities: [hb.serverIdentity],
    });
    tunnel.end();
    const got = await collect(tunnel);
    expect(got.equals(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from('body')]))).toBe(true);
    await within(tunnel.info.closed);
    expect(tunnel.info.outcome).toBe('complete');
  });
});
