// A client of istio.v1.auth.IstioCertificateService/CreateCertificate, as ztunnel and istio-agent use it: a bearer
// token read fresh for each call, the clusterid header, optional impersonation, and a check that the returned leaf
// carries exactly the requested identity.
import * as grpc from '@grpc/grpc-js';
import { abortError, throwIfAborted } from '@mesh/core';
import { toStruct } from '@mesh/api';
import {
  IstioCertificateServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '@mesh/api/istio.v1.auth';
import {
  createCertificateRequest,
  generatePrivateKey,
  type KeyType,
  parseCertificates,
  SpiffeError,
  SpiffeId,
  verifyX509Svid,
  X509Bundle,
  X509Svid,
} from '@mesh/spiffe';
import { CaError, type CaErrorCode, errorCodes } from '../errors.js';
import { IMPERSONATED_IDENTITY } from './service.js';

export interface IstioCaClientOptions {
  /** host:port of the CA (istiod: istiod.istio-system.svc:15012). */
  address: string;
  /** Channel credentials: TLS trusting the CA roots (grpc.credentials.createSsl(rootPem, …)). */
  credentials: grpc.ChannelCredentials;
  /** The bearer token, or a function returning it; read fresh for every call (tokens rotate). */
  token?: string | (() => string | Promise<string>);
  /** Sent as the clusterid header (Istio's CLUSTER_ID); default none. */
  clusterId?: string;
  /** Extra headers (Istio's CA_HEADER_* environment variables). */
  headers?: Readonly<Record<string, string>>;
  channelOptions?: grpc.ChannelOptions;
  /** Per-call deadline in milliseconds; default 30 s. */
  timeoutMs?: number;
}

export interface CreateCertificateOptions {
  /** PEM PKCS#10. */
  csr: string;
  /** Requested lifetime; the CA default when omitted. Sent in whole seconds. */
  ttlMs?: number;
  /** Ask for this identity on a workload's behalf (node agents only). */
  impersonate?: SpiffeId | string;
  signal?: AbortSignal;
}

export interface FetchSvidOptions {
  /** The identity expected in the certificate (the caller's own, or the impersonated one). */
  identity: SpiffeId | string;
  /** Send `identity` as ImpersonatedIdentity (ztunnel's shared mode). */
  impersonate?: boolean;
  ttlMs?: number;
  /** Key to generate; default ec (ECDSA P-256, as ztunnel). */
  keyType?: KeyType;
  signal?: AbortSignal;
}

export interface FetchedSvid {
  readonly svid: X509Svid;
  /** The roots of the last cert_chain element: the trust anchors for workload mTLS. */
  readonly bundle: X509Bundle;
  /** The raw cert_chain. */
  readonly certChain: readonly string[];
}

type UnaryClient = grpc.Client & {
  createCertificate(
    request: IstioCertificateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: IstioCertificateResponse) => void,
  ): grpc.ClientUnaryCall;
};

const Client = grpc.makeGenericClientConstructor(
  IstioCertificateServiceDefinition as unknown as grpc.ServiceDefinition,
  'IstioCertificateService',
);

/** Maps a gRPC error whose details start with `ERR_CA_…:` back to that CaError. */
function errorFrom(error: grpc.ServiceError): CaError {
  const match = /^(ERR_CA_[A-Z0-9_]+): ([\s\S]*)$/.exec(error.details ?? '');
  if (match && match[1]! in errorCodes)
    return new CaError(match[1] as CaErrorCode, match[2]!, { cause: error, details: { grpcStatus: error.code } });
  return new CaError(
    'ERR_CA_REQUEST_FAILED',
    `CreateCertificate failed: ${grpc.status[error.code] ?? error.code}: ${error.details || error.message}`,
    { cause: error, details: { grpcStatus: error.code } },
  );
}

export class IstioCaClient implements AsyncDisposable {
  readonly #client: UnaryClient;
  readonly #options: IstioCaClientOptions;

  constructor(options: IstioCaClientOptions) {
    this.#options = options;
    this.#client = new Client(options.address, options.credentials, options.channelOptions) as unknown as UnaryClient;
  }

  /** One CreateCertificate call; resolves to the raw cert_chain (leaf first, roots last). */
  async createCertificate(options: CreateCertificateOptions): Promise<string[]> {
    throwIfAborted(options.signal);
    const metadata = new grpc.Metadata();
    const token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    if (token) metadata.set('authorization', `Bearer ${token}`);
    if (this.#options.clusterId) metadata.set('clusterid', this.#options.clusterId);
    for (const [key, value] of Object.entries(this.#options.headers ?? {})) metadata.set(key, value);
    const request: IstioCertificateRequest = {
      csr: options.csr,
      validityDuration: options.ttlMs === undefined ? 0 : Math.round(options.ttlMs / 1000),
      ...(options.impersonate !== undefined
        ? { metadata: toStruct({ [IMPERSONATED_IDENTITY]: String(options.impersonate) }) }
        : {}),
    };
    throwIfAborted(options.signal);
    return await new Promise<string[]>((resolve, reject) => {
      const call = this.#client.createCertificate(
        request,
        metadata,
        { deadline: Date.now() + (this.#options.timeoutMs ?? 30_000) },
        (error, response) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (error) reject(options.signal?.aborted ? abortError(options.signal) : errorFrom(error));
          else resolve([...(response?.certChain ?? [])]);
        },
      );
      const onAbort = () => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Generates a key and CSR for `identity`, calls the CA, and checks the answer as ztunnel does: at least a leaf and a
   * root element, the leaf carries exactly `identity`, and the chain verifies against the returned roots.
   */
  async fetchSvid(options: FetchSvidOptions): Promise<FetchedSvid> {
    const identity = SpiffeId.parse(options.identity);
    const privateKey = generatePrivateKey({ type: options.keyType ?? 'ec' });
    const csr = createCertificateRequest({ privateKey, uris: [identity] }).toPem();
    const certChain = await this.createCertificate({
      csr,
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(options.impersonate ? { impersonate: identity } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (certChain.length < 2)
      throw new CaError(
        'ERR_CA_BAD_RESPONSE',
        `the CA returned ${certChain.length} certificate element(s); expected leaf and root`,
      );
    try {
      const chain = parseCertificates(certChain.slice(0, -1).join(''));
      const bundle = X509Bundle.fromPem(identity.trustDomain, certChain.at(-1)!);
      const svid = X509Svid.parse({ certificates: chain, privateKey });
      if (!svid.id.equals(identity))
        throw new CaError(
          'ERR_CA_IDENTITY_MISMATCH',
          `asked for ${identity.toString()}, the CA issued ${svid.id.toString()}`,
          { details: { requested: identity.toString(), issued: svid.id.toString() } },
        );
      verifyX509Svid(chain, bundle);
      return { svid, bundle, certChain };
    } catch (error) {
      if (error instanceof SpiffeError)
        throw new CaError(
          'ERR_CA_BAD_RESPONSE',
          `the CA response does not hold a valid SVID: ${error.code}: ${error.message}`,
          {
            cause: error,
          },
        );
      throw error;
    }
  }

  close(): void {
    this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
