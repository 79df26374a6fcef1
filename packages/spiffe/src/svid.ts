// X.509-SVIDs: parsing your own (X509-SVID §3-§4) and verifying a peer's against the bundle of its trust domain
// (X509-SVID §5: RFC 5280 path validation plus the SPIFFE leaf checks). The path validation is our own: OpenSSL is
// not reachable from here, and @peculiar/x509's chain builder checks neither CA flags nor key usage nor path length.
import type { KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '@mesh/core';
import type { X509BundleSource } from './bundle.js';
import { SpiffeError, type SpiffeErrorCode } from './errors.js';
import { SpiffeId } from './id.js';
import { keyMatchesPublicKeyInfo, parsePrivateKey, privateKeyToPem } from './keys.js';
import { type Certificate, parseCertificates, type GeneralSubtree } from './x509/certificate.js';
import { parseIp } from './x509/name.js';
import { handledExtensions } from './x509/oids.js';

export type CertificatesInput = string | Uint8Array | ReadonlyArray<string | Uint8Array | Certificate>;

/** The default bound on certificates in a presented chain and in a built path. */
export const DEFAULT_MAX_CHAIN_LENGTH = 8;
const MAX_SIGNATURE_CHECKS = 32;

function error(code: SpiffeErrorCode, message: string, details?: Record<string, unknown>): SpiffeError {
  return new SpiffeError(code, message, details ? { details } : {});
}

const describe = (cert: Certificate) => cert.uris[0] ?? (cert.subject.toString() || `serial ${cert.serialNumber}`);

/** The SPIFFE ID of a leaf: its one URI SAN (X509-SVID §2). */
export function spiffeIdOf(cert: Certificate): SpiffeId {
  const uris = cert.uris;
  if (uris.length === 0) throw error('ERR_SPIFFE_NO_URI_SAN', 'certificate has no URI SAN, so no SPIFFE ID');
  if (uris.length > 1)
    throw error('ERR_SPIFFE_MULTIPLE_URI_SANS', `certificate has ${uris.length} URI SANs; an SVID has exactly one`, {
      uris,
    });
  return SpiffeId.parse(uris[0]!);
}

/** The SPIFFE leaf rules (X509-SVID §3.1, §4.1, §4.3, §4.4, §5.2); returns the leaf's ID. */
export function checkLeaf(leaf: Certificate): SpiffeId {
  const id = spiffeIdOf(leaf);
  if (id.path === '')
    throw error('ERR_SPIFFE_LEAF_ROOT_PATH', `leaf SPIFFE ID ${id.toString()} has no path`, { id: id.toString() });
  if (leaf.isCA) throw error('ERR_SPIFFE_LEAF_IS_CA', 'leaf certificate has cA=true');
  const ku = leaf.keyUsage;
  if (!ku) throw error('ERR_SPIFFE_LEAF_KEY_USAGE', 'leaf certificate has no keyUsage extension');
  if (!ku.critical) throw error('ERR_SPIFFE_LEAF_KEY_USAGE', 'leaf keyUsage extension is not critical');
  if (ku.usages.has('keyCertSign')) throw error('ERR_SPIFFE_LEAF_KEY_USAGE', 'leaf keyUsage has keyCertSign');
  if (ku.usages.has('cRLSign')) throw error('ERR_SPIFFE_LEAF_KEY_USAGE', 'leaf keyUsage has cRLSign');
  if (!ku.usages.has('digitalSignature'))
    throw error('ERR_SPIFFE_LEAF_KEY_USAGE', 'leaf keyUsage does not have digitalSignature');
  const eku = leaf.extKeyUsage;
  if (eku && !(eku.names.includes('serverAuth') && eku.names.includes('clientAuth')))
    throw error(
      'ERR_SPIFFE_LEAF_EXT_KEY_USAGE',
      `leaf extKeyUsage ${eku.names.join(', ')} lacks serverAuth or clientAuth`,
    );
  if (leaf.subject.isEmpty && !leaf.subjectAltName?.critical)
    throw error('ERR_SPIFFE_SAN_NOT_CRITICAL', 'leaf has an empty subject and a non-critical subjectAltName');
  return id;
}

/** Checks a certificate that signs another one in a chain (X509-SVID §3.2, §4.1, §4.3). */
function checkSigner(cert: Certificate): void {
  if (!cert.isCA) throw error('ERR_SPIFFE_SIGNER_NOT_CA', `${describe(cert)} signs a certificate but is not a CA`);
  if (!cert.keyUsage?.usages.has('keyCertSign'))
    throw error(
      'ERR_SPIFFE_SIGNER_KEY_USAGE',
      `${describe(cert)} signs a certificate but has no keyCertSign key usage`,
    );
  for (const uri of cert.uris) {
    const id = SpiffeId.tryParse(uri);
    if (id && id.path !== '')
      throw error('ERR_SPIFFE_SIGNER_ID_HAS_PATH', `signing certificate has SPIFFE ID ${id.toString()} with a path`);
  }
}

function checkValidity(cert: Certificate, at: number): void {
  if (at < cert.notBefore)
    throw error(
      'ERR_SPIFFE_NOT_YET_VALID',
      `${describe(cert)} is not valid before ${new Date(cert.notBefore).toISOString()}`,
      {
        notBefore: new Date(cert.notBefore).toISOString(),
        at: new Date(at).toISOString(),
      },
    );
  if (at > cert.notAfter)
    throw error('ERR_SPIFFE_EXPIRED', `${describe(cert)} expired at ${new Date(cert.notAfter).toISOString()}`, {
      notAfter: new Date(cert.notAfter).toISOString(),
      at: new Date(at).toISOString(),
    });
}

function checkCriticalExtensions(cert: Certificate): void {
  for (const ext of cert.extensions)
    if (ext.critical && !handledExtensions.has(ext.oid))
      throw error(
        'ERR_SPIFFE_UNHANDLED_CRITICAL_EXTENSION',
        `${describe(cert)} has unhandled critical extension ${ext.oid}`,
        {
          oid: ext.oid,
        },
      );
}

// ---- name constraints (RFC 5280 §4.2.1.10) ----

function hostOfUri(uri: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/.exec(uri);
  return match?.[1]?.toLowerCase();
}

function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith(`.${c}`);
}

