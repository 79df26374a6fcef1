// An independent HBONE client — python's h2 library (Debian python3-h2) over python's ssl — against our server.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { dirname, join } from 'node:path';
import { createServer, connect, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '@mesh/spiffe';
import { createHboneServer, type ConnectionErrorMessage, type HboneServer, type TunnelMessage } from '../src/index.js';
import { createTestPki, startEchoServer, type EchoServer, type TestPki } from '../src/testing.js';
import { run, tempDir, type TempDir } from './peers.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'h2_client.py');

interface PyResult {
  status?: number | null;
  body?: string;
  ended?: boolean;
  reset?: number | null;
  terminated?: number | null;
  settings?: boolean;
  error?: string;
  eof?: boolean;
  alpn?: string;
  vanished?: boolean;
}

describe('python h2 client against our server', () => {
  let pki: TestPki;
  let dir: TempDir;
  let echo: EchoServer;
  let counter: Server;
  let counterAddress: string;
  let server: HboneServer;
  let port: number;
  let files: {
    ca: string;
    cert: string;
    key: string;
    foreignCert: string;
    foreignKey: string;
    otherCert: string;
    otherKey: string;
  };
  const events: Array<[string, unknown]> = [];
  const listeners: Array<[string, (m: unknown) => void]> = [];

  const python = async (mode: string, creds: 'client' | 'foreign-td' | 'other-ca' | 'none', ...rest: string[]) => {
    const auth =
      creds === 'client'
        ? [files.cert, files.key]
        : creds === 'foreign-td'
          ? [files.foreignCert, files.foreignKey]
          : creds === 'other-ca'
            ? [files.otherCert, files.otherKey]
            : ['-'];
    const { stdout, stderr } = await run('/usr/bin/python3', [
      script,
      mode,
      '127.0.0.1',
      String(port),
      files.ca,
      ...auth,
      ...rest,
    ]);
    try {
      return JSON.parse(stdout) as PyResult;
    } catch {
      throw new Error(`h2_client.py printed no JSON: ${stdout}${stderr}`);
    }
  };

  beforeAll(async () => {
    pki = createTestPki();
    // The same CA also vouches for another trust domain (a federated bundle): that client is valid but foreign.
    pki.bundles.set(X509Bundle.fromPem('other.example', pki.rootPem));
    const other = createTestPki();
    dir = tempDir();
    const client = pki.issue('/ns/default/sa/python');
    const foreign = pki.issue('spiffe://other.example/ns/default/sa/python');
    const stranger = other.issue('/ns/default/sa/python');
    files = {
      ca: dir.file('ca.pem', pki.rootPem),
      cert: dir.file('client.pem', client.chainPem()),
      key: dir.file('client.key', client.keyPem()),
      foreignCert: dir.file('foreign.pem', foreign.chainPem()),
      foreignKey: dir.file('foreign.key', foreign.keyPem()),
      otherCert: dir.file('other.pem', stranger.chainPem()),
      otherKey: dir.file('other.key', stranger.keyPem()),
    };
    echo = await startEchoServer();
    // Replies only after the client's FIN: proves the server relays a half-close and keeps the way back open.
    counter = createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('error', () => {});
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => setTimeout(() => s.end(`received ${n} bytes`), 100));
    });
    await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
    counterAddress = `127.0.0.1:${(counter.address() as { port: number }).port}`;
    for (const name of ['mesh:hbone:connection:error', 'mesh:hbone:tunnel:close']) {
      const fn = (m: unknown) => events.push([name, m]);
      subscribe(name, fn);
      listeners.push([name, fn]);
    }
    const svid = pki.issue('/ns/default/sa/server');
    server = createHboneServer({
      certificate: () => svid,
      bundles: pki.bundles,
      handler: () => ({ action: 'forward' }),
    });
    ({ port } = await server.listen({ host: '127.0.0.1', port: 0 }));
  });

  afterAll(async () => {
    for (const [name, fn] of listeners) unsubscribe(name, fn);
    await server?.destroy();
    await echo?.[Symbol.asyncDispose]();
    counter?.close();
    dir?.[Symbol.dispose]();
  });

  it('CONNECT works: 200, bytes echoed, END_STREAM both ways (ALPN h2, no SNI)', async () => {
    const result = await python('connect', 'client', echo.address, 'hello from python');
    expect(result).toMatchObject({ alpn: 'h2', status: 200, body: 'hello from python', ended: true, reset: null });
  });

  it('honours a half-close: the reply sent after the client’s END_STREAM arrives', async () => {
    const result = await python('connect', 'client', counterAddress, 'x'.repeat(1000));
    expect(result).toMatchObject({ status: 200, body: 'received 1000 bytes', ended: true });
  });

  it('answers GET with 400 and a bad authority with 400', async () => {
    expect(await python('request', 'client', '10.0.0.1:80')).toMatchObject({ status: 400 });
    expect(await python('connect', 'client', 'not-an-authority')).toMatchObject({ status: 400 });
    expect(await python('connect', 'client', '10.0.0.1:99999')).toMatchObject({ status: 400 });
  });

  it('fails the handshake for a client certificate from another trust domain or an unknown CA, and without one', async () => {
    const before = events.length;
    for (const creds of ['foreign-td', 'other-ca', 'none'] as const) {
      const result = await python('handshake', creds);
      // TLS 1.3: the client finishes first, then the server aborts (an alert or a close) before any HTTP/2 frame.
      expect(result.settings, creds).toBe(false);
      expect(Boolean(result.error || result.eof), creds).toBe(true);
    }
    const failures = events
      .slice(before)
      .filter(([n]) => n === 'mesh:hbone:connection:error')
      .map(([, m]) => m as ConnectionErrorMessage);
    expect(failures.map((f) => [f.phase, (f.error as Error & { code: string }).code])).toEqual([
      ['identity', 'ERR_HBONE_IDENTITY_MISMATCH'],
      ['tls', 'ERR_HBONE_HANDSHAKE_FAILED'],
      ['tls', 'ERR_HBONE_HANDSHAKE_FAILED'],
    ]);
    expect(await python('handshake', 'client')).toMatchObject({ settings: true });
  });

  it('survives garbage bytes, before and after TLS, and keeps serving', async () => {
    // Plain TCP garbage instead of a TLS ClientHello.
    const raw = connect({ host: '127.0.0.1', port });
    raw.on('error', () => {});
    raw.write(Buffer.alloc(4096, 0x41));
    await new Promise((r) => raw.once('close', r));
    // TLS, then bytes that are not an HTTP/2 preface.
    const result = await python('garbage', 'client');
    expect(result.status ?? null).toBeNull();
    expect(Boolean(result.terminated !== null || result.eof || result.error)).toBe(true);
    expect(await python('connect', 'client', echo.address, 'still serving')).toMatchObject({
      status: 200,
      body: 'still serving',
    });
  });

  it('cleans up after a client that vanishes mid-tunnel', async () => {
    const before = events.length;
    expect(await python('vanish', 'client', echo.address, 'half a conversation')).toMatchObject({
      status: 200,
      vanished: true,
    });
    await expect.poll(() => [...server.tunnels()].length, { timeout: 5_000 }).toBe(0);
    const closes = events
      .slice(before)
      .filter(([n]) => n === 'mesh:hbone:tunnel:close')
      .map(([, m]) => (m as TunnelMessage).tunnel);
    expect(closes).toHaveLength(1);
    expect(closes[0]!.outcome).not.toBe('complete');
    expect(await python('connect', 'client', echo.address, 'next')).toMatchObject({ status: 200, body: 'next' });
  });
});
