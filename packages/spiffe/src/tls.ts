// node:tls helpers without importing node:tls (this is a domain package): plain option objects for
// tls.connect / tls.createServer / tls.createSecureContext / http2, and peer verifiers that accept a peer only when its
// chain verifies as an X.509-SVID of its own trust domain and its ID is authorized.
import type { Clock } from '@mesh/core';
import { X509Bundle, type X509BundleSet, type X509BundleSource } from './bundle.js';
import { SpiffeError } from './errors.js';
import { SpiffeId, TrustDomain } from './id.js';
import { CertificateCache, verifyX509Svid, type VerifiedX509Svid, type X509Svid } from './svid.js';

/** Decides whether an authenticated peer ID is acceptable. `trustDomains`, when set, lists every domain it accepts. */
export interface Authorizer {
  (id: SpiffeId): boolean;
  readonly trustDomains?: readonly TrustDomain[];
  readonly description: string;
}

function authorizer(
  fn: (id: SpiffeId) => boolean,
  description: string,
  trustDomains?: readonly TrustDomain[],
): Authorizer {
  return Object.assign(fn, { description, ...(trustDomains ? { trustDomains } : {}) });
}

/** Any SVID that verifies against the bundles (authentication only: authorize elsewhere). */
export function authorizeAny(): Authorizer {
  return authorizer(() => true, 'any SPIFFE ID');
}

/** Only the given IDs. */
export function authorizeIds(...ids: Array<SpiffeId | string>): Authorizer {
  const allowed = new Set(ids.map((id) => SpiffeId.parse(id).toString()));
  const tds = [...new Set(ids.map((id) => SpiffeId.parse(id).trustDomain.name))].map((n) => TrustDomain.parse(n));
  return authorizer((id) => allowed.has(id.toString()), `one of ${[...allowed].join(', ')}`, tds);
}

/** Any ID in the given trust domains. */
export function authorizeMemberOf(...trustDomains: Array<TrustDomain | string>): Authorizer {
  const tds = trustDomains.map((td) => TrustDomain.parse(td));
  const names = new Set(tds.map((td) => td.name));
  return authorizer((id) => names.has(id.trustDomain.name), `a member of ${[...names].join(', ')}`, tds);
}

/** A custom rule; pass `trustDomains` so TLS options only trust the CAs of those domains. */
export function authorizeIf(
  predicate: (id: SpiffeId) => boolean,
  options: { description?: string; trustDomains?: ReadonlyArray<TrustDomain | string> } = {},
): Authorizer {
  return authorizer(
    predicate,
    options.description ?? 'a custom rule',
    options.trustDomains?.map((td) => TrustDomain.parse(td)),
  );
}

/**
 * What node:tls gives for a peer: `socket.getPeerCertificate(true)` (a DetailedPeerCertificate) or
 * `socket.getPeerX509Certificate()`. Only `raw` and the `issuerCertificate` links are read.
 */
export interface PeerCertificateLike {
  readonly raw?: Uint8Array;
  readonly issuerCertificate?: PeerCertificateLike | null;
}

/** The DER chain of a TLS peer, leaf first, following issuerCertificate links until they end or loop. */
export function peerCertificateChain(peer: PeerCertificateLike | null | undefined): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<PeerCertificateLike>();
  for (let cert = peer; cert && !seen.has(cert) && chain.length < 16; cert = cert.issuerCertificate) {
    seen.add(cert);
    if (!cert.raw || cert.raw.length === 0) break;
    const der = Buffer.from(cert.raw);
    if (chain.some((c) => c.equals(der))) break;
    chain.push(der);
  }
  return chain;
}

export interface PeerVerifierOptions {
  /** The bundles peers are verified against (each by the leaf's own trust domain). Live: updates apply at once. */
  bundles: X509BundleSource;
  /** Which verified IDs to accept. */
  authorize: Authorizer;
  clock?: Clock;
}

export interface PeerVerifier {
  /** Verifies and authorizes a TLS peer; throws SpiffeError (ERR_SPIFFE_UNEXPECTED_ID when the ID is not accepted). */
  verify(peer: PeerCertificateLike | null | undefined): VerifiedX509Svid;
  /**
   * For tls.connect's `checkServerIdentity`: returns an Error (failing the handshake) unless the server's chain is a
   * valid, authorized SVID. The host name is ignored: SPIFFE authenticates by ID, not DNS name.
   */
  checkServerIdentity(hostname: string, peer: PeerCertificateLike): Error | undefined;
}

