// The certificate authority: signs CSRs into X.509-SVIDs with Istio's profile, publishes the trust bundle, and
// rotates a self-signed root (renewal with the same key at 20% remaining life; planned rotation to a new key with
// both roots published during the overlap).
import type { KeyObject } from 'node:crypto';
import { systemClock, throwIfAborted, type Clock } from '@mesh/core';
import {
  type Certificate,
  type CertificateRequest,
  createCertificate,
  createCertificateRequest,
  generatePrivateKey,
  type KeyType,
  parseCertificateRequest,
  privateKeyToPem,
  SpiffeError,
  SpiffeId,
  TrustDomain,
  X509Bundle,
  X509Svid,
} from '@mesh/spiffe';
import { CaError } from './errors.js';
import {
  type CaMaterial,
  createIntermediate,
  createSelfSignedRoot,
  DEFAULT_BACKDATE_MS,
  DEFAULT_ROOT_TTL_MS,
  type IntermediateOptions,
  readCacerts,
  validateMaterial,
} from './material.js';
import { noMetrics, type CaMetrics } from './metrics.js';

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3_600_000;
export const MAX_WORKLOAD_TTL_MS = 90 * 24 * 3_600_000;
/** Istio renews its self-signed root when less than 20% of its lifetime remains. */
export const ROOT_RENEWAL_FRACTION = 0.2;
export const DEFAULT_ROTATION_CHECK_MS = 3_600_000;

/** One audit record per issued certificate. */
export interface IssueEvent {
  /** The SPIFFE ID the certificate carries, when it has one. */
  readonly identity: string | undefined;
  readonly dnsNames: readonly string[];
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Who asked (an authenticated identity, "meshctl", …), as the caller of `sign` said. */
  readonly caller: string | undefined;
  /** Set when a node agent asked on a workload's behalf. */
  readonly impersonatedBy?: string;
}

export interface RejectEvent {
  readonly code: string;
  readonly message: string;
  readonly identity: string | undefined;
  readonly caller: string | undefined;
}

export type RotationKind = 'renewed' | 'prepared' | 'activated' | 'retired';

export interface RotationEvent {
  readonly kind: RotationKind;
  /** The root the step is about (the renewed, new, activated or retired root). */
  readonly root: Certificate;
  /** The material after the step (persist it, for example with writeCacerts, to survive restarts). */
  readonly material: CaMaterial;
}

export interface CaHooks {
  onIssue?(event: IssueEvent): void;
  onReject?(event: RejectEvent): void;
  onRotate?(event: RotationEvent): void;
}

export interface CertificateAuthorityOptions {
  /** Default cluster.local (Istio's default). */
  trustDomain?: TrustDomain | string;
  clock?: Clock;
  /** Lifetime when a request asks for none (or ≤ 0). Default 24 h (DEFAULT_WORKLOAD_CERT_TTL). */
  defaultTtlMs?: number;
  /** Longest lifetime a request may ask for; longer requests fail. Default 90 days (MAX_WORKLOAD_CERT_TTL). */
  maxTtlMs?: number;
  /** How far notBefore is moved back for clock skew. Default 2 minutes (as Istio). */
  backdateMs?: number;
  /**
   * CSR checks beyond parsing and proof of possession. `istio` (default) ignores the CSR's names, as istiod does;
   * `strict` follows cert-manager istio-csr: empty subject, URI SANs exactly the identity, no other names or extensions.
   */
  csrPolicy?: 'istio' | 'strict';
  hooks?: CaHooks;
  metrics?: CaMetrics;
}

export interface SelfSignedCaOptions extends CertificateAuthorityOptions {
  /** Root key type: ec (ECDSA P-256, default) or rsa (2048). */
  keyType?: Extract<KeyType, 'ec' | 'rsa'>;
  /** Root lifetime; default 10 years. */
  rootTtlMs?: number;
}

