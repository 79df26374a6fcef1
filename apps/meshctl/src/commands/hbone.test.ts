import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHbonePool } from '@mesh/hbone';
import {
  createTestPki,
  startEchoServer,
  startLoopbackHbone,
  type EchoServer,
  type LoopbackHbone,
} from '@mesh/hbone/testing';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

describe('meshctl hbone', () => {
  let dir: string;
  let echo: EchoServer;
  let hb: LoopbackHbone;
  let tls: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshctl-hbone-'));
    echo = await startEchoServer();
    hb = await startLoopbackHbone({
      handler: (req) => (req.authority.port === 1 ? { action: 'refuse', status: 401 } : { action: 'forward' }),
    });
    const svid = hb.pki.issue('/ns/default/sa/meshctl');
    writeFileSync(join(dir, 'cert.pem'), svid.chainPem());
    writeFileSync(join(dir, 'key.pem'), svid.keyPem());
    writeFileSync(join(dir, 'root.pem'), hb.pki.rootPem);
    tls = [
      '--cert',
      join(dir, 'cert.pem'),
      '--key',
      join(dir, 'key.pem'),
      '--bundle',
      `cluster.local=${join(dir, 'root.pem')}`,
    ];
  });

  afterAll(async () => {
    await hb?.[Symbol.asyncDispose]();
    await echo?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connect pipes stdin through a tunnel and the answer to stdout', async () => {
    const io = bufferedIO();
    io.input.end('netcat over HBONE');
    const code = await runMeshctl(
      ['hbone', 'connect', '--via', hb.via, '--target', echo.address, '--expect-id', hb.serverIdentity, ...tls],
      io,
    );
    expect(io.err.join('')).toBe('');
    expect(code).toBe(0);
    expect(Buffer.concat(io.bytes).toString()).toBe('netcat over HBONE');
  });

  it('connect exits 1 with the refusal status, or the ERR_ code of a failure', async () => {
    const refused = bufferedIO();
    refused.input.end();
    expect(
      await runMeshctl(
        ['hbone', 'connect', '--via', hb.via, '--target', '127.0.0.1:1', '--expect-id', hb.serverIdentity, ...tls],
        refused,
      ),
    ).toBe(1);
    expect(refused.err.join('')).toMatch(/^ERR_HBONE_REFUSED: .*401/);
    const mismatch = bufferedIO();
    mismatch.input.end();
    expect(
      await runMeshctl(
        [
          'hbone',
          'connect',
          '--via',
          hb.via,
          '--target',
          echo.address,
          '--expect-id',
          'spiffe://cluster.local/ns/x/sa/y',
          ...tls,
        ],
        mismatch,
      ),
    ).toBe(1);
    expect(mismatch.err.join('')).toMatch(/^ERR_HBONE_IDENTITY_MISMATCH: /);
  });

  it('usage errors exit 2', async () => {
    const missing = bufferedIO();
    expect(await runMeshctl(['hbone', 'connect', '--via', hb.via, '--target', echo.address, ...tls], missing)).toBe(2);
    expect(missing.err.join('')).toMatch(/--expect-id/);
    const badBundle = bufferedIO();
    expect(
      await runMeshctl(
        [
          'hbone',
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--cert',
          join(dir, 'cert.pem'),
          '--key',
          join(dir, 'key.pem'),
          '--bundle',
          'nope',
        ],
        badBundle,
      ),
    ).toBe(2);
    const noFile = bufferedIO();
    expect(
      await runMeshctl(
        [
          'hbone',
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--cert',
          join(dir, 'missing.pem'),
          '--key',
          join(dir, 'key.pem'),
          '--bundle',
          `cluster.local=${join(dir, 'root.pem')}`,
        ],
        noFile,
      ),
    ).toBe(2);
    expect(noFile.err.join('')).toMatch(/cannot read --cert/);
  });

  it('serve forwards each tunnel to its authority until aborted, then drains and exits 0', async () => {
    const controller = new AbortController();
    const io = bufferedIO({}, controller.signal);
    const running = runMeshctl(['hbone', 'serve', '--listen', '127.0.0.1:0', ...tls], io);
    await expect
      .poll(() => io.out.join(''), { timeout: 5_000 })
      .toMatch(/hbone: serving spiffe:\/\/cluster.local\/ns\/default\/sa\/meshctl on 127.0.0.1:\d+/);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(io.out.join(''))![1]);
    const pki = hb.pki;
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
    const t = await pool.dial({
      target: echo.address,
      via: `127.0.0.1:${port}`,
      expectedIdentities: ['spiffe://cluster.local/ns/default/sa/meshctl'],
    });
    const chunks: Buffer[] = [];
    t.on('data', (d: Buffer) => chunks.push(d));
    t.end('via meshctl serve');
    await new Promise((r) => t.once('end', r));
    expect(Buffer.concat(chunks).toString()).toBe('via meshctl serve');
    await pool.close();
    controller.abort();
    expect(await running).toBe(0);
    expect(io.err.join('')).toMatch(
      /connection complete src\.addr=127\.0\.0\.1:\d+ src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client .*bytes_sent=17 bytes_recv=17/,
    );
    expect(io.err.join('')).toContain('hbone: draining');
  });

  it('uses a test PKI that @mesh/hbone/testing provides', () => {
    expect(createTestPki().trustDomain).toBe('cluster.local');
  });
});