function uriMatches(uri: string, constraint: string): boolean {
  const host = hostOfUri(uri);
  if (host === undefined || host === '') return false;
  const c = constraint.toLowerCase();
  return c.startsWith('.') ? host.endsWith(c) : host === c;
}

function emailMatches(email: string, constraint: string): boolean {
  const at = email.lastIndexOf('@');
  const domain = email.slice(at + 1).toLowerCase();
  const c = constraint.toLowerCase();
  if (c.includes('@')) return email.toLowerCase() === c;
  return c.startsWith('.') ? domain.endsWith(c) : domain === c;
}

function ipMatches(ip: string, subtree: { address: Uint8Array; mask: Uint8Array }): boolean {
  const bytes = parseIp(ip);
  if (!bytes || bytes.length !== subtree.address.length) return false;
  return bytes.every((b, i) => (b & subtree.mask[i]!) === (subtree.address[i]! & subtree.mask[i]!));
}

function nameMatches(type: string, name: string, subtree: GeneralSubtree): boolean {
  if (subtree.type !== type) return false;
  switch (subtree.type) {
    case 'uri':
      return uriMatches(name, subtree.value);
    case 'dns':
      return dnsMatches(name, subtree.value);
    case 'email':
      return emailMatches(name, subtree.value);
    case 'ip':
      return ipMatches(name, subtree);
    default:
      return false;
  }
}

function checkNameConstraints(ca: Certificate, subject: Certificate): void {
  const nc = ca.nameConstraints;
  if (!nc) return;
  const unsupported = [...nc.permitted, ...nc.excluded].find((s) => s.type === 'other');
  if (unsupported)
    throw error('ERR_SPIFFE_NAME_CONSTRAINTS', `${describe(ca)} has a name constraint of an unsupported type`);
  const names: Array<[string, string]> = [
    ...subject.uris.map((n): [string, string] => ['uri', n]),
    ...subject.dnsNames.map((n): [string, string] => ['dns', n]),
    ...subject.ipAddresses.map((n): [string, string] => ['ip', n]),
    ...(subject.subjectAltName?.emails ?? []).map((n): [string, string] => ['email', n]),
  ];
  for (const [type, name] of names) {
    const excluded = nc.excluded.find((s) => nameMatches(type, name, s));
    if (excluded)
      throw error('ERR_SPIFFE_NAME_CONSTRAINTS', `${name} is excluded by a name constraint of ${describe(ca)}`, {
        name,
      });
    const permittedOfType = nc.permitted.filter((s) => s.type === type);
    if (permittedOfType.length > 0 && !permittedOfType.some((s) => nameMatches(type, name, s)))
      throw error('ERR_SPIFFE_NAME_CONSTRAINTS', `${name} is outside the permitted names of ${describe(ca)}`, { name });
  }
}

