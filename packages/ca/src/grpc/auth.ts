// Who is calling the CA. Authenticators run in order and the first that accepts wins (Istio's rule); each says
// "not mine" (undefined: no credential of its kind) or fails with a reason, which ends up in the Unauthenticated reply.
import { systemClock, type Clock } from '@mesh/core';
import {
  type Certificate,
  istioIdentity,
  parseIstioIdentity,
  SpiffeError,
  SpiffeId,
  TrustDomain,
  verifyX509Svid,
  type X509BundleSource,
} from '@mesh/spiffe';
import { CaError } from '../errors.js';
import { type Jwks, JwtError, type JwtClaims, verifyJwt } from './jwt.js';

export interface KubernetesCaller {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly podUid?: string;
  readonly nodeName?: string;
}

/** An authenticated caller. */
export interface Caller {
  /** The caller's SPIFFE identities (one for every authenticator here). */
  readonly identities: readonly SpiffeId[];
  /** Which authenticator accepted it. */
  readonly authenticator: string;
  /** Service account facts when the credential carried them (bound service account tokens do). */
  readonly kubernetes?: KubernetesCaller;
  /** The verified token claims, for JWT callers. */
  readonly claims?: JwtClaims;
}

export interface AuthRequest {
  /** gRPC request metadata, keys lowercase, each with its values. */
  readonly metadata: ReadonlyMap<string, readonly string[]>;
  /** The TLS client certificate chain (DER, leaf first) when the connection verified one. */
  readonly peerCertificates?: readonly Uint8Array[];
  readonly signal?: AbortSignal;
}

export interface Authenticator {
  readonly name: string;
  /** A caller, undefined when the request carries no credential of this kind, or throws CaError with the reason. */
  authenticate(request: AuthRequest): Promise<Caller | undefined>;
}

function unauthenticated(reason: string, cause?: unknown): CaError {
  return new CaError('ERR_CA_UNAUTHENTICATED', reason, cause === undefined ? {} : { cause });
}