export interface SignRequest {
  /** PEM or DER PKCS#10; only its public key is used (plus checks, per csrPolicy). */
  csr: string | Uint8Array | CertificateRequest;
  /**
   * The SPIFFE ID to issue for, decided by the caller's authentication, never read from the CSR (Istio's rule).
   * May be omitted when `dnsNames` are given (a server certificate such as istiod's).
   */
  identity?: SpiffeId | string;
  /** Extra DNS SANs (for serving certificates). */
  dnsNames?: readonly string[];
  /** Requested lifetime; undefined or ≤ 0 means the default. */
  ttlMs?: number;
  /** For the audit event. */
  caller?: string;
  impersonatedBy?: string;
  /** For asynchronous signers (an external RA, a KMS); this CA signs synchronously and only checks it first. */
  signal?: AbortSignal;
}

export interface IssuedCertificate {
  readonly certificate: Certificate;
  readonly identity: SpiffeId | undefined;
  /**
   * Istio's cert_chain: the leaf first, then the signing certificate and intermediates (one per element, each ending
   * in a newline), then every root concatenated as the last element.
   */
  readonly certChain: string[];
  /** Leaf and intermediates, PEM (what a workload presents: Istio's cert-chain.pem). */
  readonly chainPem: string;
  /** The roots, PEM. */
  readonly rootsPem: string;
}

export interface IssuedSvid extends IssuedCertificate {
  /** The SVID with its key; undefined for a certificate without a SPIFFE ID (DNS names only). */
  readonly svid: X509Svid | undefined;
  readonly privateKey: KeyObject;
  readonly keyPem: string;
}

/** What the gRPC service needs from a CA: our CertificateAuthority, or your own (an external RA, a KMS signer). */
export interface CertificateSigner {
  readonly trustDomain: TrustDomain;
  sign(request: SignRequest): IssuedCertificate | Promise<IssuedCertificate>;
}

interface RootState {
  /** Published trust anchors, in order. */
  roots: Certificate[];
  /** Self-signed root rotation needs the key of each root we made. */
  rootKeys: Map<string, KeyObject>;
  /** A prepared (published, not yet signing) root. */
  pending: Certificate | undefined;
  schedule: { activateAt?: number; retireAt?: number; retire?: Certificate } | undefined;
}

const ALLOWED_CURVES = new Set(['P-256', 'P-384', 'P-521']);

export class CertificateAuthority implements CertificateSigner, AsyncDisposable {
  readonly trustDomain: TrustDomain;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly backdateMs: number;
  readonly csrPolicy: 'istio' | 'strict';
  /** True when this CA made its root (and may rotate it); false for a plug-in CA. */
  readonly selfSigned: boolean;
  #material: CaMaterial;
  #roots: RootState;
  #bundle: X509Bundle;
  #sequence = 1n;
  #rootTtlMs: number;
  readonly #hooks: CaHooks;
  readonly #metrics: CaMetrics;
  readonly #listeners = new Set<(bundle: X509Bundle) => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #reloadFrom: string | undefined;

  private constructor(
    material: CaMaterial,
    selfSigned: boolean,
    options: CertificateAuthorityOptions,
    rootTtlMs: number,
  ) {
    this.trustDomain = TrustDomain.parse(options.trustDomain ?? 'cluster.local');
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = options.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    this.maxTtlMs = options.maxTtlMs ?? MAX_WORKLOAD_TTL_MS;
    this.backdateMs = options.backdateMs ?? DEFAULT_BACKDATE_MS;
    this.csrPolicy = options.csrPolicy ?? 'istio';
    if (!(this.defaultTtlMs > 0) || !(this.maxTtlMs >= this.defaultTtlMs))
      throw new CaError('ERR_CA_INVALID_OPTION', 'defaultTtlMs must be positive and at most maxTtlMs');
    this.selfSigned = selfSigned;
    this.#hooks = options.hooks ?? {};
    this.#metrics = options.metrics ?? noMetrics;
    this.#rootTtlMs = rootTtlMs;
    this.#material = validateMaterial(material, this.trustDomain, this.clock.now());
    this.#roots = { roots: [...this.#material.roots], rootKeys: new Map(), pending: undefined, schedule: undefined };
    if (selfSigned) this.#roots.rootKeys.set(this.#material.signingCert.fingerprint256, this.#material.signingKey);
    this.#bundle = new X509Bundle(this.trustDomain, this.#roots.roots, { sequence: this.#sequence });
    this.#recordExpiry();
  }