/** RFC 5280 checks on a complete path [leaf, intermediates…, anchor]. */
function checkPath(path: readonly Certificate[], at: number): void {
  for (let k = 0; k < path.length; k++) {
    const cert = path[k]!;
    checkValidity(cert, at);
    if (k < path.length - 1) checkCriticalExtensions(cert);
    if (k === 0) continue;
    checkSigner(cert);
    const pathLen = cert.basicConstraints?.pathLen;
    if (pathLen !== undefined) {
      let intermediates = 0;
      for (let j = 1; j < k; j++) if (!path[j]!.isSelfIssued) intermediates++;
      if (intermediates > pathLen)
        throw error(
          'ERR_SPIFFE_PATH_LENGTH',
          `${describe(cert)} allows ${pathLen} intermediate(s) below it, the chain has ${intermediates}`,
        );
    }
    if (cert.nameConstraints)
      for (let j = 0; j < k; j++) if (j === 0 || !path[j]!.isSelfIssued) checkNameConstraints(cert, path[j]!);
  }
}

/**
 * Parsed intermediates by DER, least recently used first out. Importing a certificate's public key costs more than
 * verifying a signature with it, and peers present the same intermediates on every handshake: a verifier that keeps
 * one of these pays that once. PeerVerifiers have one.
 */
export class CertificateCache {
  readonly #max: number;
  readonly #entries = new Map<string, Certificate>();

  constructor(options: { maxEntries?: number } = {}) {
    this.#max = options.maxEntries ?? 256;
  }

  /** The certificates in `der` (usually one), parsed now or earlier; single certificates are remembered. */
  get(der: Uint8Array): Certificate[] {
    const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
    const cached = this.#entries.get(key);
    if (cached) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return [cached];
    }
    const certs = parseCertificates(der);
    if (certs.length === 1) {
      if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(key, certs[0]!);
    }
    return certs;
  }

  get size(): number {
    return this.#entries.size;
  }
}

export interface VerifyOptions {
  /** The validation time (epoch milliseconds or Date); default `clock.now()`. */
  at?: number | Date;
  /** Default: the system clock. */
  clock?: Clock;
  /** Most certificates accepted in the presented chain and in a path; default 8. */
  maxChainLength?: number;
  /** Reuse parsed intermediates (and their imported keys) across calls. */
  cache?: CertificateCache;
}

/** A verified X.509-SVID. */
export interface VerifiedX509Svid {
  readonly id: SpiffeId;
  readonly leaf: Certificate;
  /** The validated path: leaf, intermediates, then the trust anchor from the bundle. */
  readonly path: readonly Certificate[];
}

/**
 * Verifies an X.509-SVID chain (leaf first, then intermediates; a trailing root is allowed) against the bundle of the
 * leaf's own trust domain. Throws SpiffeError with the code of the first rule broken.
 */
