import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/ca/testing';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

async function run(...args: string[]) {
  const io = bufferedIO();
  const code = await runMeshctl(args, io);
  return { code, out: io.out.join(''), err: io.err.join('') };
}

describe('meshctl spiffe parse', () => {
  it('prints trustDomain and path as JSON', async () => {
    const r = await run('spiffe', 'parse', 'spiffe://cluster.local/ns/default/sa/web');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ trustDomain: 'cluster.local', path: '/ns/default/sa/web' });
    expect(JSON.parse((await run('spiffe', 'parse', 'spiffe://td')).out)).toEqual({ trustDomain: 'td', path: '' });
  });

  it('exits 1 with the code of the rule broken on the first stderr line', async () => {
    for (const [id, code] of [
      ['spiffe://cluster.local/ns/default/', 'ERR_SPIFFE_PATH_TRAILING_SLASH'],
      ['spiffe://Cluster.local/x', 'ERR_SPIFFE_TRUST_DOMAIN_CASE'],
      ['https://example.org/x', 'ERR_SPIFFE_ID_SCHEME'],
      ['spiffe://example.org:80/x', 'ERR_SPIFFE_ID_PORT'],
    ] as const) {
      const r = await run('spiffe', 'parse', id);
      expect(r.code, id).toBe(1);
      expect(r.out).toBe('');
      expect(r.err.split('\n')[0]).toMatch(new RegExp(`^${code}: `));
    }
  });
});

describe('meshctl spiffe verify', () => {
  let dir = '';
  const test = createTestCa({ trustDomain: 'example.org' });
  const other = createTestCa({ trustDomain: 'other.org' });
  const svid = test.issue('spiffe://example.org/ns/default/sa/web');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshctl-spiffe-'));
    await writeFile(join(dir, 'svid.pem'), svid.chainPem + svid.keyPem);
    await writeFile(join(dir, 'bundle.pem'), test.bundlePem);
    await writeFile(join(dir, 'bundle.json'), test.bundle.toJson());
    await writeFile(join(dir, 'other.pem'), other.bundlePem);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies against PEM or SPIFFE bundle JSON, choosing the bundle by trust domain', async () => {
    for (const file of ['bundle.pem', 'bundle.json']) {
      const r = await run(
        'spiffe',
        'verify',
        '--svid',
        join(dir, 'svid.pem'),
        '--bundle',
        `other.org=${join(dir, 'other.pem')}`,
        '--bundle',
        `example.org=${join(dir, file)}`,
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toEqual({
        spiffeId: 'spiffe://example.org/ns/default/sa/web',
        trustDomain: 'example.org',
      });
    }
  });

  it('exits 1 with ERR_ lines for untrusted, expired and unreadable input', async () => {
    const wrong = await run(
      'spiffe',
      'verify',
      '--svid',
      join(dir, 'svid.pem'),
      '--bundle',
      `example.org=${join(dir, 'other.pem')}`,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^ERR_SPIFFE_UNKNOWN_ISSUER: /);
    const none = await run(
      'spiffe',
      'verify',
      '--svid',
      join(dir, 'svid.pem'),
      '--bundle',
      `other.org=${join(dir, 'other.pem')}`,
    );
    expect(none.err).toMatch(/^ERR_SPIFFE_NO_BUNDLE: /);
    const later = await run(
      'spiffe',
      'verify',
      '--svid',
      join(dir, 'svid.pem'),
      '--bundle',
      `example.org=${join(dir, 'bundle.pem')}`,
      '--at',
      '2099-01-01T00:00:00Z',
    );
    expect(later.code).toBe(1);
    expect(later.err).toMatch(/^ERR_SPIFFE_EXPIRED: /);
    const missing = await run(
      'spiffe',
      'verify',
      '--svid',
      join(dir, 'nope.pem'),
      '--bundle',
      `example.org=${join(dir, 'bundle.pem')}`,
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^ERR_MESHCTL_READ_FAILED: cannot read .*nope\.pem: ENOENT/);
    const garbage = await run(
      'spiffe',
      'verify',
      '--svid',
      join(dir, 'bundle.json'),
      '--bundle',
      `example.org=${join(dir, 'bundle.pem')}`,
    );
    expect(garbage.code).toBe(1);
    expect(garbage.err).toMatch(/^ERR_SPIFFE_BAD_CERTIFICATE: /);
  });

  it('treats malformed flags as usage errors (exit 2)', async () => {
    expect((await run('spiffe', 'verify', '--svid', 'x', '--bundle', 'no-equals-sign')).code).toBe(2);
    const at = await run('spiffe', 'verify', '--svid', 'x', '--bundle', 'a=b', '--at', 'yesterday');
    expect(at.code).toBe(2);
    expect(at.err).toMatch(/RFC 3339/);
    expect((await run('spiffe', 'verify', '--bundle', 'a=b')).code).toBe(2);
  });
});