/** The bearer token of an `authorization: Bearer <token>` header, if any. */
export function bearerToken(metadata: ReadonlyMap<string, readonly string[]>): string | undefined {
  for (const value of metadata.get('authorization') ?? []) {
    const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Kubernetes service account claims: bound tokens carry `kubernetes.io` (namespace, serviceaccount, pod, node);
 * legacy tokens carry `sub: system:serviceaccount:<ns>:<sa>`.
 */
export function kubernetesCaller(claims: JwtClaims): KubernetesCaller | undefined {
  const k8s = claims['kubernetes.io'] as
    | {
        namespace?: string;
        serviceaccount?: { name?: string };
        pod?: { name?: string; uid?: string };
        node?: { name?: string };
      }
    | undefined;
  if (k8s?.namespace && k8s.serviceaccount?.name)
    return {
      namespace: k8s.namespace,
      serviceAccount: k8s.serviceaccount.name,
      ...(k8s.pod?.name ? { podName: k8s.pod.name } : {}),
      ...(k8s.pod?.uid ? { podUid: k8s.pod.uid } : {}),
      ...(k8s.node?.name ? { nodeName: k8s.node.name } : {}),
    };
  const sub = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub ?? '');
  return sub ? { namespace: sub[1]!, serviceAccount: sub[2]! } : undefined;
}

export interface BearerJwtAuthenticatorOptions {
  /** Trust domain of the identities the tokens map to. Default cluster.local. */
  trustDomain?: TrustDomain | string;
  /** Accepted audiences; default ["istio-ca"] (the audience of ztunnel's projected token). */
  audiences?: readonly string[];
  /** Accepted issuers; any when omitted. */
  issuers?: readonly string[];
  /** Keys that sign the tokens: a JWKS, or a function returning the current one (refreshed by the caller). */
  jwks?: Jwks | (() => Jwks | Promise<Jwks>);
  /**
   * Instead of local verification, a callback that verifies the token and returns its claims (for example a
   * Kubernetes TokenReview with `audiences`). It must check the audience itself. Throw to reject.
   */
  verify?: (token: string, context: { audiences: readonly string[]; signal?: AbortSignal }) => Promise<JwtClaims>;
  /** Maps verified claims to an identity; default: the Kubernetes service account in Istio's form. */
  identity?: (claims: JwtClaims) => SpiffeId | string | undefined;
  clock?: Clock;
  leewayMs?: number;
}

/** Bearer JWT authentication (`authorization: Bearer <token>`), as istiod's Kubernetes JWT and OIDC authenticators. */
export function bearerJwtAuthenticator(options: BearerJwtAuthenticatorOptions): Authenticator {
  if (!options.jwks === !options.verify)
    throw new CaError('ERR_CA_INVALID_OPTION', 'bearerJwtAuthenticator needs exactly one of jwks and verify');
  const td = TrustDomain.parse(options.trustDomain ?? 'cluster.local');
  const audiences = options.audiences ?? ['istio-ca'];
  const clock = options.clock ?? systemClock;
  return {
    name: 'jwt',
    async authenticate(request) {
      const token = bearerToken(request.metadata);
      if (token === undefined) return undefined;
      let claims: JwtClaims;
      try {
        if (options.verify)
          claims = await options.verify(token, { audiences, ...(request.signal ? { signal: request.signal } : {}) });
        else {
          const jwks = typeof options.jwks === 'function' ? await options.jwks() : options.jwks!;
          claims = verifyJwt(token, {
            jwks,
            audiences,
            now: clock.now(),
            ...(options.issuers ? { issuers: options.issuers } : {}),
            ...(options.leewayMs !== undefined ? { leewayMs: options.leewayMs } : {}),
          });
        }
      } catch (error) {
        if (error instanceof CaError) throw error;
        throw unauthenticated(`bearer token rejected: ${(error as Error).message}`, error);
      }
      const kubernetes = kubernetesCaller(claims);
      let identity: SpiffeId | undefined;
      try {
        const mapped = options.identity
          ? options.identity(claims)
          : kubernetes
            ? istioIdentity({
                trustDomain: td,
                namespace: kubernetes.namespace,
                serviceAccount: kubernetes.serviceAccount,
              })
            : undefined;
        identity = mapped === undefined ? undefined : SpiffeId.parse(mapped);
      } catch (error) {
        throw unauthenticated(`the token does not map to a SPIFFE ID: ${(error as Error).message}`, error);
      }
      if (!identity) throw unauthenticated('the token carries no service account (kubernetes.io claims or sub)');
      return { identities: [identity], authenticator: 'jwt', claims, ...(kubernetes ? { kubernetes } : {}) };
    },
  };
}

export interface ClientCertificateAuthenticatorOptions {
  /**
   * The CA whose SVIDs authenticate: its current bundle, and its signing certificate and intermediates to complete
   * chains. Or give `bundles` (and `intermediates`) yourself.
   */
  ca?: {
    readonly bundle: X509BundleSource;
    readonly signingCertificate: Certificate;
    readonly roots: readonly Certificate[];
    readonly material: { readonly intermediates: readonly Certificate[] };
  };
  /** Bundles client SVIDs are verified against (usually the CA's own bundle, kept current). */
  bundles?: X509BundleSource | (() => X509BundleSource);
  /** Intermediates to complete chains with: gRPC servers only expose the client's leaf. */
  intermediates?: readonly Certificate[] | (() => readonly Certificate[]);
  clock?: Clock;
}

/** Client certificate authentication: the caller is the SPIFFE ID of its verified SVID (renewals, VMs). */
export function clientCertificateAuthenticator(options: ClientCertificateAuthenticatorOptions): Authenticator {
  if (!options.ca === !options.bundles)
    throw new CaError('ERR_CA_INVALID_OPTION', 'clientCertificateAuthenticator needs exactly one of ca and bundles');
  return {
    name: 'client-certificate',
    async authenticate(request) {
      const chain = request.peerCertificates;
      if (!chain || chain.length === 0) return undefined;
      const ca = options.ca;
      const bundles = ca ? ca.bundle : typeof options.bundles === 'function' ? options.bundles() : options.bundles!;
      const intermediates = ca
        ? [
            ...(ca.roots.some((r) => r.equals(ca.signingCertificate)) ? [] : [ca.signingCertificate]),
            ...ca.material.intermediates,
          ]
        : typeof options.intermediates === 'function'
          ? options.intermediates()
          : (options.intermediates ?? []);
      try {
        const verified = verifyX509Svid([...chain, ...intermediates.map((c) => c.der)], bundles, {
          clock: options.clock ?? systemClock,
        });
        let kubernetes: KubernetesCaller | undefined;
        try {
          const istio = parseIstioIdentity(verified.id);
          kubernetes = { namespace: istio.namespace, serviceAccount: istio.serviceAccount };
        } catch {
          kubernetes = undefined;
        }
        return {
          identities: [verified.id],
          authenticator: 'client-certificate',
          ...(kubernetes ? { kubernetes } : {}),
        };
      } catch (error) {
        if (error instanceof SpiffeError)
          throw unauthenticated(`client certificate rejected: ${error.code}: ${error.message}`, error);
        throw error;
      }
    },
  };
}

/** Runs authenticators in order; the first caller wins. Throws ERR_CA_UNAUTHENTICATED with every reason otherwise. */
export async function authenticate(authenticators: readonly Authenticator[], request: AuthRequest): Promise<Caller> {
  const reasons: string[] = [];
  for (const authenticator of authenticators) {
    try {
      const caller = await authenticator.authenticate(request);
      if (caller) return caller;
      reasons.push(`${authenticator.name}: no credential`);
    } catch (error) {
      if (!(error instanceof CaError)) throw error;
      reasons.push(`${authenticator.name}: ${error.message}`);
    }
  }
  throw unauthenticated(`request authenticate failure (${reasons.join('; ') || 'no authenticators'})`);
}

export { JwtError };