export function createPeerVerifier(options: PeerVerifierOptions): PeerVerifier {
  // Peers present the same intermediates on every handshake: keep them parsed (with their imported keys).
  const cache = new CertificateCache();
  const verify = (peer: PeerCertificateLike | null | undefined): VerifiedX509Svid => {
    const chain = peerCertificateChain(peer);
    if (chain.length === 0)
      throw new SpiffeError('ERR_SPIFFE_NO_PEER_CERTIFICATE', 'the peer presented no certificate');
    const verified = verifyX509Svid(chain, options.bundles, {
      cache,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    if (!options.authorize(verified.id))
      throw new SpiffeError(
        'ERR_SPIFFE_UNEXPECTED_ID',
        `peer ${verified.id.toString()} is not ${options.authorize.description}`,
        { details: { id: verified.id.toString() } },
      );
    return verified;
  };
  return {
    verify,
    checkServerIdentity(_hostname, peer) {
      try {
        verify(peer);
        return undefined;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    },
  };
}

/** Verifies a TLS peer once (see createPeerVerifier). */
export function verifyPeerCertificate(
  peer: PeerCertificateLike | null | undefined,
  options: PeerVerifierOptions,
): VerifiedX509Svid {
  return createPeerVerifier(options).verify(peer);
}

export interface SvidTlsOptions {
  /** Our own SVID, with its private key. */
  svid: X509Svid;
  /** Trusted bundles: one bundle (the local trust domain) or a set (federation). */
  bundles: X509Bundle | X509BundleSet;
  /** Which peer IDs to accept. */
  authorize: Authorizer;
  clock?: Clock;
}

/** The SecureContextOptions part shared by clients and servers: our chain and key, and the CAs to trust. */
export interface SvidSecureContextOptions {
  cert: string;
  key: string;
  ca: string[];
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * Options for `tls.createSecureContext`: our SVID chain and key, and as `ca` the authorities of the trust domains the
 * authorizer accepts (all bundles when it does not say). OpenSSL verifies against these; the SPIFFE checks (the bundle
 * of the peer's own trust domain, the leaf rules, the ID) come from the verifier.
 */
export function svidSecureContextOptions(options: SvidTlsOptions): SvidSecureContextOptions {
  const bundles: X509Bundle[] = options.bundles instanceof X509Bundle ? [options.bundles] : [...options.bundles];
  const tds = options.authorize.trustDomains;
  const trusted = tds ? bundles.filter((b) => tds.some((td) => td.equals(b.trustDomain))) : bundles;
  return {
    cert: options.svid.chainPem(),
    key: options.svid.keyPem(),
    ca: trusted.flatMap((b) => b.authorities.map((c) => c.toPem())),
    minVersion: 'TLSv1.2',
  };
}

export interface SvidTlsClientOptions extends SvidSecureContextOptions {
  rejectUnauthorized: true;
  checkServerIdentity: (hostname: string, peer: PeerCertificateLike) => Error | undefined;
}

/** Options for `tls.connect` / `http2.connect`: present our SVID and accept only an authorized server SVID. */
export function tlsClientOptions(options: SvidTlsOptions): SvidTlsClientOptions {
  const verifier = createPeerVerifier(peerOptions(options));
  return {
    ...svidSecureContextOptions(options),
    rejectUnauthorized: true,
    checkServerIdentity: verifier.checkServerIdentity,
  };
}

export interface SvidTlsServerOptions extends SvidSecureContextOptions {
  requestCert: true;
  rejectUnauthorized: true;
}

/**
 * Options for `tls.createServer` / `http2.createSecureServer`: present our SVID and require a client certificate that
 * chains to a trusted CA. Node has no server-side identity hook, so check each connection with
 * `verifyPeerCertificate(socket.getPeerCertificate(true), …)` (or a PeerVerifier) in 'secureConnection' and destroy
 * the socket when it throws.
 */
export function tlsServerOptions(options: SvidTlsOptions): SvidTlsServerOptions {
  return { ...svidSecureContextOptions(options), requestCert: true, rejectUnauthorized: true };
}

function peerOptions(options: SvidTlsOptions): PeerVerifierOptions {
  return {
    bundles: options.bundles,
    authorize: options.authorize,
    ...(options.clock ? { clock: options.clock } : {}),
  };
}
