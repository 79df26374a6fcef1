// The Istio CA gRPC API, istio.v1.auth.IstioCertificateService/CreateCertificate: a handler for @grpc/grpc-js with
// pluggable authenticators and ztunnel's node impersonation rule, and a ready-to-run server.
import * as grpc from '@grpc/grpc-js';
import { fromStruct, int64ToNumber } from '@mesh/api';
import {
  IstioCertificateServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '@mesh/api/istio.v1.auth';
import { type Certificate, parseIstioIdentity, SpiffeId } from '@mesh/spiffe';
import type { CertificateAuthority, CertificateSigner } from '../authority.js';
import { CaError, type CaErrorCode } from '../errors.js';
import { noMetrics, type CaMetrics } from '../metrics.js';
import { authenticate, type AuthRequest, type Authenticator, type Caller } from './auth.js';

/** gRPC metadata keys a CreateCertificate request may carry in its `metadata` Struct. */
export const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';

export interface ImpersonationOptions {
  /**
   * Node agents allowed to ask for other identities, as `namespace/serviceaccount` (Istio's CA_TRUSTED_NODE_ACCOUNTS,
   * chart default istio-system/ztunnel) or full SPIFFE IDs.
   */
  trustedNodeAccounts: readonly string[];
  /**
   * After the account check: may this caller obtain `identity`? Istio allows it when a pod with that service account
   * runs on the caller's node; the caller pod and node come from `caller.kubernetes` (bound token claims).
   */
  authorize(context: { caller: Caller; identity: SpiffeId; signal?: AbortSignal }): boolean | Promise<boolean>;
}

export interface IstioCaServiceOptions {
  ca: CertificateSigner;
  /** Tried in order; the first that accepts wins. */
  authenticators: readonly Authenticator[];
  /** Without it, requests that set ImpersonatedIdentity are refused. */
  impersonation?: ImpersonationOptions;
  metrics?: CaMetrics;
}

/** gRPC status for each CA error (as istiod: Unauthenticated for auth failures, InvalidArgument for bad requests). */
const STATUS: Partial<Record<CaErrorCode, grpc.status>> = {
  ERR_CA_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  ERR_CA_IMPERSONATION_DENIED: grpc.status.UNAUTHENTICATED,
  ERR_CA_AMBIGUOUS_IDENTITY: grpc.status.PERMISSION_DENIED,
  ERR_CA_FOREIGN_TRUST_DOMAIN: grpc.status.PERMISSION_DENIED,
  ERR_CA_BAD_CSR: grpc.status.INVALID_ARGUMENT,
  ERR_CA_CSR_SIGNATURE: grpc.status.INVALID_ARGUMENT,
  ERR_CA_CSR_POLICY: grpc.status.INVALID_ARGUMENT,
  ERR_CA_KEY_NOT_ALLOWED: grpc.status.INVALID_ARGUMENT,
  ERR_CA_TTL_TOO_LONG: grpc.status.INVALID_ARGUMENT,
  ERR_CA_INVALID_OPTION: grpc.status.INVALID_ARGUMENT,
  ERR_CA_BAD_IDENTITY: grpc.status.INVALID_ARGUMENT,
};

export function grpcStatusOf(error: CaError): grpc.status {
  return STATUS[error.code] ?? grpc.status.INTERNAL;
}

/** The request facts the handler needs, from a grpc-js call. */
export function authRequestOf(call: grpc.ServerUnaryCall<unknown, unknown>): AuthRequest {
  const metadata = new Map<string, string[]>();
  for (const key of Object.keys(call.metadata.getMap()))
    metadata.set(
      key.toLowerCase(),
      call.metadata.get(key).map((v) => (typeof v === 'string' ? v : v.toString('utf8'))),
    );
  // grpc-js exposes the client leaf only, and only when the TLS layer verified it against the server's CAs.
  const peer = call.getAuthContext?.()?.sslPeerCertificate;
  return { metadata, ...(peer?.raw ? { peerCertificates: [peer.raw] } : {}) };
}

function accountsOf(caller: Caller): string[] {
  const out = caller.identities.map((id) => id.toString());
  if (caller.kubernetes) out.push(`${caller.kubernetes.namespace}/${caller.kubernetes.serviceAccount}`);
  for (const id of caller.identities) {
    try {
      const istio = parseIstioIdentity(id);
      out.push(`${istio.namespace}/${istio.serviceAccount}`);
    } catch {
      // not of the Istio form
    }
  }
  return out;
}

export interface IstioCaService {
  /** The grpc-js handler: `server.addService(IstioCertificateServiceDefinition, service)`. */
  createCertificate: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;
  /** The same logic without gRPC: authenticate, decide the identity, sign. Throws CaError. */
  handle(request: IstioCertificateRequest, auth: AuthRequest): Promise<IstioCertificateResponse>;
}

export function createIstioCaService(options: IstioCaServiceOptions): IstioCaService {
  const metrics = options.metrics ?? noMetrics;

  const decideIdentity = async (caller: Caller, request: IstioCertificateRequest, auth: AuthRequest) => {
    const metadata = fromStruct(request.metadata);
    const impersonated = metadata[IMPERSONATED_IDENTITY];
    const callerName = caller.identities.map(String).join(',');
    if (impersonated !== undefined && impersonated !== null && impersonated !== '') {
      const deny = (why: string): never => {
        throw new CaError('ERR_CA_IMPERSONATION_DENIED', `request impersonation authentication failure: ${why}`, {
          details: { caller: callerName },
        });
      };
      const rule = options.impersonation;
      if (!rule) return deny('impersonation is not enabled on this CA');
      if (typeof impersonated !== 'string') return deny('ImpersonatedIdentity must be a string');
      const accounts = accountsOf(caller);
      if (!rule.trustedNodeAccounts.some((a) => accounts.includes(a)))
        return deny(`${callerName} is not a trusted node agent`);
      let identity: SpiffeId;
      try {
        identity = SpiffeId.parse(impersonated);
        parseIstioIdentity(identity);
      } catch (error) {
        return deny(
          `ImpersonatedIdentity ${JSON.stringify(impersonated)} is not spiffe://<td>/ns/<ns>/sa/<sa>: ${(error as Error).message}`,
        );
      }
      const allowed = await rule.authorize({ caller, identity, ...(auth.signal ? { signal: auth.signal } : {}) });
      if (!allowed) return deny(`${identity.toString()} has no workload on the node of ${callerName}`);
      return { identity, impersonatedBy: callerName };
    }
    const own = caller.identities.filter((id) => id.isMemberOf(options.ca.trustDomain));
    if (own.length === 0)
      throw new CaError(
        'ERR_CA_FOREIGN_TRUST_DOMAIN',
        `caller ${callerName} has no identity in trust domain ${options.ca.trustDomain.name}`,
      );
    if (own.length > 1)
      throw new CaError('ERR_CA_AMBIGUOUS_IDENTITY', `caller has ${own.length} identities: ${own.join(', ')}`);
    return { identity: own[0]!, impersonatedBy: undefined };
  };

  const handle = async (request: IstioCertificateRequest, auth: AuthRequest): Promise<IstioCertificateResponse> => {
    let caller: Caller;
    try {
      caller = await authenticate(options.authenticators, auth);
    } catch (error) {
      metrics.counter('citadel_server_authentication_failure_count');
      throw error;
    }
    let decided: { identity: SpiffeId; impersonatedBy: string | undefined };
    try {
      decided = await decideIdentity(caller, request, auth);
    } catch (error) {
      metrics.counter('citadel_server_id_extraction_err_count');
      throw error;
    }
    const issued = await options.ca.sign({
      ...(auth.signal ? { signal: auth.signal } : {}),
      csr: request.csr,
      identity: decided.identity,
      ttlMs: int64ToNumber(request.validityDuration) * 1000,
      caller: caller.identities.map(String).join(','),
      ...(decided.impersonatedBy ? { impersonatedBy: decided.impersonatedBy } : {}),
    });
    return { certChain: issued.certChain };
  };

  return {
    handle,
    createCertificate(call, callback) {
      // A cancelled call (client gone, deadline passed) aborts authentication callbacks and async signers.
      const controller = new AbortController();
      call.once('cancelled', () => controller.abort());
      handle(call.request, { ...authRequestOf(call), signal: controller.signal }).then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (error instanceof CaError)
            callback({ code: grpcStatusOf(error), details: `${error.code}: ${error.message}` }, null);
          else
            callback(
              {
                code: grpc.status.INTERNAL,
                details: `internal error: ${error instanceof Error ? error.message : String(error)}`,
              },
              null,
            );
        },
      );
    },
  };
}

