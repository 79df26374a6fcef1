// `meshctl hbone serve` and `meshctl hbone connect` as the built binary, in real processes: the public contract.
// (test:e2e builds meshctl and its packages first.)
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startEchoServer, type EchoServer } from '@mesh/hbone/testing';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'meshctl.mjs');

function meshctl(
  args: string[],
): ChildProcessWithoutNullStreams & { out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Object.assign(child, { out: () => out, err: () => err, exited });
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('meshctl hbone (built binary)', () => {
  let dir: string;
  let echo: EchoServer;
  let server: ReturnType<typeof meshctl>;
  let via: string;
  let client: string[];
  const serverId = 'spiffe://cluster.local/ns/default/sa/server';

  beforeAll(async () => {
    if (!existsSync(join(dirname(bin), '..', 'dist', 'main.js')))
      throw new Error('meshctl is not built: run `pnpm exec nx run @mesh/app-meshctl:build`');
    dir = mkdtempSync(join(tmpdir(), 'meshctl-hbone-interop-'));
    const pki = createTestPki();
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const root = write('root.pem', pki.rootPem);
    const s = pki.issue('/ns/default/sa/server');
    const c = pki.issue('/ns/default/sa/client');
    const serverTls = [
      '--cert',
      write('server.pem', s.chainPem()),
      '--key',
      write('server.key', s.keyPem()),
      '--bundle',
      `cluster.local=${root}`,
    ];
    client = [
      '--cert',
      write('client.pem', c.chainPem()),
      '--key',
      write('client.key', c.keyPem()),
      '--bundle',
      `cluster.local=${root}`,
    ];
    echo = await startEchoServer();
    server = meshctl(['hbone', 'serve', '--listen', '127.0.0.1:0', '--drain-timeout', '10000', ...serverTls]);
    await within(
      new Promise<void>((resolve) => server.stdout.on('data', () => /serving/.test(server.out()) && resolve())),
      15_000,
      `meshctl hbone serve to start (${server.err()})`,
    );
    via = /on (127\.0\.0\.1:\d+)/.exec(server.out())![1]!;
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await server.exited;
    }
    await echo?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serve prints its identity and address; connect pipes stdin/stdout (netcat over HBONE)', async () => {
    expect(server.out()).toMatch(new RegExp(`^hbone: serving ${serverId} on 127\\.0\\.0\\.1:\\d+\\n$`));
    const nc = meshctl([
      'hbone',
      'connect',
      '--via',
      via,
      '--target',
      echo.address,
      '--expect-id',
      serverId,
      '--header',
      'x-test=1',
      ...client,
    ]);
    nc.stdin.end('hello over HBONE\n');
    expect(await within(nc.exited, 15_000, 'connect')).toBe(0);
    expect(nc.out()).toBe('hello over HBONE\n');
    expect(nc.err()).toBe('');
    await new Promise((r) => setTimeout(r, 100));
    expect(server.err()).toMatch(
      /connection complete .*src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client .*dst\.hbone_addr=127\.0\.0\.1:\d+ .*bytes_sent=17 bytes_recv=17/,
    );
  });

  it('connect exits 1 with the status or ERR_ reason on stderr', async () => {
    const refused = meshctl([
      'hbone',
      'connect',
      '--via',
      via,
      '--target',
      '127.0.0.1:1',
      '--expect-id',
      serverId,
      ...client,
    ]);
    refused.stdin.end();
    expect(await within(refused.exited, 15_000, 'connect')).toBe(1);
    expect(refused.err()).toMatch(/^ERR_HBONE_REFUSED: the HBONE server answered 503 for 127\.0\.0\.1:1\n/);
    const wrongId = meshctl([
      'hbone',
      'connect',
      '--via',
      via,
      '--target',
      echo.address,
      '--expect-id',
      'spiffe://cluster.local/ns/x/sa/y',
      ...client,
    ]);
    wrongId.stdin.end();
    expect(await within(wrongId.exited, 15_000, 'connect')).toBe(1);
    expect(wrongId.err()).toMatch(/^ERR_HBONE_IDENTITY_MISMATCH: /);
    const usage = meshctl(['hbone', 'connect', '--via', via]);
    expect(await within(usage.exited, 15_000, 'connect')).toBe(2);
  });

  it('serve drains on SIGTERM: an open tunnel finishes, then it exits 0', async () => {
    const nc = meshctl([
      'hbone',
      'connect',
      '--via',
      via,
      '--target',
      echo.address,
      '--expect-id',
      serverId,
      ...client,
    ]);
    nc.stdin.write('before SIGTERM, ');
    await within(
      new Promise<void>((resolve) => nc.stdout.on('data', () => nc.out().includes('before') && resolve())),
      15_000,
      'first echo',
    );
    server.kill('SIGTERM');
    await within(
      new Promise<void>((resolve) => server.stderr.on('data', () => server.err().includes('draining') && resolve())),
      5_000,
      'drain to start',
    );
    nc.stdin.end('after SIGTERM');
    expect(await within(nc.exited, 15_000, 'connect')).toBe(0);
    expect(nc.out()).toBe('before SIGTERM, after SIGTERM');
    expect(await within(server.exited, 15_000, 'serve to exit')).toBe(0);
  });
});
