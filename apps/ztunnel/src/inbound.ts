// Inbound decisions for one CONNECT on a pod's HBONE listener, pure over the state: authority checks, the target,
// then L4 authorization with the peer's verified SPIFFE identity (ztunnel semantics from @mesh/authz). The answers are
// the reference's: 400 for an authority that is not this pod, 503 for unknown/self-call targets, 401 when denied.
import type { Decision } from '@mesh/authz';
import { ILLEGAL_PORTS, type HostPort } from './outbound.js';
import type { ServiceView, WorkloadView, ZtunnelState } from './state.js';

export interface InboundRequest {
  /** The pod whose listener accepted the connection. */
  readonly pod: WorkloadView;
  /** The CONNECT :authority (already parsed by @mesh/hbone). */
  readonly authority: HostPort;
  /** The peer's SPIFFE ID from its verified client certificate; null for plaintext. */
  readonly peerIdentity: string | null;
  readonly peerIp: string;
  /** `forwarded: host=` (the destination service, for telemetry). */
  readonly forwardedHost: string | undefined;
}

export type InboundPlan =
  | {
      readonly kind: 'forward';
      readonly target: HostPort;
      readonly decision: Decision;
      readonly service: ServiceView | undefined;
      readonly source: WorkloadView | undefined;
    }
  | {
      readonly kind: 'refuse';
      readonly status: 400 | 401 | 503;
      readonly reason: string;
      readonly flag: 'DENY' | 'CONNECT' | '-';
      readonly decision: Decision | undefined;
      readonly service: ServiceView | undefined;
      readonly source: WorkloadView | undefined;
    };

/** The principal as authorization sees it: without `spiffe://`. */
export const principalOf = (identity: string | null) =>
  identity === null ? null : identity.replace(/^spiffe:\/\//, '');

export function planInbound(state: ZtunnelState, request: InboundRequest): InboundPlan {
  const { pod, authority } = request;
  const source = state.workloadByIp(request.peerIp);
  const service = request.forwardedHost ? state.serviceByHostname(request.forwardedHost) : undefined;
  if (!pod.ips.includes(authority.host))
    return {
      kind: 'refuse',
      status: 400,
      reason: `authority ${authority.host} is not this pod's address (IPMismatch)`,
      flag: '-',
      decision: undefined,
      service,
      source,
    };
  if (ILLEGAL_PORTS.has(authority.port))
    return {
      kind: 'refuse',
      status: 503,
      reason: `port ${authority.port} is a ztunnel port (SelfCall)`,
      flag: 'CONNECT',
      decision: undefined,
      service,
      source,
    };
  const decision = authorize(state, pod, request.peerIdentity, request.peerIp, authority);
  if (decision.decision !== 'allow')
    return { kind: 'refuse', status: 401, reason: decision.reason, flag: 'DENY', decision, service, source };
  return {
    kind: 'forward',
    target: authority,
    decision,
    service: service ?? state.serviceForTarget(pod, authority.port),
    source,
  };
}

export function authorize(
  state: ZtunnelState,
  pod: WorkloadView,
  peerIdentity: string | null,
  peerIp: string,
  destination: HostPort,
): Decision {
  return state.authorizerFor(pod).authorize({
    source: { principal: principalOf(peerIdentity), ip: peerIp },
    destination: { ip: destination.host, port: destination.port },
  });
}
