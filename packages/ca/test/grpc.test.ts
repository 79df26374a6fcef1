// The Istio CA gRPC service end to end in one process: a grpc-js server over TLS (serveIstioCa) and IstioCaClient,
// with bearer JWT, client certificate and impersonation (ztunnel's node rule) authentication.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IstioCertificateServiceDefinition } from '@mesh/api/istio.v1.auth';
import { MeshError } from '@mesh/core';
import { verifyX509Svid, type SpiffeId } from '@mesh/spiffe';
import type { IssueEvent } from '../src/authority.js';
import { memoryMetrics } from '../src/metrics.js';
import {
  bearerJwtAuthenticator,
  clientCertificateAuthenticator,
  IstioCaClient,
  serveIstioCa,
  type IstioCaServer,
} from '../src/grpc/index.js';
import { createTestCa, createTestTokenIssuer, type TestCa } from '../src/testing/index.js';

const SERVER_NAME = 'istiod.istio-system.svc';
/** Pods by node, as the impersonation callback sees the cluster. */
const pods: Record<string, string[]> = { 'node-1': ['default/web'], 'node-2': ['default/db'] };
const metrics = memoryMetrics();

describe('Istio CA gRPC service', () => {
  const tokens = createTestTokenIssuer();
  const events: IssueEvent[] = [];
  let test: TestCa;
  let server: IstioCaServer;
  const clients: IstioCaClient[] = [];

  const client = (options: { token?: string; cert?: { chainPem: string; keyPem: string } } = {}) => {
    const credentials = grpc.credentials.createSsl(
      Buffer.from(test.bundlePem),
      options.cert ? Buffer.from(options.cert.keyPem) : null,
      options.cert ? Buffer.from(options.cert.chainPem) : null,
    );
    const c = new IstioCaClient({
      address: server.address,
      credentials,
      ...(options.token ? { token: () => options.token! } : {}),
      clusterId: 'Kubernetes',
      channelOptions: { 'grpc.ssl_target_name_override': SERVER_NAME },
      timeoutMs: 10_000,
    });
    clients.push(c);
    return c;
  };
  const code = async (promise: Promise<unknown>) => {
    try {
      await promise;
      return 'ok';
    } catch (e) {
      if (!MeshError.is(e)) throw e;
      return e.code;
    }
  };

  beforeAll(async () => {
    test = createTestCa({ hooks: { onIssue: (e) => events.push(e) } });
    server = await serveIstioCa({
      ca: test.ca,
      metrics,
      dnsNames: [SERVER_NAME],
      authenticators: [
        clientCertificateAuthenticator({ ca: test.ca }),
        bearerJwtAuthenticator({ jwks: tokens.jwks, issuers: [tokens.issuer] }),
      ],
      impersonation: {
        trustedNodeAccounts: ['istio-system/ztunnel'],
        authorize: ({ caller, identity }: { caller: { kubernetes?: { nodeName?: string } }; identity: SpiffeId }) => {
          const [, , ns, , sa] = identity.path.split('/');
          return (pods[caller.kubernetes?.nodeName ?? ''] ?? []).includes(`${ns}/${sa}`);
        },
      },
    });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
    await test?.[Symbol.asyncDispose]();
  });

  it("issues a bearer-token caller's own identity: leaf first, root last", async () => {
    const token = tokens.serviceAccountToken({ namespace: 'default', serviceAccount: 'web' });
    const fetched = await client({ token }).fetchSvid({
      identity: 'spiffe://cluster.local/ns/default/sa/web',
      ttlMs: 3_600_000,
    });
    expect(fetched.svid.id.toString()).toBe('spiffe://cluster.local/ns/default/sa/web');
    expect(fetched.certChain).toHaveLength(2);
    expect(fetched.certChain.every((pem) => pem.endsWith('\n'))).toBe(true);
    expect(fetched.certChain[1]).toBe(test.bundlePem);
    expect(fetched.svid.leaf.notAfter - fetched.svid.leaf.notBefore).toBe(3_600_000 + 120_000);
    expect(verifyX509Svid(fetched.svid.chainPem(), test.bundle).id.path).toBe('/ns/default/sa/web');
    expect(events.at(-1)).toMatchObject({
      identity: 'spiffe://cluster.local/ns/default/sa/web',
      caller: 'spiffe://cluster.local/ns/default/sa/web',
    });
  });

  it('lets the node agent impersonate workloads on its own node only', async () => {
    const ztunnel = client({
      token: tokens.serviceAccountToken({
        namespace: 'istio-system',
        serviceAccount: 'ztunnel',
        pod: { name: 'ztunnel-abc' },
        node: { name: 'node-1' },
      }),
    });
    const web = await ztunnel.fetchSvid({ identity: 'spiffe://cluster.local/ns/default/sa/web', impersonate: true });
    expect(web.svid.id.toString()).toBe('spiffe://cluster.local/ns/default/sa/web');
    expect(events.at(-1)?.impersonatedBy).toBe('spiffe://cluster.local/ns/istio-system/sa/ztunnel');
    expect(
      await code(ztunnel.fetchSvid({ identity: 'spiffe://cluster.local/ns/default/sa/db', impersonate: true })),
    ).toBe('ERR_CA_IMPERSONATION_DENIED');
    const workload = client({
      token: tokens.serviceAccountToken({ namespace: 'default', serviceAccount: 'web', node: { name: 'node-1' } }),
    });
    expect(
      await code(workload.fetchSvid({ identity: 'spiffe://cluster.local/ns/default/sa/web', impersonate: true })),
    ).toBe('ERR_CA_IMPERSONATION_DENIED');
  });

  it('authenticates renewals by client certificate (an SVID of the mesh)', async () => {
    const first = test.issue({ namespace: 'default', serviceAccount: 'cache' });
    const renewed = await client({ cert: first }).fetchSvid({ identity: first.id });
    expect(renewed.svid.id.equals(first.id)).toBe(true);
    expect(renewed.svid.leaf.serialNumber).not.toBe(first.leaf.serialNumber);
  });

  it('refuses callers without valid credentials', async () => {
    const id = 'spiffe://cluster.local/ns/default/sa/web';
    expect(await code(client().fetchSvid({ identity: id }))).toBe('ERR_CA_UNAUTHENTICATED');
    const expired = tokens.serviceAccountToken({ namespace: 'default', serviceAccount: 'web', ttlMs: -3_600_000 });
    expect(await code(client({ token: expired }).fetchSvid({ identity: id }))).toBe('ERR_CA_UNAUTHENTICATED');
    const otherIssuer = createTestTokenIssuer().serviceAccountToken({ namespace: 'default', serviceAccount: 'web' });
    expect(await code(client({ token: otherIssuer }).fetchSvid({ identity: id }))).toBe('ERR_CA_UNAUTHENTICATED');
    // A certificate from another CA is not a mesh SVID.
    const stranger = createTestCa().issue({ namespace: 'default', serviceAccount: 'web' });
    expect(await code(client({ cert: stranger }).fetchSvid({ identity: id }))).toBe('ERR_CA_UNAUTHENTICATED');
    expect(metrics.counts.get('citadel_server_authentication_failure_count')).toBeGreaterThanOrEqual(4);
  });

  it('decides the identity from authentication, never from the CSR (the client notices)', async () => {
    const token = tokens.serviceAccountToken({ namespace: 'default', serviceAccount: 'web' });
    expect(
      await code(client({ token }).fetchSvid({ identity: 'spiffe://cluster.local/ns/kube-system/sa/admin' })),
    ).toBe('ERR_CA_IDENTITY_MISMATCH');
  });

  it('maps CA errors to gRPC statuses and back to codes', async () => {
    const token = tokens.serviceAccountToken({ namespace: 'default', serviceAccount: 'web' });
    const c = client({ token });
    expect(await code(c.createCertificate({ csr: 'not a csr' }))).toBe('ERR_CA_BAD_CSR');
    const ttl = await code(
      c.fetchSvid({ identity: 'spiffe://cluster.local/ns/default/sa/web', ttlMs: 100 * 86_400_000 }),
    );
    expect(ttl).toBe('ERR_CA_TTL_TOO_LONG');
    const aborted = new AbortController();
    aborted.abort();
    expect(await code(c.createCertificate({ csr: 'x', signal: aborted.signal }))).toBe('ERR_CORE_ABORTED');
  });

  it('speaks the wire contract to a plain grpc-js client', async () => {
    const Client = grpc.makeGenericClientConstructor(
      IstioCertificateServiceDefinition as unknown as grpc.ServiceDefinition,
      'IstioCertificateService',
    );
    const raw = new Client(server.address, grpc.credentials.createSsl(Buffer.from(test.bundlePem)), {
      'grpc.ssl_target_name_override': SERVER_NAME,
    }) as unknown as grpc.Client & {
      createCertificate(
        r: unknown,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, r?: { certChain: string[] }) => void,
      ): void;
    };
    const metadata = new grpc.Metadata();
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.createCertificate({ csr: 'x', validityDuration: 0 }, metadata, (e) => resolve(e)),
    );
    raw.close();
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(error?.details).toMatch(/^ERR_CA_UNAUTHENTICATED: request authenticate failure/);
  });
});

describe('Istio CA gRPC service with an intermediate', () => {
  it('returns leaf, intermediate, root', async () => {
    const tokens = createTestTokenIssuer();
    await using test = createTestCa({ intermediate: true, trustDomain: 'example.org' });
    await using server = await serveIstioCa({
      ca: test.ca,
      insecure: true,
      authenticators: [bearerJwtAuthenticator({ jwks: tokens.jwks, trustDomain: 'example.org' })],
    });
    await using c = new IstioCaClient({
      address: server.address,
      credentials: grpc.credentials.createInsecure(),
      token: tokens.serviceAccountToken({ namespace: 'ns', serviceAccount: 'sa' }),
    });
    const fetched = await c.fetchSvid({ identity: 'spiffe://example.org/ns/ns/sa/sa' });
    expect(fetched.certChain).toHaveLength(3);
    expect(fetched.svid.certificates).toHaveLength(2);
    expect(fetched.bundle.authorities[0]!.equals(test.ca.roots[0]!)).toBe(true);
  });
});
