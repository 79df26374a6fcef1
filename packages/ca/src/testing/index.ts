// @mesh/ca/testing: a throwaway in-memory CA for tests. One call makes a CA; one call issues an SVID and gives back
// everything a test needs: PEM chain, PEM key, PEM bundle, parsed objects, and ready TLS options.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '@mesh/core';
import {
  type Authorizer,
  authorizeMemberOf,
  type Certificate,
  createCertificate,
  generatePrivateKey,
  istioIdentity,
  type KeyType,
  privateKeyToPem,
  SpiffeId,
  type SvidTlsClientOptions,
  type SvidTlsServerOptions,
  tlsClientOptions,
  tlsServerOptions,
  type TrustDomain,
  type X509Bundle,
  X509BundleSet,
  X509Svid,
} from '@mesh/spiffe';
import { CertificateAuthority, type CertificateAuthorityOptions } from '../authority.js';
import { parseDuration } from '../duration.js';

export interface TestCaOptions extends Omit<CertificateAuthorityOptions, 'trustDomain'> {
  /** Default cluster.local. */
  trustDomain?: string;
  /** Root key type; default ec (fast). */
  keyType?: 'ec' | 'rsa';
  /** Issue through an intermediate CA (the response chain then has leaf, intermediate, root). */
  intermediate?: boolean;
  clock?: Clock;
}

/** Who to issue for: a SPIFFE ID, or an Istio namespace/service account in the CA's trust domain. */
export type TestIdentity = SpiffeId | string | { namespace: string; serviceAccount: string };

export interface TestIssueOptions {
  /** Lifetime in milliseconds or as a duration string (`90s`, `1h`); default 1 hour. */
  ttl?: number | string;
  dnsNames?: readonly string[];
  keyType?: KeyType;
}

export interface TestSvid {
  readonly id: SpiffeId;
  readonly svid: X509Svid;
  readonly leaf: Certificate;
  readonly privateKey: KeyObject;
  /** Leaf and intermediates, PEM (what the workload presents). */
  readonly chainPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** The CA roots, PEM. */
  readonly bundlePem: string;
  readonly bundle: X509Bundle;
  /** Istio's cert_chain: leaf first, roots last. */
  readonly certChain: readonly string[];
  /** `tls.connect` options presenting this SVID; accepts servers of the CA's trust domain unless told otherwise. */
  clientTls(authorize?: Authorizer): SvidTlsClientOptions;
  /** `tls.createServer` options presenting this SVID and requiring client certificates of the CA's roots. */
  serverTls(authorize?: Authorizer): SvidTlsServerOptions;
}

export interface TestCa extends AsyncDisposable {
  readonly ca: CertificateAuthority;
  readonly trustDomain: TrustDomain;
  readonly bundle: X509Bundle;
  readonly bundlePem: string;
  /** A bundle set holding this CA's bundle, for verifiers. */
  readonly bundles: X509BundleSet;
  /** Issues an SVID through the real signing path (CSR, policy, profile). */
  issue(identity: TestIdentity, options?: TestIssueOptions): TestSvid;
  /**
   * Makes a leaf with any validity, bypassing the CA's policy: for tests of expired or not-yet-valid peers.
   * Times are epoch milliseconds.
   */
  issueWithValidity(identity: TestIdentity, validity: { notBefore: number; notAfter: number }): TestSvid;
}

/** A fresh in-memory CA (ECDSA P-256 root, ~1 ms). Nothing touches the disk. */
export function createTestCa(options: TestCaOptions = {}): TestCa {
  const clock = options.clock ?? systemClock;
  const root = CertificateAuthority.selfSigned({
    ...options,
    clock,
    trustDomain: options.trustDomain ?? 'cluster.local',
  });
  const ca = options.intermediate
    ? CertificateAuthority.fromMaterial(root.createIntermediate(), {
        ...options,
        clock,
        trustDomain: root.trustDomain,
      })
    : root;
  const td = ca.trustDomain;
  const toId = (identity: TestIdentity): SpiffeId =>
    typeof identity === 'object' && !(identity instanceof SpiffeId)
      ? istioIdentity({ trustDomain: td, ...identity })
      : SpiffeId.parse(identity);

  const wrap = (id: SpiffeId, svid: X509Svid, privateKey: KeyObject, certChain: readonly string[]): TestSvid => {
    const bundle = ca.bundle;
    const bundles = new X509BundleSet([bundle]);
    return {
      id,
      svid,
      leaf: svid.leaf,
      privateKey,
      chainPem: svid.chainPem(),
      keyPem: privateKeyToPem(privateKey),
      bundlePem: bundle.toPem(),
      bundle,
      certChain,
      clientTls: (authorize = authorizeMemberOf(td)) => tlsClientOptions({ svid, bundles, authorize }),
      serverTls: (authorize = authorizeMemberOf(td)) => tlsServerOptions({ svid, bundles, authorize }),
    };
  };

  return {
    ca,
    trustDomain: td,
    get bundle() {
      return ca.bundle;
    },
    get bundlePem() {
      return ca.rootCertPem;
    },
    get bundles() {
      return new X509BundleSet([ca.bundle]);
    },
    issue(identity, issueOptions = {}) {
      const id = toId(identity);
      const ttl =
        issueOptions.ttl === undefined
          ? 3_600_000
          : typeof issueOptions.ttl === 'string'
            ? parseDuration(issueOptions.ttl)
            : issueOptions.ttl;
      const issued = ca.issue({
        identity: id,
        ttlMs: ttl,
        caller: 'test',
        ...(issueOptions.dnsNames ? { dnsNames: issueOptions.dnsNames } : {}),
        ...(issueOptions.keyType ? { keyType: issueOptions.keyType } : {}),
      });
      return wrap(id, issued.svid!, issued.privateKey, issued.certChain);
    },
    issueWithValidity(identity, validity) {
      const id = toId(identity);
      const privateKey = generatePrivateKey();
      const { signingCert, signingKey, intermediates } = ca.material;
      const leaf = createCertificate(
        {
          publicKey: createPublicKey(privateKey),
          notBefore: validity.notBefore,
          notAfter: validity.notAfter,
          uris: [id],
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          extKeyUsage: ['serverAuth', 'clientAuth'],
        },
        { signingKey, issuer: signingCert },
      );
      const isRoot = ca.roots.some((r) => r.equals(signingCert));
      const chain = [leaf, ...(isRoot ? [] : [signingCert, ...intermediates])];
      const svid = X509Svid.parse({ certificates: chain, privateKey });
      return wrap(id, svid, privateKey, [...chain.map((c) => c.toPem()), ca.rootCertPem]);
    },
    async [Symbol.asyncDispose]() {
      ca.close();
      if (ca !== root) root.close();
    },
  };
}

export { createTestTokenIssuer, type ServiceAccountTokenOptions, type TestTokenIssuer } from './tokens.js';
