import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { createTestCa, createTestTokenIssuer } from '../testing/index.js';
import { authenticate, bearerJwtAuthenticator, clientCertificateAuthenticator, kubernetesCaller } from './auth.js';

const headers = (token?: string) => new Map(token ? [['authorization', [`Bearer ${token}`]]] : []);
const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'ok';
  } catch (e) {
    if (!MeshError.is(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
};

describe('authenticators', () => {
  it('bearer tokens checked by a callback (a TokenReview), with the audiences passed along', async () => {
    const seen: Array<readonly string[]> = [];
    const auth = bearerJwtAuthenticator({
      trustDomain: 'mesh.example',
      verify: async (token, { audiences }) => {
        seen.push(audiences);
        if (token !== 'good') throw new Error('token review: not authenticated');
        return { sub: 'system:serviceaccount:prod:api' };
      },
    });
    const caller = await auth.authenticate({ metadata: headers('good') });
    expect(caller?.identities.map(String)).toEqual(['spiffe://mesh.example/ns/prod/sa/api']);
    expect(caller?.kubernetes).toEqual({ namespace: 'prod', serviceAccount: 'api' });
    expect(seen).toEqual([['istio-ca']]);
    expect(await failure(auth.authenticate({ metadata: headers('bad') }))).toMatch(
      /^ERR_CA_UNAUTHENTICATED: bearer token rejected: token review: not authenticated/,
    );
    expect(await auth.authenticate({ metadata: headers() })).toBeUndefined();
  });

  it('maps custom claims to identities, and refuses tokens without one', async () => {
    const tokens = createTestTokenIssuer();
    const auth = bearerJwtAuthenticator({
      jwks: tokens.jwks,
      audiences: ['mesh'],
      identity: (claims) => (claims.workload ? `spiffe://cluster.local/vm/${String(claims.workload)}` : undefined),
    });
    const vm = await auth.authenticate({ metadata: headers(tokens.sign({ aud: 'mesh', workload: 'db-1' })) });
    expect(vm?.identities.map(String)).toEqual(['spiffe://cluster.local/vm/db-1']);
    expect(await failure(auth.authenticate({ metadata: headers(tokens.sign({ aud: 'mesh' })) }))).toMatch(
      /ERR_CA_UNAUTHENTICATED: the token carries no service account/,
    );
    expect(() => bearerJwtAuthenticator({})).toThrow(expect.objectContaining({ code: 'ERR_CA_INVALID_OPTION' }));
    expect(kubernetesCaller({ sub: 'alice' })).toBeUndefined();
  });

  it('client certificates: chains completed with known intermediates; the first authenticator that accepts wins', async () => {
    const test = createTestCa({ intermediate: true });
    const svid = test.issue({ namespace: 'default', serviceAccount: 'vm' });
    const certAuth = clientCertificateAuthenticator({
      bundles: test.bundles,
      intermediates: () =>
        test.ca.material.intermediates.length ? test.ca.material.intermediates : [test.ca.signingCertificate],
    });
    const tokens = createTestTokenIssuer();
    const jwtAuth = bearerJwtAuthenticator({ jwks: tokens.jwks });
    const caller = await authenticate([certAuth, jwtAuth], {
      metadata: headers(tokens.serviceAccountToken({ namespace: 'other', serviceAccount: 'x' })),
      peerCertificates: [svid.leaf.der],
    });
    expect(caller.authenticator).toBe('client-certificate');
    expect(caller.identities.map(String)).toEqual(['spiffe://cluster.local/ns/default/sa/vm']);
    const withoutIntermediates = clientCertificateAuthenticator({ bundles: test.bundles });
    expect(
      await failure(authenticate([withoutIntermediates], { metadata: headers(), peerCertificates: [svid.leaf.der] })),
    ).toMatch(/client-certificate: client certificate rejected: ERR_SPIFFE_UNKNOWN_ISSUER/);
    expect(await failure(authenticate([], { metadata: headers() }))).toMatch(/no authenticators/);
    expect(() => clientCertificateAuthenticator({})).toThrow(
      expect.objectContaining({ code: 'ERR_CA_INVALID_OPTION' }),
    );
  });
});
