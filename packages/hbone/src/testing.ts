// `@mesh/hbone/testing`: what tests of HBONE users need — a throwaway PKI issuing SVIDs, a TCP echo server, and a
// loopback HBONE pair (server on 127.0.0.1:0 + pool) with everything wired. Not for production: keys are made on the
// fly and never protected.
import { createPublicKey } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import {
  createCertificate,
  generatePrivateKey,
  istioIdentity,
  SpiffeId,
  X509Bundle,
  X509BundleSet,
  X509Svid,
  type Certificate,
} from '@mesh/spiffe';
import { createHbonePool, type HbonePool, type HbonePoolOptions } from './client.js';
import { createHboneServer, type HboneHandler, type HboneServer, type HboneServerOptions } from './server.js';

export interface TestPki {
  readonly trustDomain: string;
  /** The root certificate (PEM). */
  readonly rootPem: string;
  readonly bundle: X509Bundle;
  /** A live set holding `bundle` (add federated bundles to it). */
  readonly bundles: X509BundleSet;
  /**
   * Issues an SVID (ECDSA P-256, with its key) for a SPIFFE ID, `spiffe://<td>/ns/<ns>/sa/<sa>` from
   * `{ namespace, serviceAccount }`, or a path like `/ns/default/sa/web`.
   */
  issue(
    identity: string | { namespace: string; serviceAccount: string },
    options?: { notBefore?: number; notAfter?: number },
  ): X509Svid;
}

/** A throwaway certificate authority for one trust domain (default `cluster.local`). */
export function createTestPki(options: { trustDomain?: string; now?: number } = {}): TestPki {
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const now = options.now ?? Date.now();
  const rootKey = generatePrivateKey();
  const root: Certificate = createCertificate(
    {
      publicKey: createPublicKey(rootKey),
      subject: [
        ['O', trustDomain],
        ['CN', 'mesh test root'],
      ],
      notBefore: now - 3_600_000,
      notAfter: now + 30 * 86_400_000,
      basicConstraints: { ca: true, critical: true },
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris: [`spiffe://${trustDomain}`],
    },
    { signingKey: rootKey },
  );
  const bundle = X509Bundle.fromPem(trustDomain, root.toPem());
  return {
    trustDomain,
    rootPem: root.toPem(),
    bundle,
    bundles: new X509BundleSet([bundle]),
    issue(identity, issueOptions = {}) {
      const id =
        typeof identity === 'string'
          ? identity.startsWith('spiffe://')
            ? SpiffeId.parse(identity)
            : SpiffeId.parse(`spiffe://${trustDomain}${identity}`)
          : istioIdentity({ ...identity, trustDomain });
      const key = generatePrivateKey();
      const leaf = createCertificate(
        {
          publicKey: createPublicKey(key),
          notBefore: issueOptions.notBefore ?? now - 60_000,
          notAfter: issueOptions.notAfter ?? now + 86_400_000,
          uris: [id],
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          extKeyUsage: ['serverAuth', 'clientAuth'],
        },
        { signingKey: rootKey, issuer: root },
      );
      return X509Svid.parse({ certificates: [leaf], privateKey: key });
    },
  };
}

export interface EchoServer extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** `host:port` */
  readonly address: string;
  readonly server: Server;
}

/**
 * A TCP echo server on 127.0.0.1:0 that honours half-close: it echoes until the client ends its side, then ends its
 * own.
 */
export async function startEchoServer(options: { host?: string } = {}): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    server,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface LoopbackHbone extends AsyncDisposable {
  readonly pki: TestPki;
  readonly server: HboneServer;
  readonly pool: HbonePool;
  /** `127.0.0.1:<port>`: pass as `via`. */
  readonly via: string;
  readonly serverIdentity: string;
  readonly clientIdentity: string;
}

/**
 * An HBONE server on 127.0.0.1:0 and a pool whose client trusts it: server identity
 * `spiffe://<td>/ns/default/sa/server`, client `…/sa/client`. The handler defaults to forwarding to the authority.
 */
export async function startLoopbackHbone(
  options: {
    trustDomain?: string;
    handler?: HboneHandler;
    server?: Partial<Omit<HboneServerOptions, 'certificate' | 'bundles' | 'handler'>>;
    pool?: Partial<Omit<HbonePoolOptions, 'certificate' | 'bundles'>>;
  } = {},
): Promise<LoopbackHbone> {
  const pki = createTestPki(options.trustDomain ? { trustDomain: options.trustDomain } : {});
  const serverSvid = pki.issue('/ns/default/sa/server');
  const clientSvid = pki.issue('/ns/default/sa/client');
  const server = createHboneServer({
    ...options.server,
    certificate: () => serverSvid,
    bundles: pki.bundles,
    handler: options.handler ?? (() => ({ action: 'forward' })),
  });
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  const pool = createHbonePool({ ...options.pool, certificate: () => clientSvid, bundles: pki.bundles });
  return {
    pki,
    server,
    pool,
    via: `127.0.0.1:${port}`,
    serverIdentity: serverSvid.id.toString(),
    clientIdentity: clientSvid.id.toString(),
    async [Symbol.asyncDispose]() {
      await pool.destroy();
      await server.destroy();
    },
  };
}