export interface ServeIstioCaOptions extends Omit<IstioCaServiceOptions, 'ca'> {
  ca: CertificateAuthority;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port); istiod uses 15012. */
  port?: number;
  /**
   * TLS for the server. Default: a serving certificate issued by `ca` for `dnsNames`, renewed at half-life, with the
   * CA bundle as client CAs; client certificates are requested but optional (JWT callers need none).
   */
  credentials?: grpc.ServerCredentials;
  /** DNS names of the default serving certificate; default istiod.istio-system.svc and localhost. */
  dnsNames?: readonly string[];
  /** Plaintext (as istiod's 15010, tests only): no TLS, so client certificates cannot authenticate. */
  insecure?: boolean;
}

export interface IstioCaServer extends AsyncDisposable {
  readonly server: grpc.Server;
  readonly port: number;
  /** host:port to dial. */
  readonly address: string;
  readonly service: IstioCaService;
  close(): Promise<void>;
}

export interface CaServerCredentials {
  /** TLS server credentials: the current serving certificate, and the CA bundle for (optional) client certificates. */
  readonly credentials: grpc.ServerCredentials;
  /** The serving certificate in use (renewed at half-life, re-issued when the bundle changes). */
  readonly certificate: Certificate;
  /** Stops renewing. */
  close(): void;
}

