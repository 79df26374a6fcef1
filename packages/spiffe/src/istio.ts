// Istio's identity convention: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> (istio pkg/spiffe).
import { SpiffeError } from './errors.js';
import { SpiffeId, type TrustDomain } from './id.js';

/** Istio's default trust domain. */
export const ISTIO_DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface IstioIdentity {
  readonly trustDomain: TrustDomain;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** The SPIFFE ID of a Kubernetes service account in Istio's form. */
export function istioIdentity(options: {
  trustDomain?: TrustDomain | string;
  namespace: string;
  serviceAccount: string;
}): SpiffeId {
  const td = options.trustDomain ?? ISTIO_DEFAULT_TRUST_DOMAIN;
  return SpiffeId.fromSegments(td, 'ns', options.namespace, 'sa', options.serviceAccount);
}

/** Reads namespace and service account from an Istio-form SPIFFE ID; throws ERR_SPIFFE_NOT_ISTIO_IDENTITY otherwise. */
export function parseIstioIdentity(id: SpiffeId | string): IstioIdentity {
  const parsed = SpiffeId.parse(id);
  const [ns, namespace, sa, serviceAccount, ...rest] = parsed.segments;
  if (ns !== 'ns' || sa !== 'sa' || !namespace || !serviceAccount || rest.length > 0)
    throw new SpiffeError(
      'ERR_SPIFFE_NOT_ISTIO_IDENTITY',
      `${parsed.toString()} is not of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
      { details: { id: parsed.toString() } },
    );
  return { trustDomain: parsed.trustDomain, namespace, serviceAccount };
}
