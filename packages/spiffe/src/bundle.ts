// Trust bundles (SPIFFE Trust Domain and Bundle §3-§4, X509-SVID §6): the X.509 authorities of one trust domain, a
// set keyed by trust domain, PEM and the SPIFFE bundle format (a JWK set) in and out.
import { SpiffeError } from './errors.js';
import { TrustDomain } from './id.js';
import { JsonError, parseJsonStrict, stringifyJson, type Json } from './json.js';
import { type Certificate, parseCertificate, parseCertificates } from './x509/certificate.js';

/** Where a verifier finds the bundle of a trust domain. X509Bundle and X509BundleSet both are sources. */
export interface X509BundleSource {
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined;
}

/** A JWK as found in a SPIFFE bundle. */
export type Jwk = { readonly [key: string]: Json };

/** The SPIFFE bundle document (a JWK set with the SPIFFE parameters). */
export interface SpiffeBundleDocument {
  keys: Jwk[];
  spiffe_sequence?: number | bigint;
  spiffe_refresh_hint?: number;
  [other: string]: unknown;
}

export interface X509BundleOptions {
  /** spiffe_sequence: increases on every change (64-bit, hence bigint). */
  sequence?: bigint | number;
  /** spiffe_refresh_hint, in seconds. */
  refreshHint?: number;
  /** JWT-SVID keys (use jwt-svid), kept so a bundle read from JSON writes them back. */
  jwtAuthorities?: readonly Jwk[];
}

function badBundle(message: string, cause?: unknown): SpiffeError {
  return new SpiffeError('ERR_SPIFFE_BAD_BUNDLE', message, cause === undefined ? {} : { cause });
}

/** The trust anchors (X.509 authorities) of one trust domain. Immutable: changes return a new bundle. */
export class X509Bundle implements X509BundleSource {
  readonly trustDomain: TrustDomain;
  /** CA certificates, duplicates removed, in the given order. */
  readonly authorities: readonly Certificate[];
  readonly sequence: bigint | undefined;
  readonly refreshHint: number | undefined;
  readonly jwtAuthorities: readonly Jwk[];

  constructor(trustDomain: TrustDomain | string, authorities: Iterable<Certificate>, options: X509BundleOptions = {}) {
    this.trustDomain = TrustDomain.parse(trustDomain);
    const seen = new Set<string>();
    const unique: Certificate[] = [];
    for (const cert of authorities) {
      if (seen.has(cert.fingerprint256)) continue;
      seen.add(cert.fingerprint256);
      unique.push(cert);
    }
    this.authorities = Object.freeze(unique);
    this.sequence = options.sequence === undefined ? undefined : BigInt(options.sequence);
    this.refreshHint = options.refreshHint;
    this.jwtAuthorities = Object.freeze([...(options.jwtAuthorities ?? [])]);
  }

  /** A bundle from PEM CA certificates (for example Istio's root-cert.pem). */
  static fromPem(trustDomain: TrustDomain | string, pem: string | Uint8Array, options?: X509BundleOptions): X509Bundle {
    let certs: Certificate[];
    try {
      certs = parseCertificates(pem);
    } catch (error) {
      throw badBundle(`cannot read the PEM bundle: ${(error as Error).message}`, error);
    }
    return new X509Bundle(trustDomain, certs, options);
  }

  /**
   * A bundle from the SPIFFE bundle format: a JWK set whose `x509-svid` keys carry the CA certificates in `x5c`. Keys
   * with a missing or unknown `use`, with a missing `kty`, or `x509-svid` keys without `x5c`, are ignored as the spec
   * requires; of several `x5c` values only the first counts (X509-SVID §6.2).
   */
  static fromJwks(trustDomain: TrustDomain | string, document: string | Uint8Array | SpiffeBundleDocument): X509Bundle {
    const doc = typeof document === 'string' || document instanceof Uint8Array ? parseJsonDocument(document) : document;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw badBundle('a SPIFFE bundle is a JSON object');
    const { keys } = doc as { keys?: unknown };
    if (!Array.isArray(keys)) throw badBundle('a SPIFFE bundle must have a "keys" array (§4.1.3)');
    const authorities: Certificate[] = [];
    const jwtAuthorities: Jwk[] = [];
    keys.forEach((key: unknown, index) => {
      if (typeof key !== 'object' || key === null || Array.isArray(key))
        throw badBundle(`keys[${index}] is not a JWK object`);
      const jwk = key as Jwk;
      if (typeof jwk.kty !== 'string') return; // §4.2.1: unknown key types are ignored
      if (jwk.use === 'jwt-svid') {
        jwtAuthorities.push(jwk);
        return;
      }
      if (jwk.use !== 'x509-svid') return; // §4.2.2: missing or unknown use is ignored
      const x5c = jwk.x5c;
      if (!Array.isArray(x5c) || x5c.length === 0) return; // X509-SVID §6.2
      const first = x5c[0];
      if (typeof first !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(first))
        throw badBundle(`keys[${index}].x5c[0] is not base64`);
      try {
        authorities.push(parseCertificate(Buffer.from(first, 'base64')));
      } catch (error) {
        throw badBundle(`keys[${index}].x5c[0] is not a certificate: ${(error as Error).message}`, error);
      }
    });
    const sequence = readInteger(doc.spiffe_sequence, 'spiffe_sequence');
    const refreshHint = readInteger(doc.spiffe_refresh_hint, 'spiffe_refresh_hint');
    return new X509Bundle(trustDomain, authorities, {
      sequence,
      refreshHint: refreshHint === undefined ? undefined : Number(refreshHint),
      jwtAuthorities,
    });
  }

