// The Kubernetes and Istio objects the ambient index reads, as plain data (the fields it uses; validation in
// schema.ts/validate.ts). Security kinds are @mesh/authz's types and routing kinds @mesh/l7's.
import type { SecurityResource } from '@mesh/authz';
import type { L7Resource } from '@mesh/l7';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences?: { apiVersion?: string; kind: string; name: string; controller?: boolean }[];
  [field: string]: unknown;
}

interface Base<Kind extends string> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
}

export type Namespace = Base<'Namespace'>;

export interface Node extends Base<'Node'> {
  spec?: Record<string, unknown>;
  status?: { addresses?: { type: string; address: string }[] };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Pod extends Base<'Pod'> {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    serviceAccount?: string;
    hostNetwork?: boolean;
    containers?: { name: string; ports?: ContainerPort[]; [field: string]: unknown }[];
    [field: string]: unknown;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    conditions?: { type: string; status: string }[];
    [field: string]: unknown;
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
  nodePort?: number;
}

export interface Service extends Base<'Service'> {
  spec?: {
    selector?: Record<string, string>;
    ports?: ServicePort[];
    clusterIP?: string;
    clusterIPs?: string[];
    type?: string;
    externalName?: string;
    trafficDistribution?: string;
    [field: string]: unknown;
  };
}

export type ServiceAccount = Base<'ServiceAccount'>;

export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface WorkloadEntry extends Base<'WorkloadEntry'> {
  spec?: WorkloadEntrySpec;
}

export interface ServiceEntryPort {
  number: number;
  protocol?: string;
  name: string;
  targetPort?: number;
}

export interface ServiceEntry extends Base<'ServiceEntry'> {
  spec?: {
    hosts: string[];
    addresses?: string[];
    ports?: ServiceEntryPort[];
    location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
    resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';
    endpoints?: WorkloadEntrySpec[];
    workloadSelector?: { labels?: Record<string, string> };
    exportTo?: string[];
    subjectAltNames?: string[];
  };
}

export interface GatewayListener {
  name: string;
  hostname?: string;
  port: number;
  protocol: string;
  [field: string]: unknown;
}

export interface Gateway extends Base<'Gateway'> {
  spec: {
    gatewayClassName: string;
    listeners: GatewayListener[];
    addresses?: { type?: string; value: string }[];
    [field: string]: unknown;
  };
  status?: { addresses?: { type?: string; value: string }[]; [field: string]: unknown };
}

export interface GatewayClass extends Base<'GatewayClass'> {
  spec: { controllerName: string; [field: string]: unknown };
}

/** The kinds @mesh/config validates itself. */
export type CoreResource =
  Namespace | Node | Pod | Service | ServiceAccount | WorkloadEntry | ServiceEntry | Gateway | GatewayClass;

/** Every kind the index reads. */
export type MeshResource = CoreResource | SecurityResource | L7Resource;

export type MeshKind = MeshResource['kind'];

/** Where a document came from: file and 0-based document index (items of a `kind: List` share it). */
export interface Origin {
  file?: string;
  document?: number;
}

/** One object of a store: the validated resource, its key and where it was read. */
export interface ConfigObject<R extends MeshResource = MeshResource> {
  /** `<Kind>/<namespace>/<name>`; cluster-scoped kinds (Namespace, Node, GatewayClass) have an empty namespace. */
  readonly key: string;
  readonly kind: R['kind'];
  readonly namespace: string;
  readonly name: string;
  readonly resource: R;
  readonly origin: Origin;
}

export const CLUSTER_SCOPED: ReadonlySet<string> = new Set(['Namespace', 'Node', 'GatewayClass']);

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${CLUSTER_SCOPED.has(kind) ? '' : namespace}/${name}`;
}