  /** A CA with a new self-signed root (ECDSA P-256 by default; RSA 2048 with keyType rsa; 10 years). */
  static selfSigned(options: SelfSignedCaOptions = {}): CertificateAuthority {
    const clock = options.clock ?? systemClock;
    const td = TrustDomain.parse(options.trustDomain ?? 'cluster.local');
    const rootTtlMs = options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
    const { cert, key } = createSelfSignedRoot({
      trustDomain: td,
      keyType: options.keyType ?? 'ec',
      ttlMs: rootTtlMs,
      now: clock.now(),
      ...(options.backdateMs !== undefined ? { backdateMs: options.backdateMs } : {}),
    });
    return new CertificateAuthority(
      { signingCert: cert, signingKey: key, intermediates: [], roots: [cert] },
      true,
      { ...options, trustDomain: td, clock },
      rootTtlMs,
    );
  }

  /**
   * A CA from existing material: a plug-in intermediate (it signs, the operator rotates it), or a self-signed root
   * made earlier (pass `selfSigned: true` so this CA keeps rotating it).
   */
  static fromMaterial(
    material: CaMaterial,
    options: CertificateAuthorityOptions & { selfSigned?: boolean; rootTtlMs?: number } = {},
  ): CertificateAuthority {
    const selfSigned = options.selfSigned ?? false;
    if (selfSigned && !(material.roots.length > 0 && material.roots.some((r) => r.equals(material.signingCert))))
      throw new CaError('ERR_CA_ROTATION_STATE', 'selfSigned needs the signing certificate to be one of the roots');
    const rootTtl = options.rootTtlMs ?? material.signingCert.notAfter - material.signingCert.notBefore;
    return new CertificateAuthority(material, selfSigned, options, rootTtl);
  }

  /**
   * A CA from a directory in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem). When
   * ca-cert.pem is itself the root, the CA treats it as self-signed and rotates it. `reload()` re-reads the directory.
   */
  static async fromCacertsDir(
    options: CertificateAuthorityOptions & { dir: string; signal?: AbortSignal },
  ): Promise<CertificateAuthority> {
    const material = await readCacerts({ dir: options.dir, ...(options.signal ? { signal: options.signal } : {}) });
    const selfSigned = material.roots.some((r) => r.equals(material.signingCert));
    const ca = CertificateAuthority.fromMaterial(material, { ...options, selfSigned });
    ca.#reloadFrom = options.dir;
    return ca;
  }

  /** The current signing certificate (a root, or the plugged-in intermediate). */
  get signingCertificate(): Certificate {
    return this.#material.signingCert;
  }