  /** Reads a bundle file: SPIFFE bundle JSON (starts with `{`), PEM, or DER certificates. */
  static parse(trustDomain: TrustDomain | string, data: string | Uint8Array): X509Bundle {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    if (text.trimStart().startsWith('{')) return X509Bundle.fromJwks(trustDomain, text);
    return X509Bundle.fromPem(trustDomain, data);
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return trustDomain.equals(this.trustDomain) ? this : undefined;
  }

  hasAuthority(cert: Certificate): boolean {
    return this.authorities.some((a) => a.equals(cert));
  }

  /** A copy with `certs` added (and the sequence increased when set). */
  withAuthorities(...certs: Certificate[]): X509Bundle {
    return this.#derive([...this.authorities, ...certs]);
  }

  /** A copy without `certs` (and the sequence increased when set). */
  withoutAuthorities(...certs: Certificate[]): X509Bundle {
    return this.#derive(this.authorities.filter((a) => !certs.some((c) => c.equals(a))));
  }

  #derive(authorities: Certificate[]): X509Bundle {
    return new X509Bundle(this.trustDomain, authorities, {
      sequence: this.sequence === undefined ? undefined : this.sequence + 1n,
      refreshHint: this.refreshHint,
      jwtAuthorities: this.jwtAuthorities,
    });
  }

  /** Concatenated PEM certificates (Istio's root-cert.pem / istio-ca-root-cert content). */
  toPem(): string {
    return this.authorities.map((c) => c.toPem()).join('');
  }

  /** The SPIFFE bundle document: one JWK per authority (`use: x509-svid`, `x5c`, no `kid`), then the JWT keys. */
  toJwks(): SpiffeBundleDocument {
    const doc: SpiffeBundleDocument = {
      keys: [...this.authorities.map(authorityJwk), ...this.jwtAuthorities],
    };
    if (this.sequence !== undefined)
      doc.spiffe_sequence = this.sequence <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(this.sequence) : this.sequence;
    if (this.refreshHint !== undefined) doc.spiffe_refresh_hint = this.refreshHint;
    return doc;
  }

  /** The SPIFFE bundle document as JSON text (64-bit sequences written exactly). */
  toJson(indent = 2): string {
    return stringifyJson(this.toJwks(), indent);
  }
}

function authorityJwk(cert: Certificate): Jwk {
  const jwk = cert.publicKey.export({ format: 'jwk' }) as Record<string, Json>;
  return { ...jwk, use: 'x509-svid', x5c: [cert.der.toString('base64')] };
}

function parseJsonDocument(input: string | Uint8Array): SpiffeBundleDocument {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  try {
    return parseJsonStrict(text) as unknown as SpiffeBundleDocument;
  } catch (error) {
    if (error instanceof JsonError) throw badBundle(`invalid JSON: ${error.message}`, error);
    throw error;
  }
}

function readInteger(value: unknown, name: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw badBundle(`${name} must be an integer`);
}

/** Bundles of several trust domains (the local one and federated ones), keyed by trust domain. Mutable. */
export class X509BundleSet implements X509BundleSource {
  readonly #bundles = new Map<string, X509Bundle>();

  constructor(bundles: Iterable<X509Bundle> = []) {
    for (const bundle of bundles) this.set(bundle);
  }

  /** Adds or replaces the bundle of `bundle.trustDomain`. */
  set(bundle: X509Bundle): this {
    this.#bundles.set(bundle.trustDomain.name, bundle);
    return this;
  }

  get(trustDomain: TrustDomain | string): X509Bundle | undefined {
    return this.#bundles.get(typeof trustDomain === 'string' ? TrustDomain.parse(trustDomain).name : trustDomain.name);
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.#bundles.get(trustDomain.name);
  }

  has(trustDomain: TrustDomain | string): boolean {
    return this.get(trustDomain) !== undefined;
  }

  delete(trustDomain: TrustDomain | string): boolean {
    return this.#bundles.delete(TrustDomain.parse(trustDomain).name);
  }

  get size(): number {
    return this.#bundles.size;
  }

  trustDomains(): TrustDomain[] {
    return [...this.#bundles.values()].map((b) => b.trustDomain);
  }

  [Symbol.iterator](): IterableIterator<X509Bundle> {
    return this.#bundles.values();
  }

  /**
   * Reads a SPIFFE bundle map `{"trust_domains": {"<td>": <bundle>, …}}` (the federation form). Keys may be trust
   * domain names or their spiffe:// IDs; a trust domain listed twice is an error.
   */
  static fromBundleMap(document: string | Uint8Array): X509BundleSet {
    const doc = parseJsonDocument(document) as unknown as { trust_domains?: unknown };
    const map = doc.trust_domains;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw badBundle('a bundle map needs a "trust_domains" object');
    const set = new X509BundleSet();
    for (const [name, bundle] of Object.entries(map)) {
      const td = TrustDomain.parse(name);
      if (set.has(td)) throw badBundle(`trust domain ${td.name} appears twice in the bundle map`);
      set.set(X509Bundle.fromJwks(td, bundle as SpiffeBundleDocument));
    }
    return set;
  }

  /** The bundle map document of every trust domain in the set. */
  toBundleMap(indent = 2): string {
    const trust_domains: Record<string, SpiffeBundleDocument> = {};
    for (const bundle of this) trust_domains[bundle.trustDomain.name] = bundle.toJwks();
    return stringifyJson({ trust_domains }, indent);
  }
}
