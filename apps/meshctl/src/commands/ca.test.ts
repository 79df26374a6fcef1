import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates, verifyX509Svid, X509Bundle } from '@mesh/spiffe';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

async function run(...args: string[]) {
  const io = bufferedIO();
  const code = await runMeshctl(args, io);
  return { code, out: io.out.join(''), err: io.err.join('') };
}

describe('meshctl ca', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshctl-ca-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('init writes the cacerts layout and refuses to overwrite it', async () => {
    const r = await run('ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'example.org', '-o', 'json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { trustDomain: string; subject: string; files: string[]; key: { type: string } };
    expect(out).toMatchObject({
      trustDomain: 'example.org',
      subject: 'O=example.org',
      key: { type: 'ec', curve: 'P-256' },
    });
    expect(out.files.map((f) => f.slice(join(dir, 'ca').length + 1))).toEqual([
      'ca-cert.pem',
      'ca-key.pem',
      'root-cert.pem',
      'cert-chain.pem',
    ]);
    expect((await stat(join(dir, 'ca', 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    const again = await run('ca', 'init', '--dir', join(dir, 'ca'));
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^ERR_CA_CACERTS_EXISTS: /);
    const table = await run(
      'ca',
      'init',
      '--dir',
      join(dir, 'ca'),
      '--force',
      '--key',
      'rsa',
      '--trust-domain',
      'example.org',
    );
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^FILE\s+CONTENTS$/);
    expect(parseCertificates(await readFile(join(dir, 'ca', 'ca-cert.pem')))[0]!.publicKeyAlgorithm).toEqual({
      type: 'rsa',
      bits: 2048,
    });
  });

  it('issue writes key, chain and roots that verify (and that OpenSSL accepts)', async () => {
    const prefix = join(dir, 'out', 'web-');
    const r = await run(
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      'spiffe://example.org/ns/default/sa/web',
      '--ttl',
      '2h',
      '--out',
      prefix,
      '-o',
      'json',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as {
      files: { key: string; certChain: string; rootCert: string };
      notAfter: string;
      notBefore: string;
    };
    expect(out.files).toEqual({
      key: `${prefix}key.pem`,
      certChain: `${prefix}cert-chain.pem`,
      rootCert: `${prefix}root-cert.pem`,
    });
    expect(Date.parse(out.notAfter) - Date.parse(out.notBefore)).toBe(2 * 3_600_000 + 120_000);
    expect((await stat(out.files.key)).mode & 0o777).toBe(0o600);
    const bundle = X509Bundle.fromPem('example.org', await readFile(out.files.rootCert));
    expect(verifyX509Svid(await readFile(out.files.certChain), bundle).id.toString()).toBe(
      'spiffe://example.org/ns/default/sa/web',
    );
    expect(execFileSync('openssl', ['verify', '-CAfile', out.files.rootCert, out.files.certChain]).toString()).toMatch(
      /: OK/,
    );

    const again = await run(
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      'spiffe://example.org/ns/a/sa/b',
      '--out',
      prefix,
    );
    expect(again.err).toMatch(/^ERR_MESHCTL_WRITE_FAILED: refusing to overwrite/);
    const foreign = await run(
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      'spiffe://other.org/ns/a/sa/b',
      '--out',
      join(dir, 'x-'),
    );
    expect(foreign.err).toMatch(/^ERR_CA_FOREIGN_TRUST_DOMAIN: /);
    const long = await run(
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      'spiffe://example.org/ns/a/sa/b',
      '--ttl',
      '100d',
      '--out',
      join(dir, 'y-'),
    );
    expect(long.err).toMatch(/^ERR_CA_TTL_TOO_LONG: /);
    expect(
      (
        await run(
          'ca',
          'issue',
          '--dir',
          join(dir, 'ca'),
          '--spiffe-id',
          'spiffe://example.org/a',
          '--ttl',
          'soon',
          '--out',
          'z',
        )
      ).code,
    ).toBe(2);
    const noCa = await run(
      'ca',
      'issue',
      '--dir',
      join(dir, 'nothing'),
      '--spiffe-id',
      'spiffe://example.org/a',
      '--out',
      join(dir, 'z-'),
    );
    expect(noCa.err).toMatch(/^ERR_CA_CACERTS_MISSING: /);
  });

  it('inspect shows a table, or JSON with -o json; garbage is a clear error', async () => {
    const chain = join(dir, 'out', 'web-cert-chain.pem');
    const table = await run('ca', 'inspect', chain);
    expect(table.code).toBe(0);
    const [header, row] = table.out.split('\n');
    expect(header).toMatch(/^#\s+KIND\s+SUBJECT\s+NAMES\s+ISSUER\s+NOT BEFORE\s+NOT AFTER\s+KEY$/);
    expect(row).toMatch(/^0\s+leaf\s+-\s+spiffe:\/\/example\.org\/ns\/default\/sa\/web\s+O=example\.org/);
    const json = await run('ca', 'inspect', join(dir, 'ca', 'root-cert.pem'), '-o', 'json');
    const data = JSON.parse(json.out) as { certificates: Array<{ ca: boolean; keyUsage: string[]; uris: string[] }> };
    expect(data.certificates[0]).toMatchObject({ ca: true, uris: ['spiffe://example.org'] });
    await writeFile(join(dir, 'garbage.pem'), 'hello\n');
    const garbage = await run('ca', 'inspect', join(dir, 'garbage.pem'));
    expect(garbage.code).toBe(1);
    expect(garbage.err).toMatch(/^ERR_SPIFFE_BAD_CERTIFICATE: /);
    await writeFile(join(dir, 'truncated.der'), (await readFile(chain)).subarray(0, 40));
    expect((await run('ca', 'inspect', join(dir, 'truncated.der'))).code).toBe(1);
  });
});
