// The security.istio.io resources as users write them (v1 and v1beta1 share one schema).

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';
export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface ObjectMeta {
  name: string;
  /** Omitted: the `defaultNamespace` option (like kubectl's current namespace). */
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** RFC 3339; decides which of several PeerAuthentications at one level wins (the oldest). */
  creationTimestamp?: string;
}

export interface WorkloadSelector {
  matchLabels?: Record<string, string>;
}

export interface PolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface Source {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  /** Istio's extended channel; not in the standard CRD schema. */
  trustDomains?: string[];
  notTrustDomains?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface Operation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface Condition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface Rule {
  from?: { source?: Source }[];
  to?: { operation?: Operation }[];
  when?: Condition[];
}

export interface AuthorizationPolicySpec {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  action?: PolicyAction;
  provider?: { name?: string };
  rules?: Rule[];
}

export type SecurityApiVersion = 'security.istio.io/v1' | 'security.istio.io/v1beta1';

export interface AuthorizationPolicy {
  apiVersion: SecurityApiVersion;
  kind: 'AuthorizationPolicy';
  metadata: ObjectMeta;
  spec?: AuthorizationPolicySpec;
}

export interface PeerAuthentication {
  apiVersion: SecurityApiVersion;
  kind: 'PeerAuthentication';
  metadata: ObjectMeta;
  spec?: {
    selector?: WorkloadSelector;
    mtls?: { mode?: MtlsMode };
    portLevelMtls?: Record<string, { mode?: MtlsMode }>;
  };
}

export interface JwtRule {
  issuer?: string;
  audiences?: string[];
  jwksUri?: string;
  jwks_uri?: string;
  jwks?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: { header: string; claim: string }[];
  timeout?: string;
}

export interface RequestAuthentication {
  apiVersion: SecurityApiVersion;
  kind: 'RequestAuthentication';
  metadata: ObjectMeta;
  spec?: {
    selector?: WorkloadSelector;
    targetRef?: PolicyTargetReference;
    targetRefs?: PolicyTargetReference[];
    jwtRules?: JwtRule[];
  };
}

export type SecurityResource = AuthorizationPolicy | PeerAuthentication | RequestAuthentication;

/** Where a resource came from, so messages can point at it. */
export interface ResourceOrigin {
  file?: string;
  /** 0-based index of the YAML document (or list item) in the file. */
  document?: number;
}
