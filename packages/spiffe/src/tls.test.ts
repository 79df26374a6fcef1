// Real node:tls handshakes between SVIDs: the options and verifiers of tls.ts against OpenSSL inside Node.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { testCa } from '../test/fixtures.js';
import { X509BundleSet } from './bundle.js';
import { SpiffeError } from './errors.js';
import type { SpiffeId } from './id.js';
import {
  authorizeAny,
  authorizeIds,
  authorizeIf,
  authorizeMemberOf,
  createPeerVerifier,
  tlsClientOptions,
  tlsServerOptions,
  type Authorizer,
} from './tls.js';
import type { X509Svid } from './svid.js';

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Outcome {
  client: { ok: boolean; error?: string; serverId?: string };
  server: { ok: boolean; error?: string; clientId?: string };
}

/** Runs one handshake; the server verifies the client in 'secureConnection' as tlsServerOptions documents. */
async function handshake(opts: {
  server: X509Svid;
  client: X509Svid;
  serverBundles: X509BundleSet;
  clientBundles: X509BundleSet;
  serverAuthorize: Authorizer;
  clientAuthorize: Authorizer;
}): Promise<Outcome> {
  const serverVerifier = createPeerVerifier({ bundles: opts.serverBundles, authorize: opts.serverAuthorize });
  const outcome: Outcome = { client: { ok: false }, server: { ok: false } };
  let serverDone!: () => void;
  const serverFinished = new Promise<void>((r) => (serverDone = r));
  const server = tls.createServer(
    tlsServerOptions({ svid: opts.server, bundles: opts.serverBundles, authorize: opts.serverAuthorize }),
    (socket) => {
      try {
        outcome.server = { ok: true, clientId: serverVerifier.verify(socket.getPeerCertificate(true)).id.toString() };
        socket.end('hello');
      } catch (e) {
        outcome.server = { ok: false, error: (e as SpiffeError).code };
        socket.destroy();
      }
      serverDone();
    },
  );
  server.on('tlsClientError', (e) => {
    outcome.server = { ok: false, error: e.message };
    serverDone();
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const clientOptions = tlsClientOptions({
    svid: opts.client,
    bundles: opts.clientBundles,
    authorize: opts.clientAuthorize,
  });
  await new Promise<void>((resolve) => {
    const socket = tls.connect({ ...clientOptions, host: '127.0.0.1', port, servername: 'ignored.example' });
    socket.on('secureConnect', () => {
      outcome.client = { ok: true };
    });
    socket.on('data', () => {});
    socket.on('error', (e) => {
      outcome.client = { ok: false, error: (e as SpiffeError).code ?? e.message };
      resolve();
    });
    socket.on('close', () => resolve());
  });
  if (outcome.client.ok) await serverFinished;
  return outcome;
}

describe('TLS with SVIDs', () => {
  const a = testCa('a.example');
  const b = testCa('b.example');
  const web = a.issue('spiffe://a.example/ns/default/sa/web');
  const db = a.issue('spiffe://a.example/ns/default/sa/db');
  const foreign = b.issue('spiffe://b.example/ns/default/sa/web');
  const onlyA = new X509BundleSet([a.bundle]);
  const both = new X509BundleSet([a.bundle, b.bundle]);

  it('succeeds between two SVIDs of the same trust domain, each side learning the other ID', async () => {
    const result = await handshake({
      server: db,
      client: web,
      serverBundles: onlyA,
      clientBundles: onlyA,
      serverAuthorize: authorizeMemberOf('a.example'),
      clientAuthorize: authorizeIds(db.id),
    });
    expect(result.client.ok).toBe(true);
    expect(result.server).toEqual({ ok: true, clientId: 'spiffe://a.example/ns/default/sa/web' });
  });

  it('fails across trust domains without federation', async () => {
    const result = await handshake({
      server: db,
      client: foreign,
      serverBundles: onlyA,
      clientBundles: new X509BundleSet([b.bundle]),
      serverAuthorize: authorizeAny(),
      clientAuthorize: authorizeAny(),
    });
    expect(result.client.ok).toBe(false);
    expect(result.server.ok).toBe(false);
  });

  it('with federated bundles, still checks that the ID is expected', async () => {
    const result = await handshake({
      server: db,
      client: foreign,
      serverBundles: both,
      clientBundles: both,
      serverAuthorize: authorizeMemberOf('a.example'),
      clientAuthorize: authorizeAny(),
    });
    // The server's OpenSSL only trusts a.example's CA (from the authorizer), so the foreign client is refused.
    expect(result.server.ok).toBe(false);

    const federated = await handshake({
      server: db,
      client: foreign,
      serverBundles: both,
      clientBundles: both,
      serverAuthorize: authorizeAny(),
      clientAuthorize: authorizeAny(),
    });
    expect(federated.server).toEqual({ ok: true, clientId: 'spiffe://b.example/ns/default/sa/web' });
  });

  it('the client refuses a valid server SVID with an unexpected ID', async () => {
    const result = await handshake({
      server: db,
      client: web,
      serverBundles: onlyA,
      clientBundles: onlyA,
      serverAuthorize: authorizeAny(),
      clientAuthorize: authorizeIds('spiffe://a.example/ns/default/sa/cache'),
    });
    expect(result.client).toEqual({ ok: false, error: 'ERR_SPIFFE_UNEXPECTED_ID' });
  });

  it('the server refuses a valid client SVID with an unexpected ID', async () => {
    const result = await handshake({
      server: db,
      client: web,
      serverBundles: onlyA,
      clientBundles: onlyA,
      serverAuthorize: authorizeIf((id: SpiffeId) => id.path.endsWith('/sa/frontend'), {
        description: 'the frontend',
        trustDomains: ['a.example'],
      }),
      clientAuthorize: authorizeAny(),
    });
    expect(result.server).toEqual({ ok: false, error: 'ERR_SPIFFE_UNEXPECTED_ID' });
  });

  it('a leaf of one domain signed by another domain CA fails even when OpenSSL trusts both CAs', () => {
    // OpenSSL accepts this chain (the CA is in `ca`); the SPIFFE check pins the bundle to the leaf's trust domain.
    const forged = b.issue('spiffe://a.example/ns/default/sa/db');
    const verifier = createPeerVerifier({ bundles: both, authorize: authorizeAny() });
    const peer = { raw: forged.leaf.der, issuerCertificate: { raw: b.cert.der } };
    expect(() => verifier.verify(peer)).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_UNKNOWN_ISSUER' }));
    expect(verifier.checkServerIdentity('x', peer)).toBeInstanceOf(SpiffeError);
    expect(() => verifier.verify({})).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_NO_PEER_CERTIFICATE' }));
  });
});
