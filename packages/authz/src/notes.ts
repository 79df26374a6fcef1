// Compile-time notes: every rule the engine drops, every policy an enforcement point skips, and why.

export type EnforcementPoint = 'ztunnel' | 'waypoint';

export type NoteCode =
  /** ztunnel: CUSTOM and AUDIT policies are not sent to ztunnel (CUSTOM fails open at L4). */
  | 'ztunnel-unsupported-action'
  /** ztunnel: targetRefs policies are for waypoints only. */
  | 'ztunnel-target-refs'
  /** ztunnel: dry-run policies are not sent unless AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY is on. */
  | 'ztunnel-dry-run-not-sent'
  /** ztunnel: an ALLOW rule with HTTP attributes is dropped (fails closed). */
  | 'ztunnel-allow-rule-dropped'
  /** ztunnel: a DENY rule whose clauses keep no L4 field never matches (no-op). */
  | 'ztunnel-deny-rule-noop'
  /** ztunnel: a DENY rule is enforced on its L4 part only (broader than written). */
  | 'ztunnel-deny-rule-broadened'
  /** An ALLOW policy that can match nothing: the workloads it applies to become default-deny. */
  | 'allow-nothing'
  /** A rule no request can be decided by, because an earlier rule of the same policy matches whatever it matches. */
  | 'unreachable-rule'
  /** waypoint: policies with a selector, or namespace-wide ones, are enforced by ztunnel only. */
  | 'waypoint-not-attached'
  /** waypoint: a targetRef that cannot bind (GatewayClass outside the root namespace or not istio-waypoint, …). */
  | 'waypoint-target-invalid'
  /** waypoint: a CUSTOM policy names an extension provider the mesh does not define (matching requests are denied). */
  | 'custom-provider-unknown'
  /** waypoint: CUSTOM policies of one target name several providers (matching requests are denied). */
  | 'custom-providers-conflict'
  /** The dry-run annotation is not a boolean: the policy is enforced. */
  | 'dry-run-invalid'
  /** PeerAuthentication with a selector in the root namespace: ignored. */
  | 'peer-authentication-root-selector'
  /** PeerAuthentication DISABLE: ambient cannot turn mTLS off; it counts as "not STRICT". */
  | 'peer-authentication-disable'
  /** A resource that failed validation and was left out. */
  | 'invalid-resource';

export interface CompileNote {
  code: NoteCode;
  /** `<namespace>/<name>` of the resource. */
  policy: string;
  kind: 'AuthorizationPolicy' | 'PeerAuthentication' | 'RequestAuthentication';
  /** Where it applies; omitted when it applies everywhere. */
  at?: EnforcementPoint;
  /** Index in spec.rules, when the note is about one rule. */
  rule?: number;
  /** HTTP attributes found (for the ztunnel drop notes), sorted. */
  attributes?: string[];
  severity: 'info' | 'warning';
  message: string;
}