  get material(): CaMaterial {
    return { ...this.#material, roots: [...this.#roots.roots] };
  }

  /** The published trust anchors (during a root rotation, old and new). */
  get roots(): readonly Certificate[] {
    return this.#roots.roots;
  }

  /** The bundle to distribute: the roots, with a sequence that increases on every change. */
  get bundle(): X509Bundle {
    return this.#bundle;
  }

  /** The content of Istio's istio-ca-root-cert ConfigMap (key root-cert.pem). */
  get rootCertPem(): string {
    return this.#bundle.toPem();
  }

  /** Calls `listener` with the new bundle whenever it changes; returns an unsubscribe function. */
  onBundleChange(listener: (bundle: X509Bundle) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- signing ----

  /** Signs a CSR for an identity the caller decided. Throws CaError (ERR_CA_*). */
  sign(request: SignRequest): IssuedCertificate {
    throwIfAborted(request.signal);
    this.#metrics.counter('citadel_server_csr_count');
    let identity: SpiffeId | undefined;
    try {
      identity = request.identity === undefined ? undefined : this.#identity(request.identity);
      const csr = this.#csr(request.csr);
      if (this.csrPolicy === 'strict') checkStrictCsr(csr, identity);
      const issued = this.#issue(csr.publicKeyInfo, identity, request);
      this.#metrics.counter('citadel_server_success_cert_issuance_count');
      this.#hooks.onIssue?.({
        identity: identity?.toString(),
        dnsNames: [...(request.dnsNames ?? [])],
        serialNumber: issued.certificate.serialNumber,
        notBefore: new Date(issued.certificate.notBefore),
        notAfter: new Date(issued.certificate.notAfter),
        caller: request.caller,
        ...(request.impersonatedBy ? { impersonatedBy: request.impersonatedBy } : {}),
      });
      return issued;
    } catch (error) {
      if (error instanceof CaError) {
        this.#metrics.counter(
          error.code === 'ERR_CA_BAD_CSR' || error.code === 'ERR_CA_CSR_SIGNATURE'
            ? 'citadel_server_csr_parsing_err_count'
            : 'citadel_server_csr_sign_err_count',
        );
        this.#hooks.onReject?.({
          code: error.code,
          message: error.message,
          identity: identity?.toString() ?? (typeof request.identity === 'string' ? request.identity : undefined),
          caller: request.caller,
        });
      }
      throw error;
    }
  }

  /** Generates a key (ECDSA P-256 by default) and issues a certificate for it: for tools, tests and bootstrap. */
  issue(options: Omit<SignRequest, 'csr'> & { keyType?: KeyType }): IssuedSvid {
    const privateKey = generatePrivateKey({ type: options.keyType ?? 'ec' });
    // The CSR carries the key (and, for the strict policy, the identity); the identity itself comes from `options`.
    const csr = createCertificateRequest({
      privateKey,
      uris: options.identity === undefined ? [] : [String(options.identity)],
    });
    const issued = this.sign({ ...options, csr });
    const svid = issued.identity ? X509Svid.parse({ certificates: issued.chainPem, privateKey }) : undefined;
    return { ...issued, svid, privateKey, keyPem: privateKeyToPem(privateKey) };
  }

  /** A new intermediate CA under this CA's signing certificate (for other tooling, or a second-tier CA). */
  createIntermediate(options: IntermediateOptions = {}): CaMaterial {
    this.#checkUsable(this.clock.now());
    return createIntermediate(this.material, this.trustDomain, this.clock.now(), options);
  }

  #identity(input: SpiffeId | string): SpiffeId {
    let id: SpiffeId;
    try {
      id = SpiffeId.parse(input);
    } catch (error) {
      throw new CaError('ERR_CA_BAD_IDENTITY', `not a SPIFFE ID: ${(error as Error).message}`, { cause: error });
    }
    if (!id.isMemberOf(this.trustDomain))
      throw new CaError(
        'ERR_CA_FOREIGN_TRUST_DOMAIN',
        `${id.toString()} is not in trust domain ${this.trustDomain.name}, which this CA serves`,
        { details: { identity: id.toString() } },
      );
    if (id.path === '')
      throw new CaError(
        'ERR_CA_BAD_IDENTITY',
        `${id.toString()} has no path; a workload identity needs one (X509-SVID §3.1)`,
      );
    return id;
  }

  #csr(input: string | Uint8Array | CertificateRequest): CertificateRequest {
    let csr: CertificateRequest;
    if (typeof input === 'string' || input instanceof Uint8Array) {
      try {
        csr = parseCertificateRequest(input);
      } catch (error) {
        if (error instanceof SpiffeError)
          throw new CaError('ERR_CA_BAD_CSR', `cannot read the CSR: ${error.message}`, { cause: error });
        throw error;
      }
    } else csr = input;
    const key = csr.publicKeyAlgorithm;
    const allowed =
      (key.type === 'ec' && ALLOWED_CURVES.has(key.curve ?? '')) ||
      (key.type === 'rsa' && (key.bits ?? 0) >= 2048 && (key.bits ?? 0) <= 8192) ||
      key.type === 'ed25519';
    if (!allowed)
      throw new CaError(
        'ERR_CA_KEY_NOT_ALLOWED',
        `CSR key ${key.type}${key.curve ? ` ${key.curve}` : ''}${key.bits ? ` ${key.bits} bits` : ''} is not accepted`,
      );
    if (!csr.verifySignature())
      throw new CaError('ERR_CA_CSR_SIGNATURE', 'the CSR signature does not verify with its own key');
    return csr;
  }

  #checkUsable(now: number): void {
    for (const cert of [this.#material.signingCert, ...this.#material.intermediates]) {
      if (now > cert.notAfter)
        throw new CaError(
          'ERR_CA_EXPIRED',
          `the CA certificate ${cert.subject.toString()} expired at ${new Date(cert.notAfter).toISOString()}`,
        );
      if (now < cert.notBefore)
        throw new CaError('ERR_CA_NOT_YET_VALID', `the CA certificate ${cert.subject.toString()} is not valid yet`);
    }
  }

  #issue(publicKey: Uint8Array, identity: SpiffeId | undefined, request: SignRequest): IssuedCertificate {
    const dnsNames = request.dnsNames ?? [];
    if (!identity && dnsNames.length === 0)
      throw new CaError('ERR_CA_BAD_IDENTITY', 'nothing to issue for: give an identity or DNS names');
    const requested = request.ttlMs === undefined || request.ttlMs <= 0 ? this.defaultTtlMs : request.ttlMs;
    if (!Number.isFinite(requested)) throw new CaError('ERR_CA_INVALID_OPTION', `invalid lifetime ${request.ttlMs}`);
    if (requested > this.maxTtlMs)
      throw new CaError(
        'ERR_CA_TTL_TOO_LONG',
        `requested lifetime ${Math.round(requested / 1000)} s exceeds the maximum ${Math.round(this.maxTtlMs / 1000)} s`,
        { details: { requestedSeconds: Math.round(requested / 1000), maxSeconds: Math.round(this.maxTtlMs / 1000) } },
      );
    const now = this.clock.now();
    this.#checkUsable(now);
    const { signingCert, signingKey, intermediates } = this.#material;
    const chainEnd = Math.min(...[signingCert, ...intermediates].map((c) => c.notAfter));
    const certificate = createCertificate(
      {
        publicKey,
        notBefore: Math.max(now - this.backdateMs, signingCert.notBefore),
        notAfter: Math.min(now + requested, chainEnd),
        uris: identity ? [identity] : [],
        dnsNames,
        basicConstraints: { ca: false },
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        extKeyUsage: ['serverAuth', 'clientAuth'],
      },
      { signingKey, issuer: signingCert },
    );
    return this.#assemble(certificate, identity);
  }

  #assemble(certificate: Certificate, identity: SpiffeId | undefined): IssuedCertificate {
    const { signingCert, intermediates } = this.#material;
    const signingIsRoot = this.#roots.roots.some((r) => r.equals(signingCert));
    const middle = signingIsRoot ? [] : [signingCert, ...intermediates];
    const rootsPem = this.#bundle.toPem();
    const leafPem = certificate.toPem();
    return {
      certificate,
      identity,
      certChain: [leafPem, ...middle.map((c) => c.toPem()), rootsPem],
      chainPem: leafPem + middle.map((c) => c.toPem()).join(''),
      rootsPem,
    };
  }

  // ---- rotation ----

  /**
   * Runs the rotation rules once at `clock.now()`: renews a self-signed root (same key, same subject) when less than
   * 20% of its lifetime remains, performs scheduled planned-rotation steps, and drops expired roots from the bundle.
   * Returns what it did. The rotation timer calls this; tests call it with a ManualClock.
   */
  checkRotation(): RotationKind[] {
    const now = this.clock.now();
    const done: RotationKind[] = [];
    const schedule = this.#roots.schedule;
    if (schedule?.activateAt !== undefined && now >= schedule.activateAt && this.#roots.pending) {
      this.activatePendingRoot();
      done.push('activated');
    }
    if (schedule?.retireAt !== undefined && schedule.retire && now >= schedule.retireAt) {
      this.retireRoot(schedule.retire);
      done.push('retired');
    }
    if (this.selfSigned) {
      const signing = this.#material.signingCert;
      const life = signing.notAfter - signing.notBefore;
      if (signing.notAfter - now < life * ROOT_RENEWAL_FRACTION) {
        this.#renewSigningRoot(now);
        done.push('renewed');
      }
    }
    const live = this.#roots.roots.filter((r) => r.notAfter >= now || r.equals(this.#material.signingCert));
    if (live.length !== this.#roots.roots.length) this.#setRoots(live);
    return done;
  }

  #renewSigningRoot(now: number): void {
    const old = this.#material.signingCert;
    const key = this.#material.signingKey;
    const { cert } = createSelfSignedRoot({
      trustDomain: this.trustDomain,
      key,
      ttlMs: this.#rootTtlMs,
      subject: old.subject.rdns.flat().map((a) => [a.oid, a.value] as const),
      now,
      backdateMs: this.backdateMs,
    });
    this.#roots.rootKeys.set(cert.fingerprint256, key);
    this.#material = { ...this.#material, signingCert: cert };
    // The old root keeps verifying what it issued until it expires; the same key signs under the new one.
    this.#setRoots([cert, ...this.#roots.roots]);
    this.#emitRotation('renewed', cert);
  }

  /**
   * Planned root rotation, step 1: makes a new self-signed root with a new key and publishes it next to the current
   * one (workloads learn it before anything is signed with it). With `activateAt` and `retireAt` (epoch ms), the
   * rotation timer performs steps 2 and 3; by default retirement waits maxTtlMs after activation, so every leaf of
   * the old root has expired.
   */
  prepareRootRotation(
    options: { keyType?: Extract<KeyType, 'ec' | 'rsa'>; activateAt?: number; retireAt?: number } = {},
  ): Certificate {
    if (!this.selfSigned)
      throw new CaError('ERR_CA_ROTATION_STATE', 'a plug-in CA rotates by replacing its cacerts files');
    if (this.#roots.pending) throw new CaError('ERR_CA_ROTATION_STATE', 'a root rotation is already prepared');
    const now = this.clock.now();
    const current = this.#material.signingCert;
    const { cert, key } = createSelfSignedRoot({
      trustDomain: this.trustDomain,
      keyType: options.keyType ?? (this.#material.signingKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec'),
      ttlMs: this.#rootTtlMs,
      subject: current.subject.rdns.flat().map((a) => [a.oid, a.value] as const),
      now,
      backdateMs: this.backdateMs,
    });
    this.#roots.rootKeys.set(cert.fingerprint256, key);
    this.#roots.pending = cert;
    if (options.activateAt !== undefined || options.retireAt !== undefined) {
      const activateAt = options.activateAt ?? now;
      this.#roots.schedule = {
        activateAt,
        retireAt: options.retireAt ?? activateAt + this.maxTtlMs,
        retire: current,
      };
    }
    this.#setRoots([...this.#roots.roots, cert]);
    this.#emitRotation('prepared', cert);
    return cert;
  }

  /** Planned root rotation, step 2: sign with the prepared root from now on. Both roots stay published. */
  activatePendingRoot(): Certificate {
    const pending = this.#roots.pending;
    if (!pending) throw new CaError('ERR_CA_ROTATION_STATE', 'no prepared root to activate');
    const key = this.#roots.rootKeys.get(pending.fingerprint256)!;
    const previous = this.#material.signingCert;
    this.#material = { signingCert: pending, signingKey: key, intermediates: [], roots: this.#roots.roots };
    this.#roots.pending = undefined;
    if (this.#roots.schedule) {
      this.#roots.schedule.activateAt = undefined;
      this.#roots.schedule.retire ??= previous;
    }
    this.#recordExpiry();
    this.#emitRotation('activated', pending);
    return pending;
  }

  /** Planned root rotation, step 3: stop publishing an old root. The signing root cannot be retired. */
  retireRoot(root: Certificate | string): void {
    const fingerprint = typeof root === 'string' ? root : root.fingerprint256;
    const target = this.#roots.roots.find((r) => r.fingerprint256 === fingerprint);
    if (!target) throw new CaError('ERR_CA_ROTATION_STATE', `no published root with fingerprint ${fingerprint}`);
    if (target.equals(this.#material.signingCert) || (this.#roots.pending && target.equals(this.#roots.pending)))
      throw new CaError('ERR_CA_ROTATION_STATE', 'cannot retire the root that signs (or is about to sign)');
    this.#roots.rootKeys.delete(fingerprint);
    if (this.#roots.schedule?.retire?.equals(target)) this.#roots.schedule = undefined;
    this.#setRoots(this.#roots.roots.filter((r) => !r.equals(target)));
    this.#emitRotation('retired', target);
  }

  /** Starts the rotation timer (Istio checks hourly). Stopped by `[Symbol.asyncDispose]` / `close`. */
  startRotation(options: { checkIntervalMs?: number } = {}): void {
    if (this.#timer) return;
    const interval = options.checkIntervalMs ?? DEFAULT_ROTATION_CHECK_MS;
    this.#timer = setInterval(() => {
      try {
        this.checkRotation();
      } catch (error) {
        this.#hooks.onReject?.({
          code: error instanceof CaError ? error.code : 'ERR_CA_ROTATION_STATE',
          message: `rotation check failed: ${(error as Error).message}`,
          identity: undefined,
          caller: 'rotation',
        });
      }
    }, interval);
    this.#timer.unref?.();
  }

  /**
   * Replaces the material (a new plug-in intermediate, for example after the cacerts files changed). Roots may only
   * grow or shrink (Istio's multi-root rule); otherwise ERR_CA_ROOT_CHANGE_REJECTED and nothing changes.
   */
  replaceMaterial(material: CaMaterial): void {
    const next = validateMaterial(material, this.trustDomain, this.clock.now());
    const has = (list: readonly Certificate[], c: Certificate) => list.some((r) => r.equals(c));
    const current = this.#roots.roots;
    const subset = next.roots.every((r) => has(current, r));
    const superset = current.every((r) => has(next.roots, r));
    if (!subset && !superset)
      throw new CaError(
        'ERR_CA_ROOT_CHANGE_REJECTED',
        'the new root-cert.pem neither contains nor is contained in the current roots; add the new root first',
      );
    this.#material = next;
    if (!(subset && superset)) this.#setRoots([...next.roots]);
    this.#recordExpiry();
  }

  /** Re-reads the cacerts directory this CA was loaded from (see fromCacertsDir). */
  async reload(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.#reloadFrom)
      throw new CaError('ERR_CA_ROTATION_STATE', 'this CA was not loaded from a cacerts directory');
    this.replaceMaterial(await readCacerts({ dir: this.#reloadFrom, ...options }));
  }

  #setRoots(roots: Certificate[]): void {
    const unique = roots.filter((c, i) => roots.findIndex((o) => o.equals(c)) === i);
    this.#roots.roots = unique;
    this.#material = { ...this.#material, roots: unique };
    this.#sequence += 1n;
    this.#bundle = new X509Bundle(this.trustDomain, unique, { sequence: this.#sequence });
    this.#recordExpiry();
    for (const listener of this.#listeners) listener(this.#bundle);
  }

  #emitRotation(kind: RotationKind, root: Certificate): void {
    this.#hooks.onRotate?.({ kind, root, material: this.material });
  }

  #recordExpiry(): void {
    const roots = this.#roots.roots;
    if (roots.length)
      this.#metrics.gauge(
        'citadel_server_root_cert_expiry_timestamp',
        Math.min(...roots.map((r) => r.notAfter)) / 1000,
      );
    const chainEnd = Math.min(...[this.#material.signingCert, ...this.#material.intermediates].map((c) => c.notAfter));
    this.#metrics.gauge('citadel_server_cert_chain_expiry_timestamp', chainEnd / 1000);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** cert-manager istio-csr's rules: empty subject, URI SANs = [identity], no other names, only SAN/KU/EKU/BC extensions. */
function checkStrictCsr(csr: CertificateRequest, identity: SpiffeId | undefined): void {
  const fail = (why: string) => {
    throw new CaError('ERR_CA_CSR_POLICY', why);
  };
  if (!csr.subject.isEmpty) fail(`the CSR has a subject (${csr.subject.toString()}); it must be empty`);
  const san = csr.subjectAltName;
  if (
    san &&
    (san.dnsNames.length || san.ipAddresses.length || san.emails.length || san.others || san.directoryNames.length)
  )
    fail('the CSR requests DNS, IP, email or other names');
  const uris = san?.uris ?? [];
  if (!identity || uris.length !== 1 || uris[0] !== identity.toString())
    fail(
      `the CSR URI SANs (${uris.join(', ') || 'none'}) must be exactly the identity ${identity?.toString() ?? '(none)'}`,
    );
  const allowed = new Set(['2.5.29.17', '2.5.29.15', '2.5.29.37', '2.5.29.19']);
  const extra = csr.extensions.filter((e) => !allowed.has(e.oid));
  if (extra.length) fail(`the CSR requests extensions ${extra.map((e) => e.oid).join(', ')}`);
}