export function verifyX509Svid(
  chain: CertificatesInput,
  bundles: X509BundleSource,
  options: VerifyOptions = {},
): VerifiedX509Svid {
  const max = options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  const cache = options.cache;
  const certs =
    cache && Array.isArray(chain)
      ? (chain as ReadonlyArray<string | Uint8Array | Certificate>).flatMap((c, index) =>
          index > 0 && c instanceof Uint8Array ? cache.get(c) : parseCertificates([c]),
        )
      : parseCertificates(chain);
  if (certs.length === 0) throw error('ERR_SPIFFE_EMPTY_CHAIN', 'no certificates');
  if (certs.length > max)
    throw error('ERR_SPIFFE_CHAIN_TOO_LONG', `${certs.length} certificates presented (max ${max})`);
  const at = options.at === undefined ? (options.clock ?? systemClock).now() : +options.at;
  const leaf = certs[0]!;
  const id = checkLeaf(leaf);
  checkValidity(leaf, at);
  const bundle = bundles.getX509Bundle(id.trustDomain);
  if (!bundle || bundle.authorities.length === 0)
    throw error('ERR_SPIFFE_NO_BUNDLE', `no X.509 authorities for trust domain ${id.trustDomain.name}`, {
      trustDomain: id.trustDomain.name,
    });
  const anchors = bundle.authorities;
  const intermediates = certs.slice(1);

  let budget = MAX_SIGNATURE_CHECKS;
  let signatureFailed = false;
  let unsupportedAlgorithm: Certificate | undefined;
  let pathError: SpiffeError | undefined;
  const isAnchor = (cert: Certificate) => anchors.some((a) => a.equals(cert));

  const issuersOf = (cert: Certificate, pool: readonly Certificate[]) => {
    const matching = pool.filter((c) => c.subject.equals(cert.issuer));
    // Prefer issuers whose key identifier matches the authority key identifier (several roots may share a name).
    const aki = cert.authorityKeyId;
    if (!aki) return matching;
    const keyed = (c: Certificate) => (c.subjectKeyId !== undefined && Buffer.from(c.subjectKeyId).equals(aki) ? 0 : 1);
    return [...matching].sort((a, b) => keyed(a) - keyed(b));
  };
  const signed = (child: Certificate, issuer: Certificate): boolean => {
    if (child.signatureAlgorithm.kind === 'unsupported') {
      unsupportedAlgorithm = child;
      return false;
    }
    if (budget-- <= 0) return false;
    if (child.isSignedBy(issuer)) return true;
    signatureFailed = true;
    return false;
  };

  const search = (path: Certificate[]): Certificate[] | undefined => {
    const current = path[path.length - 1]!;
    for (const anchor of issuersOf(current, anchors)) {
      if (!signed(current, anchor)) continue;
      const full = [...path, anchor];
      try {
        checkPath(full, at);
        return full;
      } catch (e) {
        if (!(e instanceof SpiffeError)) throw e;
        pathError ??= e;
      }
    }
    if (path.length + 1 >= max) return undefined;
    for (const next of issuersOf(current, intermediates)) {
      if (path.includes(next)) continue;
      if (isAnchor(next)) continue; // already tried through the bundle
      if (!signed(current, next)) continue;
      const found = search([...path, next]);
      if (found) return found;
    }
    return undefined;
  };

  const path = search([leaf]);
  if (path) return { id, leaf, path };
  if (pathError) throw pathError;
  if (unsupportedAlgorithm)
    throw error(
      'ERR_SPIFFE_UNSUPPORTED_ALGORITHM',
      `${describe(unsupportedAlgorithm)} is signed with ${unsupportedAlgorithm.signatureAlgorithm.name}`,
    );
  if (signatureFailed)
    throw error('ERR_SPIFFE_BAD_SIGNATURE', `a certificate signature in the chain of ${id.toString()} does not verify`);
  throw error(
    'ERR_SPIFFE_UNKNOWN_ISSUER',
    `no path from ${id.toString()} to an authority of trust domain ${id.trustDomain.name} (issuer ${leaf.issuer.toString()})`,
  );
}

/** An X.509-SVID you hold: the chain (leaf first) and, usually, its private key. */
export class X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates (never the root). */
  readonly certificates: readonly Certificate[];
  readonly privateKey: KeyObject | undefined;

  private constructor(id: SpiffeId, certificates: readonly Certificate[], privateKey: KeyObject | undefined) {
    this.id = id;
    this.certificates = Object.freeze([...certificates]);
    this.privateKey = privateKey;
  }

  /**
   * Parses and checks an SVID the way go-spiffe's x509svid.Parse does: the leaf passes the SPIFFE leaf rules, every
   * further certificate is a CA with keyCertSign, and the key (when given) belongs to the leaf. It does not check trust:
   * use `verifyX509Svid` for a peer's SVID.
   */
  static parse(options: { certificates: CertificatesInput; privateKey?: string | Uint8Array | KeyObject }): X509Svid {
    const certs = parseCertificates(options.certificates);
    if (certs.length === 0) throw error('ERR_SPIFFE_EMPTY_CHAIN', 'no certificates');
    const id = checkLeaf(certs[0]!);
    for (const cert of certs.slice(1)) checkSigner(cert);
    const key = options.privateKey === undefined ? undefined : parsePrivateKey(options.privateKey);
    if (key && !keyMatchesPublicKeyInfo(key, certs[0]!.publicKeyInfo))
      throw error('ERR_SPIFFE_KEY_MISMATCH', `the private key does not match the leaf certificate of ${id.toString()}`);
    return new X509Svid(id, certs, key);
  }

  get leaf(): Certificate {
    return this.certificates[0]!;
  }

  /** When the leaf expires (epoch milliseconds). */
  get expiresAt(): number {
    return this.leaf.notAfter;
  }

  /** Leaf then intermediates, PEM (Istio's cert-chain.pem). */
  chainPem(): string {
    return this.certificates.map((c) => c.toPem()).join('');
  }

  /** The private key as PKCS#8 PEM; throws when the SVID has none. */
  keyPem(): string {
    if (!this.privateKey) throw error('ERR_SPIFFE_BAD_KEY', `the SVID of ${this.id.toString()} has no private key`);
    return privateKeyToPem(this.privateKey);
  }
}