export interface CaServerCredentialsOptions {
  /** DNS names of the serving certificate; default istiod.istio-system.svc and localhost. */
  dnsNames?: readonly string[];
  /** Refuse clients without a certificate. Default false: JWT callers need none. */
  requireClientCertificate?: boolean;
  /** How often to check whether the serving certificate reached half-life. Default 60 s. */
  checkIntervalMs?: number;
}

/**
 * Server credentials fed by a CertificateAuthority (grpc-js's CertificateProvider API): a serving certificate the CA
 * issues for `dnsNames` and renews at half-life, with the CA bundle to verify client certificates. What istiod serves
 * 15012 with, xDS and the CA on one port.
 */
export function createCaServerCredentials(
  ca: CertificateAuthority,
  options: CaServerCredentialsOptions = {},
): CaServerCredentials {
  const dnsNames = options.dnsNames ?? ['istiod.istio-system.svc', 'localhost'];
  const caListeners = new Set<(update: { caCertificate: Buffer } | null) => void>();
  const idListeners = new Set<(update: { certificate: Buffer; privateKey: Buffer } | null) => void>();
  let identity = ca.issue({ dnsNames, caller: 'serving-certificate' });
  const push = () => {
    for (const l of caListeners) l({ caCertificate: Buffer.from(ca.rootCertPem) });
    for (const l of idListeners)
      l({ certificate: Buffer.from(identity.chainPem), privateKey: Buffer.from(identity.keyPem) });
  };
  const unsubscribe = ca.onBundleChange(() => {
    // A new root (or signing certificate) gets a serving certificate that chains to it.
    identity = ca.issue({ dnsNames, caller: 'serving-certificate' });
    push();
  });
  const renew = () => {
    const { notBefore, notAfter } = identity.certificate;
    if (ca.clock.now() >= notBefore + (notAfter - notBefore) / 2) {
      identity = ca.issue({ dnsNames, caller: 'serving-certificate' });
      push();
    }
  };
  const timer = setInterval(renew, options.checkIntervalMs ?? 60_000);
  timer.unref?.();
  const provider = {
    addCaCertificateListener(l: (update: { caCertificate: Buffer } | null) => void) {
      caListeners.add(l);
      // grpc-js registers its watcher after adding listeners: deliver the first update asynchronously.
      queueMicrotask(() => caListeners.has(l) && l({ caCertificate: Buffer.from(ca.rootCertPem) }));
    },
    removeCaCertificateListener(l: (update: { caCertificate: Buffer } | null) => void) {
      caListeners.delete(l);
    },
    addIdentityCertificateListener(l: (update: { certificate: Buffer; privateKey: Buffer } | null) => void) {
      idListeners.add(l);
      queueMicrotask(
        () =>
          idListeners.has(l) &&
          l({ certificate: Buffer.from(identity.chainPem), privateKey: Buffer.from(identity.keyPem) }),
      );
    },
    removeIdentityCertificateListener(l: (update: { certificate: Buffer; privateKey: Buffer } | null) => void) {
      idListeners.delete(l);
    },
  };
  return {
    credentials: grpc.experimental.createCertificateProviderServerCredentials(
      provider as never,
      provider as never,
      options.requireClientCertificate ?? false,
    ),
    get certificate() {
      return identity.certificate;
    },
    close() {
      clearInterval(timer);
      unsubscribe();
    },
  };
}

/** Runs the Istio CA service on a grpc-js server (TLS by default). Dispose it to stop. */
export async function serveIstioCa(options: ServeIstioCaOptions & { signal?: AbortSignal }): Promise<IstioCaServer> {
  const service = createIstioCaService(options);
  const server = new grpc.Server();
  server.addService(IstioCertificateServiceDefinition, service as unknown as grpc.UntypedServiceImplementation);
  let provider: CaServerCredentials | undefined;
  let credentials = options.credentials;
  if (!credentials && options.insecure) credentials = grpc.ServerCredentials.createInsecure();
  if (!credentials) {
    provider = createCaServerCredentials(options.ca, options.dnsNames ? { dnsNames: options.dnsNames } : {});
    credentials = provider.credentials;
  }
  const host = options.host ?? '127.0.0.1';
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${options.port ?? 0}`, credentials, (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  } catch (error) {
    provider?.close();
    server.forceShutdown();
    throw error;
  }
  const close = async () => {
    provider?.close();
    // Let calls in flight finish, but do not wait on idle clients forever.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 5_000);
      force.unref?.();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  };
  options.signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    server,
    port,
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    service,
    close,
    [Symbol.asyncDispose]: close,
  };
}
