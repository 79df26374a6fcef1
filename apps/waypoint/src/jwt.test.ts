import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RequestAuthentication } from '@mesh/authz';
import { ManualClock } from '@mesh/core';
import { authenticate, extractToken, JwksCache } from './jwt.js';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = JSON.stringify({
  keys: [
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec1', alg: 'ES256' },
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa1', alg: 'RS256' },
  ],
});
const NOW = 1_800_000_000_000;

function token(claims: Record<string, unknown>, key: KeyObject = ec.privateKey, alg = 'ES256', kid = 'ec1'): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg, kid, typ: 'JWT' })}.${enc(claims)}`;
  const sig = sign('sha256', Buffer.from(head), alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${head}.${sig.toString('base64url')}`;
}

const ra = (rule: Record<string, unknown>): RequestAuthentication => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'RequestAuthentication',
  metadata: { name: 'jwt', namespace: 'shop' },
  spec: { jwtRules: [{ issuer: 'https://issuer.example', ...rule }] },
});

describe('RequestAuthentication at the waypoint', () => {
  const clock = new ManualClock(NOW);
  const options = { jwks: new JwksCache({ clock }), clock };
  const exp = NOW / 1000 + 600;
  const headers = (t: string) => ({ authorization: `Bearer ${t}` });

  it('passes a request without a token, accepts a valid one (EC and RSA) and gives its claims', async () => {
    const ras = [ra({ jwks })];
    expect(await authenticate(ras, { headers: {}, path: '/' }, options)).toEqual({ kind: 'none' });
    const ok = await authenticate(
      ras,
      { headers: headers(token({ iss: 'https://issuer.example', sub: 'ana', exp })), path: '/' },
      options,
    );
    expect(ok).toMatchObject({ kind: 'valid', claims: { sub: 'ana' } });
    const viaRsa = token({ iss: 'https://issuer.example', sub: 'bo', exp }, rsa.privateKey, 'RS256', 'rsa1');
    expect(await authenticate(ras, { headers: headers(viaRsa), path: '/' }, options)).toMatchObject({ kind: 'valid' });
  });

  it('rejects forged, expired, not-yet-valid, unknown-issuer and wrong-audience tokens with Envoy reasons', async () => {
    const ras = [ra({ jwks, audiences: ['shop'] })];
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: [string, string][] = [
      [token({ iss: 'https://issuer.example', aud: 'shop', exp }, other), 'Jwt verification fails'],
      [token({ iss: 'https://issuer.example', aud: 'shop', exp: NOW / 1000 - 1 }), 'Jwt is expired'],
      [token({ iss: 'https://issuer.example', aud: 'shop', exp, nbf: NOW / 1000 + 60 }), 'Jwt not yet valid'],
      [token({ iss: 'https://elsewhere', aud: 'shop', exp }), 'Jwt issuer is not configured'],
      [token({ iss: 'https://issuer.example', aud: 'bank', exp }), 'Audiences in Jwt are not allowed'],
      ['not.a.token', 'Jwt header or payload is not base64url JSON'],
      ['abc', 'Jwt is not in the form of Header.Payload.Signature'],
    ];
    for (const [t, reason] of cases)
      expect(await authenticate(ras, { headers: headers(t), path: '/' }, options)).toEqual({ kind: 'invalid', reason });
  });

  it('reads keys from a jwksUri file, and tokens from configured headers and query parameters', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jwks-'));
    try {
      await writeFile(join(dir, 'jwks.json'), jwks);
      const ras = [
        ra({
          jwksUri: pathToFileURL(join(dir, 'jwks.json')).href,
          fromHeaders: [{ name: 'x-jwt' }],
          fromParams: ['access_token'],
        }),
      ];
      const t = token({ iss: 'https://issuer.example', sub: 'ana', exp });
      expect(await authenticate(ras, { headers: { 'x-jwt': t }, path: '/' }, options)).toMatchObject({ kind: 'valid' });
      expect(await authenticate(ras, { headers: {}, path: `/a?access_token=${t}` }, options)).toMatchObject({
        kind: 'valid',
      });
      // Configured locations replace the default Authorization header.
      expect(await authenticate(ras, { headers: headers(t), path: '/' }, options)).toEqual({ kind: 'none' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('extracts with a prefix only when it matches', () => {
    const rule = { fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }] };
    expect(extractToken(rule, { authorization: 'Bearer abc' }, '/')).toBe('abc');
    expect(extractToken(rule, { authorization: 'Basic abc' }, '/')).toBeNull();
  });
});
