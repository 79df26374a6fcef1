// The CLI contract, checked once against the built binary in a real process: stdout JSON, exit codes, and the first
// stderr line `ERR_…: <reason>`.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'meshctl.mjs');

function meshctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end();
  });
}

describe('meshctl (built binary)', () => {
  let dir = '';
  beforeAll(async () => {
    expect(existsSync(join(dirname(bin), '..', 'dist', 'main.js')), 'run `nx run @mesh/app-meshctl:build` first').toBe(
      true,
    );
    dir = await mkdtemp(join(tmpdir(), 'meshctl-e2e-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('spiffe parse: JSON on stdout and exit 0; ERR_ line and exit 1 when invalid', async () => {
    const ok = await meshctl('spiffe', 'parse', 'spiffe://cluster.local/ns/default/sa/web');
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(ok.stdout)).toEqual({ trustDomain: 'cluster.local', path: '/ns/default/sa/web' });
    const bad = await meshctl('spiffe', 'parse', 'spiffe://cluster.local//x');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.split('\n')[0]).toBe('ERR_SPIFFE_PATH_EMPTY_SEGMENT: path cannot contain empty segments');
  });

  it('ca init, ca issue, spiffe verify and ca inspect work together', async () => {
    const ca = join(dir, 'ca');
    expect((await meshctl('ca', 'init', '--dir', ca, '--trust-domain', 'example.org')).code).toBe(0);
    const prefix = join(dir, 'web-');
    const issued = await meshctl(
      'ca',
      'issue',
      '--dir',
      ca,
      '--spiffe-id',
      'spiffe://example.org/ns/a/sa/web',
      '--ttl',
      '1h',
      '--out',
      prefix,
      '-o',
      'json',
    );
    expect(issued.code).toBe(0);
    const verify = await meshctl(
      'spiffe',
      'verify',
      '--svid',
      `${prefix}cert-chain.pem`,
      '--bundle',
      `example.org=${join(ca, 'root-cert.pem')}`,
    );
    expect(verify).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(verify.stdout)).toEqual({
      spiffeId: 'spiffe://example.org/ns/a/sa/web',
      trustDomain: 'example.org',
    });
    const expired = await meshctl(
      'spiffe',
      'verify',
      '--svid',
      `${prefix}cert-chain.pem`,
      '--bundle',
      `example.org=${join(ca, 'root-cert.pem')}`,
      '--at',
      '2030-01-01T00:00:00+02:00',
    );
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/^ERR_SPIFFE_EXPIRED: /);
    const inspect = await meshctl('ca', 'inspect', `${prefix}cert-chain.pem`);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain('spiffe://example.org/ns/a/sa/web');
  });

  it('usage errors exit 2', async () => {
    expect((await meshctl('spiffe', 'verify', '--svid', 'x')).code).toBe(2);
  });
});
