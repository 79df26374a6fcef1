// Our HBONE client against an independent HTTP/2 CONNECT server: nghttpx (nghttp2-proxy) in forward-proxy mode with
// mutual TLS, handing each tunnel to tinyproxy (an HTTP/1 CONNECT proxy) that dials the target (RECIPES.md).
import { createCipheriv, createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHbonePool, type HbonePool } from '../src/index.js';
import { createTestPki, startEchoServer, type EchoServer } from '../src/testing.js';
import type { X509Svid } from '@mesh/spiffe';
import { freePort, startPeer, tempDir, type Peer, type TempDir } from './peers.js';

/** A deterministic pseudo-random byte stream (AES-CTR keystream), `size` bytes in 1 MiB chunks. */
function* pattern(size: number, chunk = 1024 * 1024): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(chunk);
  for (let left = size; left > 0; left -= chunk) yield cipher.update(zeros.subarray(0, Math.min(chunk, left)));
}

describe('our client through nghttpx + tinyproxy', () => {
  let dir: TempDir;
  let echo: EchoServer;
  let late: Server;
  let latePort: number;
  let fin: Server;
  let finPort: number;
  let tinyproxy: Peer;
  let nghttpx: Peer;
  let pool: HbonePool;
  let nghttpxSvid: X509Svid;
  let via: string;

  beforeAll(async () => {
    const pki = createTestPki();
    nghttpxSvid = pki.issue('/ns/istio-system/sa/nghttpx');
    dir = tempDir();
    const ca = dir.file('ca.pem', pki.rootPem);
    const cert = dir.file('server.pem', nghttpxSvid.chainPem());
    const key = dir.file('server.key', nghttpxSvid.keyPem());
    echo = await startEchoServer();
    // Answers 300 ms after each chunk, whether or not the client has half-closed.
    late = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.on('data', (d: Buffer) => setTimeout(() => !s.destroyed && s.write(`late:${d.toString()}`), 300));
    });
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
    latePort = (late.address() as { port: number }).port;
    // Sends a greeting and its FIN at once.
    fin = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.end('greeting');
      s.resume();
    });
    await new Promise<void>((r) => fin.listen(0, '127.0.0.1', r));
    finPort = (fin.address() as { port: number }).port;
    const tinyproxyPort = await freePort();
    const conf = dir.file(
      'tinyproxy.conf',
      [
        `Port ${tinyproxyPort}`,
        'Listen 127.0.0.1',
        'Allow 127.0.0.1',
        `ConnectPort ${echo.port}`,
        `ConnectPort ${latePort}`,
        `ConnectPort ${finPort}`,
        'Timeout 120',
        'MaxClients 64',
        'LogLevel Warning',
        '',
      ].join('\n'),
    );
    tinyproxy = await startPeer('tinyproxy', ['-d', '-c', conf], tinyproxyPort);
    const nghttpxPort = await freePort();
    nghttpx = await startPeer(
      'nghttpx',
      [
        '--conf=/dev/null',
        '--http2-proxy',
        `-f127.0.0.1,${nghttpxPort}`,
        `-b127.0.0.1,${tinyproxyPort}`,
        '--verify-client',
        `--verify-client-cacert=${ca}`,
        `--cacert=${ca}`,
        '--no-ocsp',
        '--single-process',
        '--log-level=WARN',
        '--frontend-http2-window-size=4194304',
        '--frontend-http2-connection-window-size=16777216',
        key,
        cert,
      ],
      nghttpxPort,
    );
    via = `127.0.0.1:${nghttpxPort}`;
    pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
  });

  afterAll(async () => {
    await pool?.destroy();
    await nghttpx?.[Symbol.asyncDispose]();
    await tinyproxy?.[Symbol.asyncDispose]();
    await echo?.[Symbol.asyncDispose]();
    late?.close();
    fin?.close();
    dir?.[Symbol.dispose]();
  });

  it('opens a tunnel (mutual TLS, SPIFFE identity checked) and round-trips bytes', async () => {
    const t = await pool.dial({ target: echo.address, via, expectedIdentities: [nghttpxSvid.id] });
    expect(t.info.connection?.peerIdentity).toBe(nghttpxSvid.id.toString());
    expect(t.info.responseHeaders).toMatchObject({ via: '1.0 nghttpx' });
    const chunks: Buffer[] = [];
    t.on('data', (d: Buffer) => chunks.push(d));
    t.write('hello through nghttpx');
    await expect.poll(() => Buffer.concat(chunks).toString(), { timeout: 5_000 }).toBe('hello through nghttpx');
    t.destroy();
  });

  it('moves 100 MiB each way intact', async () => {
    const size = 100 * 1024 * 1024;
    const t = await pool.dial({ target: echo.address, via, expectedIdentities: [nghttpxSvid.id] });
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let got = 0;
    const done = new Promise<void>((resolve, reject) => {
      t.on('data', (d: Buffer) => {
        received.update(d);
        got += d.length;
        if (got >= size) resolve();
      });
      t.once('error', reject);
    });
    for (const chunk of pattern(size)) {
      sent.update(chunk);
      if (!t.write(chunk)) await new Promise((r) => t.once('drain', r));
    }
    await done;
    expect(got).toBe(size);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    expect(t.info.bytesSent).toBe(size);
    t.destroy();
  }, 120_000);

  it('keeps reading after our half-close (END_STREAM), and reads the far end’s FIN as a clean end', async () => {
    // Our END_STREAM: the read side stays open and data sent afterwards still arrives.
    const t = await pool.dial({ target: `127.0.0.1:${latePort}`, via, expectedIdentities: [nghttpxSvid.id] });
    const chunks: Buffer[] = [];
    t.on('data', (d: Buffer) => chunks.push(d));
    t.end('x');
    await expect.poll(() => Buffer.concat(chunks).toString(), { timeout: 5_000 }).toBe('late:x');
    expect(t.readableEnded).toBe(false);
    t.destroy();
    // The far end's FIN (tinyproxy relays it by closing the whole tunnel; nghttpx turns that into END_STREAM): a
    // clean end after the data, not a reset.
    const u = await pool.dial({ target: `127.0.0.1:${finPort}`, via, expectedIdentities: [nghttpxSvid.id] });
    const body: Buffer[] = [];
    u.on('data', (d: Buffer) => body.push(d));
    await new Promise<void>((resolve, reject) => {
      u.once('end', resolve);
      u.once('error', reject);
    });
    expect(Buffer.concat(body).toString()).toBe('greeting');
    u.end();
    await u.info.closed;
    expect(u.info.outcome).toBe('complete');
  });
});
