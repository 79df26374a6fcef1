import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, MeshError } from '@mesh/core';
import { kubernetesCaller, verifyJwt } from './grpc/index.js';
import {
  loadTokenSigningKey,
  parseTokenSigningKey,
  readTokenPublicKeys,
  signServiceAccountToken,
  TOKEN_KEY_FILES,
} from './tokens.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-tokens-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const decode = (token: string) =>
  token
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);

describe('service account tokens', () => {
  it('creates sa.key (0600) and sa.pub once, and signs tokens in the bound token format that verify against sa.pub', async () => {
    const key = await loadTokenSigningKey({ dir, create: true });
    expect((await stat(join(dir, TOKEN_KEY_FILES.signingKey))).mode & 0o777).toBe(0o600);
    const again = await loadTokenSigningKey({ dir });
    expect(again.kid).toBe(key.kid);

    const clock = new ManualClock(Date.parse('2026-11-22T10:00:00Z'));
    const token = signServiceAccountToken(key, {
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      pod: { name: 'ztunnel-abc', uid: 'pod-uid' },
      node: { name: 'node-1' },
      ttlMs: 600_000,
      clock,
    });
    const [header, claims] = decode(token);
    expect(header).toEqual({ alg: 'ES256', kid: key.kid });
    expect(claims).toMatchObject({
      aud: ['istio-ca'],
      iss: 'https://kubernetes.default.svc.cluster.local',
      sub: 'system:serviceaccount:istio-system:ztunnel',
      iat: 1_795_341_600,
      nbf: 1_795_341_600,
      exp: 1_795_342_200,
      'kubernetes.io': {
        namespace: 'istio-system',
        serviceaccount: { name: 'ztunnel' },
        pod: { name: 'ztunnel-abc', uid: 'pod-uid' },
        node: { name: 'node-1' },
      },
    });
    expect(typeof claims!.jti).toBe('string');

    const jwks = await readTokenPublicKeys({ file: join(dir, TOKEN_KEY_FILES.publicKeys) });
    const verified = verifyJwt(token, { jwks, audiences: ['istio-ca'], now: clock.now() });
    expect(kubernetesCaller(verified)).toEqual({
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      podName: 'ztunnel-abc',
      podUid: 'pod-uid',
      nodeName: 'node-1',
    });
    expect(() => verifyJwt(token, { jwks, audiences: ['istio-ca'], now: clock.now() + 3_600_000 })).toThrow(/expired/);
  });

  it('concurrent creators end up with one key', async () => {
    const keys = await Promise.all(Array.from({ length: 4 }, () => loadTokenSigningKey({ dir, create: true })));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    const jwks = await readTokenPublicKeys({ file: join(dir, TOKEN_KEY_FILES.publicKeys) });
    expect(jwks.keys.map((k) => k.kid)).toEqual([keys[0]!.kid]);
  });

  it('refuses a missing key unless asked to create it', async () => {
    await expect(loadTokenSigningKey({ dir })).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CA_TOKEN_KEY_MISSING'));
  });

  it('accepts an RSA key (kubeadm sa.key), adds it to an existing sa.pub, and keeps older keys valid', async () => {
    const old = await loadTokenSigningKey({ dir, create: true });
    const oldToken = signServiceAccountToken(old, { namespace: 'a', serviceAccount: 'b' });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, TOKEN_KEY_FILES.signingKey), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const rsa = await loadTokenSigningKey({ dir });
    expect(rsa.alg).toBe('RS256');
    const token = signServiceAccountToken(rsa, { namespace: 'a', serviceAccount: 'b', audiences: ['x', 'istio-ca'] });
    const jwks = await readTokenPublicKeys({ file: join(dir, TOKEN_KEY_FILES.publicKeys) });
    expect(jwks.keys).toHaveLength(2);
    for (const t of [token, oldToken])
      expect(verifyJwt(t, { jwks, audiences: ['istio-ca'], now: Date.now() }).sub).toBe('system:serviceaccount:a:b');
  });

  it('refuses bad keys and bad names', async () => {
    await writeFile(join(dir, TOKEN_KEY_FILES.signingKey), 'not a key');
    await expect(loadTokenSigningKey({ dir })).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CA_TOKEN_KEY_INVALID'));
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => parseTokenSigningKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).toThrow(
      /ed25519 keys are not supported/,
    );
    const key = parseTokenSigningKey(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    expect(() => signServiceAccountToken(key, { namespace: 'Bad_NS', serviceAccount: 'x' })).toThrow(
      /not a Kubernetes object name/,
    );
    expect(() => signServiceAccountToken(key, { namespace: 'a', serviceAccount: 'x', ttlMs: 0 })).toThrow(/positive/);
    expect(await readFile(join(dir, TOKEN_KEY_FILES.signingKey), 'utf8')).toBe('not a key');
  });
});
