// A throwaway JWT issuer for tests: a JWKS to configure bearerJwtAuthenticator with, and Kubernetes-style service
// account tokens (the projected istio-token ztunnel sends, audience istio-ca).
import { randomUUID, sign, type JsonWebKey } from 'node:crypto';
import { systemClock, type Clock } from '@mesh/core';
import { generatePrivateKey } from '@mesh/spiffe';
import type { Jwks, JwtClaims } from '../grpc/jwt.js';

export interface ServiceAccountTokenOptions {
  namespace: string;
  serviceAccount: string;
  /** Bound token facts (Istio's node authorizer uses pod and node). */
  pod?: { name: string; uid?: string };
  node?: { name: string; uid?: string };
  /** Default istio-ca. */
  audience?: string | string[];
  /** Lifetime in milliseconds; default 1 hour. Negative values make expired tokens. */
  ttlMs?: number;
}

export interface TestTokenIssuer {
  readonly issuer: string;
  readonly jwks: Jwks;
  /** Signs arbitrary claims (ES256). `iat` and `exp` default to now and now + 1 h. */
  sign(claims: JwtClaims, options?: { kid?: string; header?: Record<string, unknown> }): string;
  /** A Kubernetes bound service account token. */
  serviceAccountToken(options: ServiceAccountTokenOptions): string;
}

export function createTestTokenIssuer(options: { issuer?: string; clock?: Clock } = {}): TestTokenIssuer {
  const clock = options.clock ?? systemClock;
  const issuer = options.issuer ?? 'https://kubernetes.default.svc.cluster.local';
  const privateKey = generatePrivateKey();
  const kid = randomUUID();
  const publicJwk = { ...(privateKey.export({ format: 'jwk' }) as JsonWebKey) };
  delete publicJwk.d;
  const jwks: Jwks = { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] };
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signClaims: TestTokenIssuer['sign'] = (claims, signOptions = {}) => {
    const now = Math.floor(clock.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', kid: signOptions.kid ?? kid, ...signOptions.header };
    const body = { iss: issuer, iat: now, exp: now + 3600, ...claims };
    const input = `${b64(header)}.${b64(body)}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
  return {
    issuer,
    jwks,
    sign: signClaims,
    serviceAccountToken(sa) {
      const now = Math.floor(clock.now() / 1000);
      return signClaims({
        aud: sa.audience ?? 'istio-ca',
        sub: `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`,
        exp: now + Math.round((sa.ttlMs ?? 3_600_000) / 1000),
        'kubernetes.io': {
          namespace: sa.namespace,
          serviceaccount: { name: sa.serviceAccount, uid: randomUUID() },
          ...(sa.pod ? { pod: { name: sa.pod.name, uid: sa.pod.uid ?? randomUUID() } } : {}),
          ...(sa.node ? { node: { name: sa.node.name, uid: sa.node.uid ?? randomUUID() } } : {}),
        },
      });
    },
  };
}
