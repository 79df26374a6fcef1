import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@mesh/core';
import { createTestTokenIssuer } from '../testing/tokens.js';
import { JwtError, verifyJwt } from './jwt.js';

const start = Date.parse('2026-06-01T00:00:00Z');

describe('verifyJwt', () => {
  const clock = new ManualClock(start);
  const issuer = createTestTokenIssuer({ clock });
  const options = { jwks: issuer.jwks, audiences: ['istio-ca'], now: start };
  const reason = (token: string, overrides: Partial<typeof options> & { issuers?: string[] } = {}) => {
    try {
      verifyJwt(token, { ...options, ...overrides });
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(JwtError);
      return (e as Error).message;
    }
  };

  it('accepts a valid ES256 service account token and returns its claims', () => {
    const token = issuer.serviceAccountToken({
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      node: { name: 'n1' },
    });
    const claims = verifyJwt(token, { ...options, issuers: [issuer.issuer] });
    expect(claims.sub).toBe('system:serviceaccount:istio-system:ztunnel');
    expect((claims['kubernetes.io'] as { node: { name: string } }).node.name).toBe('n1');
  });

  it('accepts RS256 keys from the JWKS', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'rsa-1' };
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ alg: 'RS256', kid: 'rsa-1' })}.${b64({ aud: ['other', 'istio-ca'], exp: start / 1000 + 60 })}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }))).toString('base64url')}`;
    expect(verifyJwt(token, { ...options, jwks: { keys: [jwk] } }).aud).toEqual(['other', 'istio-ca']);
  });

  it('rejects expired, wrong-audience, wrong-issuer, tampered, unsigned and HMAC tokens', () => {
    const sa = { namespace: 'a', serviceAccount: 'b' };
    expect(reason(issuer.serviceAccountToken({ ...sa, ttlMs: -120_000 }))).toBe('token expired');
    expect(reason(issuer.serviceAccountToken({ ...sa, ttlMs: -30_000 }))).toBe('ok'); // inside the 60 s leeway
    expect(reason(issuer.serviceAccountToken({ ...sa, audience: 'kubernetes' }))).toMatch(/audience/);
    expect(reason(issuer.serviceAccountToken(sa), { issuers: ['https://elsewhere'] })).toMatch(/issuer/);
    expect(reason(issuer.sign({ aud: 'istio-ca', exp: undefined as unknown as number }))).toBe('exp is missing');
    expect(reason(issuer.sign({ aud: 'istio-ca', nbf: start / 1000 + 3600 }))).toBe('token not valid yet');
    const token = issuer.serviceAccountToken(sa);
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(
      JSON.stringify({ ...payload, sub: 'system:serviceaccount:istio-system:ztunnel' }),
    ).toString('base64url');
    expect(reason(`${h}.${forged}.${s}`)).toBe('signature does not verify');
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(reason(`${none}.${p}.`)).toMatch(/not accepted/);
    const hs = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');
    expect(reason(`${hs}.${p}.${s}`)).toMatch(/not accepted/);
    expect(reason(issuer.sign({ aud: 'istio-ca' }, { kid: 'unknown' }))).toMatch(/no key with kid/);
    expect(reason('a.b')).toMatch(/compact JWS/);
    expect(reason('!!.b.c')).toMatch(/base64url/);
  });
});
