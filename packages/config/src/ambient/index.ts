// The ambient index: what istiod computes from Kubernetes/Istio objects for ztunnel (istio.workload.Address and
// istio.security.Authorization resources, reference ambient-dataplane.md §3–4) and for each waypoint (route tables
// and policies). Incremental: an event recomputes only the units (a Pod, a Service, a ServiceEntry, a WorkloadEntry)
// that depend on the changed object, and `apply` reports which resources actually changed (byte-level), so istiod
// pushes only those.
import { createHash } from 'node:crypto';
import { Address as AddressCodec } from '@mesh/api/istio.workload';
import { Authorization as AuthorizationCodec, type Authorization } from '@mesh/api/istio.security';
import {
  createAuthorizer,
  type AuthorizationPolicy,
  type Authorizer,
  type L4Policy,
  type RequestAuthentication,
  type SecurityResource,
} from '@mesh/authz';
import { toAuthorization } from '@mesh/authz/xds';
import {
  compileRouteTable,
  resolveHost,
  type DestinationRule,
  type GatewayHTTPRoute,
  type GRPCRoute,
  type L7Resource,
  type RouteTable,
  type VirtualService,
} from '@mesh/l7';
import { ConfigError } from '../errors.js';
import { canonicalIp, formatIp, IpAllocator, parseCidr, parseIp } from '../ip.js';
import type {
  ConfigObject,
  Gateway,
  GatewayClass,
  Namespace,
  Node,
  Pod,
  Service as KubeService,
  ServiceEntry,
  WorkloadEntry,
  WorkloadEntrySpec,
} from '../resources.js';
import type { ConfigEvent } from '../store/store.js';
import {
  AUTOALLOCATE,
  canonicalName,
  canonicalRevision,
  DATAPLANE_MODE,
  GATEWAY_MANAGED,
  GATEWAY_NAME,
  HBONE_PORT,
  INGRESS_USE_WAYPOINT,
  INJECTION,
  REVISION,
  labelSelectorMatches,
  selectorMatches,
  REDIRECTION,
  SIDECAR_INJECT,
  SIDECAR_STATUS,
  TRAFFIC_DISTRIBUTION,
  TUNNEL,
  USE_WAYPOINT,
  USE_WAYPOINT_NAMESPACE,
  WAYPOINT_CLASS,
  WAYPOINT_FOR,
  type LabelSelector,
  type Labels,
} from './labels.js';

/** The plain-object form the codec encodes (what `Address.create` takes). */
export type AddressMessage = Parameters<typeof AddressCodec.encode>[0];

// Enum values of istio.workload (numbers on the wire).
const TUNNEL_NONE = 0;
const TUNNEL_HBONE = 1;
const WORKLOAD_TYPE = { DEPLOYMENT: 0, CRONJOB: 1, POD: 2, JOB: 3 } as const;
const APP_PROTOCOL = { UNKNOWN: 0, HTTP11: 1, HTTP2: 2, GRPC: 3, TCP: 4, TLS: 5 } as const;

export interface AmbientIndexOptions {
  /** `Workload.cluster_id` and the first part of workload uids (default `Kubernetes`, ztunnel's CLUSTER_ID default). */
  clusterId?: string;
  /** The network of every workload and VIP (default empty: the default network). */
  network?: string;
  /** Service hostnames: `<name>.<namespace>.svc.<domainSuffix>` (default `cluster.local`). */
  domainSuffix?: string;
  /** The mesh trust domain (default `cluster.local`); `Workload.trust_domain` is elided when it is this. */
  trustDomain?: string;
  /** Mesh-wide policy namespace (default `istio-system`). */
  rootNamespace?: string;
  /** Range for Services without `spec.clusterIP` (default `10.96.0.0/12`, Kubernetes' default service range). */
  serviceCidr?: string;
  /** Range for ServiceEntries without `spec.addresses` (default `240.240.0.0/16`, Istio's auto-allocation range). */
  serviceEntryCidr?: string;
  /** Send dry-run AuthorizationPolicies to ztunnel (istiod's AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY). */
  ztunnelDryRun?: boolean;
}

/** An xDS resource of type istio.workload.Address. */
export interface AddressResource {
  /** Workload uid, or `<namespace>/<hostname>` for a service. */
  readonly name: string;
  /** `<network>/<ip>` per address. */
  readonly aliases: readonly string[];
  /** Content hash of `encoded` (stable across restarts: use it as the xDS resource version). */
  readonly version: string;
  readonly address: AddressMessage;
  /** The wire bytes of `address`. */
  readonly encoded: Uint8Array;
  /** The object it was computed from (`Kind/namespace/name`). */
  readonly source: string;
}

/** An xDS resource of type istio.security.Authorization. */
export interface AuthorizationResource {
  /** `<namespace>/<name>`. */
  readonly name: string;
  readonly version: string;
  readonly authorization: Authorization;
  readonly encoded: Uint8Array;
  /** The engine's model (what @mesh/authz's L4PolicyIndex takes). */
  readonly policy: L4Policy;
}

/** What changed in one `apply`: the xDS resources to push (`updated`) and to remove. */
export interface IndexChanges {
  readonly addresses: { readonly updated: readonly string[]; readonly removed: readonly string[] };
  readonly authorizations: { readonly updated: readonly string[]; readonly removed: readonly string[] };
  /** Waypoints (`<namespace>/<name>`) whose L7 config (route tables, policies, bound services) may have changed. */
  readonly waypoints: { readonly updated: readonly string[]; readonly removed: readonly string[] };
}

export interface WaypointRef {
  namespace: string;
  name: string;
}

/** Why an object that names a waypoint does not get it. */
export interface WaypointProblem {
  kind: 'missing' | 'not-a-waypoint' | 'attachment-denied' | 'wrong-traffic-type';
  waypoint: WaypointRef;
  /** Where the label is: the object itself or its namespace. */
  via: 'object' | 'namespace';
  message: string;
}

export interface WorkloadInfo {
  readonly uid: string;
  /** The object it came from (`Pod/ns/name`, `WorkloadEntry/ns/name`, `ServiceEntry/ns/name`). */
  readonly source: string;
  readonly kind: 'Pod' | 'WorkloadEntry' | 'ServiceEntry';
  readonly name: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly ips: readonly string[];
  readonly serviceAccount: string;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  readonly identity: string;
  /** In the ambient mesh (HBONE): ztunnel enforces policy for it. */
  readonly captured: boolean;
  /** Why it is (not) captured, in one sentence. */
  readonly captureReason: string;
  readonly waypoint: WaypointRef | null;
  readonly waypointProblem: WaypointProblem | null;
  /** Service resource names (`<ns>/<hostname>`) → service port → target port. */
  readonly services: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly authorizationPolicies: readonly string[];
  readonly healthy: boolean;
}

export interface ServiceInfo {
  /** `<namespace>/<hostname>`: the Address resource name. */
  readonly resourceName: string;
  readonly source: string;
  readonly kind: 'Service' | 'ServiceEntry';
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly labels: Labels;
  readonly vips: readonly string[];
  /** Whether the VIP was allocated by the index (no clusterIP / addresses in the object). */
  readonly allocated: boolean;
  readonly ports: readonly { port: number; targetPort: number | string; name?: string; protocol?: string }[];
  readonly waypoint: WaypointRef | null;
  readonly waypointProblem: WaypointProblem | null;
  readonly ingressUseWaypoint: boolean;
}

export interface WaypointInfo {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly trafficType: 'service' | 'workload' | 'all' | 'none';
  /** `spiffe://<td>/ns/<ns>/sa/<name>`: the identity the waypoint's pods use. */
  readonly identity: string;
  /** How ztunnel reaches it. */
  readonly address: { hostname: string } | { ip: string };
  /** Services (resource names) and workloads (uids) that use it. */
  readonly services: readonly string[];
  readonly workloads: readonly string[];
}

type TargetRef = { group?: string; kind: string; name: string };

/** What istiod serves one waypoint (see `AmbientIndex.waypointConfig`). */
export interface WaypointConfig {
  readonly waypoint: WaypointInfo;
  readonly services: readonly { service: ServiceInfo; routes: readonly { port: number; table: RouteTable }[] }[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly requestAuthentications: readonly RequestAuthentication[];
}

interface Owned {
  resource: AddressResource;
  workload?: WorkloadInfo;
  service?: ServiceInfo;
}

interface Unit {
  /** Address resource names this unit produced. */
  names: string[];
  workloads: WorkloadInfo[];
  services: ServiceInfo[];
  /** Waypoint gateway keys this unit looked up (so a Gateway change recomputes it). */
  waypointDeps: string[];
}

export class AmbientIndex {
  readonly options: Required<Omit<AmbientIndexOptions, 'ztunnelDryRun'>> & { ztunnelDryRun: boolean };
  // Objects by kind, keyed `namespace/name` (cluster-scoped: name).
  readonly #namespaces = new Map<string, Namespace>();
  readonly #nodes = new Map<string, Node>();
  readonly #pods = new Map<string, Pod>();
  readonly #services = new Map<string, KubeService>();
  readonly #serviceEntries = new Map<string, ServiceEntry>();
  readonly #workloadEntries = new Map<string, WorkloadEntry>();
  readonly #gateways = new Map<string, Gateway>();
  readonly #gatewayClasses = new Map<string, GatewayClass>();
  readonly #security = new Map<string, SecurityResource>();
  readonly #l7 = new Map<string, L7Resource>();
  readonly #serviceAccounts = new Set<string>();
  readonly #objects = new Map<string, ConfigObject>();
  // Secondary indexes.
  readonly #unitsByNamespace = new Map<string, Set<string>>();
  readonly #podsByNode = new Map<string, Set<string>>();
  readonly #waypointDeps = new Map<string, Set<string>>();
  // Outputs.
  readonly #units = new Map<string, Unit>();
  readonly #addresses = new Map<string, AddressResource>();
  /** Resource name → the units producing it (normally one). */
  readonly #owners = new Map<string, Map<string, Owned>>();
  readonly #aliases = new Map<string, Set<string>>();
  readonly #authorizations = new Map<string, AuthorizationResource>();
  readonly #workloadsByUid = new Map<string, WorkloadInfo>();
  readonly #workloadsByIp = new Map<string, WorkloadInfo[]>();
  readonly #servicesByName = new Map<string, ServiceInfo>();
  readonly #servicesByHost = new Map<string, ServiceInfo[]>();
  /** Facts for the wire form that are not part of the public info objects (node, canonical names, …). */
  readonly #extra = new WeakMap<object, Record<string, unknown>>();
  readonly #serviceAllocator: IpAllocator;
  readonly #seAllocator: IpAllocator;
  #authorizer: Authorizer | null = null;
  #authorizerDirty = true;
  readonly #routeTables = new Map<string, RouteTable>();
  #waypointCache: Map<string, WaypointInfo> | null = null;

  constructor(options: AmbientIndexOptions = {}) {
    this.options = {
      clusterId: options.clusterId ?? 'Kubernetes',
      network: options.network ?? '',
      domainSuffix: options.domainSuffix ?? 'cluster.local',
      trustDomain: options.trustDomain ?? 'cluster.local',
      rootNamespace: options.rootNamespace ?? 'istio-system',
      serviceCidr: options.serviceCidr ?? '10.96.0.0/12',
      serviceEntryCidr: options.serviceEntryCidr ?? '240.240.0.0/16',
      ztunnelDryRun: options.ztunnelDryRun ?? false,
    };
    try {
      this.#serviceAllocator = new IpAllocator(this.options.serviceCidr);
      this.#seAllocator = new IpAllocator(this.options.serviceEntryCidr);
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_INVALID_OPTIONS', (e as Error).message, { cause: e });
    }
  }

  // ------------------------------------------------------------------------------------------ input

  /** Builds the index from scratch over `objects` (any order). */
  static from(objects: readonly ConfigObject[], options: AmbientIndexOptions = {}): AmbientIndex {
    const index = new AmbientIndex(options);
    index.apply(objects.map((object) => ({ type: 'added' as const, object })));
    return index;
  }

  /** Every object the index holds. */
  objects(kind?: string): ConfigObject[] {
    const out: ConfigObject[] = [];
    for (const o of this.#objects.values()) if (kind === undefined || o.kind === kind) out.push(o);
    return out;
  }

  object(key: string): ConfigObject | undefined {
    return this.#objects.get(key);
  }

  /** Applies a batch of store events; returns the resources that changed. */
  apply(events: readonly ConfigEvent[]): IndexChanges {
    const dirty = new Set<string>();
    const dirtyNamespaces = new Set<string>();
    let allUnits = false;
    let securityChanged = false;
    let l7Changed = false;
    // The routing and security resources this batch touched (old and new versions), for per-waypoint reporting.
    const touchedL7: L7Resource[] = [];
    const touchedSecurity: SecurityResource[] = [];
    const waypointsBefore = new Set(this.#waypointKeys());
    const waypointsTouched = new Set<string>();
    const securityNamespaces = new Set<string>();

    for (const event of events) {
      const removing = event.type === 'deleted';
      const objs = event.type === 'updated' ? [event.previous, event.object] : [event.object];
      for (const o of objs) {
        const isOld = event.type === 'updated' && o === event.previous;
        const remove = removing || isOld;
        const key = o.namespace ? `${o.namespace}/${o.name}` : o.name;
        const r = o.resource;
        if (remove) this.#objects.delete(o.key);
        else this.#objects.set(o.key, o);
        switch (r.kind) {
          case 'Namespace':
            setOrDelete(this.#namespaces, key, remove ? undefined : r);
            dirtyNamespaces.add(o.name);
            break;
          case 'Node':
            setOrDelete(this.#nodes, key, remove ? undefined : r);
            for (const p of this.#podsByNode.get(o.name) ?? []) dirty.add(p);
            break;
          case 'Pod':
            this.#track(o, remove);
            setOrDelete(this.#pods, key, remove ? undefined : r);
            this.#trackNode(o.key, r.spec?.nodeName, remove);
            dirty.add(o.key);
            break;
          case 'Service':
          case 'ServiceEntry':
            this.#track(o, remove);
            if (r.kind === 'Service') setOrDelete(this.#services, key, remove ? undefined : r);
            else setOrDelete(this.#serviceEntries, key, remove ? undefined : r);
            // Endpoints of the namespace may select it: recompute the namespace's workloads too.
            dirty.add(o.key);
            dirtyNamespaces.add(o.namespace);
            this.#routeTables.clear();
            break;
          case 'WorkloadEntry':
            this.#track(o, remove);
            setOrDelete(this.#workloadEntries, key, remove ? undefined : r);
            dirty.add(o.key);
            break;
          case 'Gateway':
            setOrDelete(this.#gateways, key, remove ? undefined : r);
            for (const u of this.#waypointDeps.get(key) ?? []) dirty.add(u);
            waypointsTouched.add(key);
            break;
          case 'GatewayClass':
            setOrDelete(this.#gatewayClasses, key, remove ? undefined : r);
            allUnits = true;
            break;
          case 'ServiceAccount':
            if (remove) this.#serviceAccounts.delete(key);
            else this.#serviceAccounts.add(key);
            break;
          case 'AuthorizationPolicy':
          case 'PeerAuthentication':
          case 'RequestAuthentication':
            setOrDelete(this.#security, o.key, remove ? undefined : r);
            touchedSecurity.push(r);
            securityChanged = true;
            securityNamespaces.add(o.namespace);
            break;
          default:
            setOrDelete(this.#l7, o.key, remove ? undefined : (r as L7Resource));
            touchedL7.push(r as L7Resource);
            l7Changed = true;
            this.#routeTables.clear();
        }
      }
    }

    // Policies: rebuild the authorizer once, diff the Authorization resources, and recompute the workloads whose
    // `authorization_policies` may have changed (the namespaces of the changed policies; all for the root namespace).
    const authorizations = { updated: [] as string[], removed: [] as string[] };
    if (securityChanged || this.#authorizer === null) {
      this.#authorizerDirty = true;
      this.#diffAuthorizations(authorizations);
      if (securityNamespaces.has(this.options.rootNamespace)) allUnits = true;
      else for (const ns of securityNamespaces) dirtyNamespaces.add(ns);
    }
    if (allUnits) for (const k of this.#units.keys()) dirty.add(k);
    for (const ns of dirtyNamespaces) for (const k of this.#unitsByNamespace.get(ns) ?? []) dirty.add(k);

    const addressChanges = { updated: new Set<string>(), removed: new Set<string>() };
    const bindings = new Set<string>();
    for (const unitKey of [...dirty].sort()) this.#recompute(unitKey, addressChanges, bindings);
    if (dirty.size > 0 || waypointsTouched.size > 0) this.#waypointCache = null;

    const waypoints = { updated: [] as string[], removed: [] as string[] };
    const after = new Set(this.#waypointKeys());
    for (const k of waypointsBefore) if (!after.has(k)) waypoints.removed.push(k);
    const { all, keys: configTouched } =
      l7Changed || securityChanged
        ? this.#waypointsAffected(touchedL7, touchedSecurity)
        : { all: false, keys: new Set<string>() };
    const updated = new Set<string>();
    for (const k of after) {
      if (all || configTouched.has(k) || !waypointsBefore.has(k) || waypointsTouched.has(k) || bindings.has(k))
        updated.add(k);
    }
    waypoints.updated.push(...[...updated].sort());
    const addresses = {
      updated: [...addressChanges.updated].filter((n) => this.#addresses.has(n)).sort(),
      removed: [...addressChanges.removed].filter((n) => !this.#addresses.has(n)).sort(),
    };
    return { addresses, authorizations, waypoints };
  }

  /**
   * The waypoints whose L7 config a set of changed routing/security resources can affect (a superset, never less):
   * a VirtualService the waypoints of its hosts; an HTTPRoute/GRPCRoute/TCPRoute the waypoints of its parent
   * Services; a DestinationRule the waypoints of its host and of every route that sends traffic to it; a targetRefs
   * policy the waypoint, Service or ServiceEntry it targets. Wildcards and anything unusual: every waypoint.
   */
  #waypointsAffected(
    l7: readonly L7Resource[],
    security: readonly SecurityResource[],
  ): { all: boolean; keys: Set<string> } {
    const keys = new Set<string>();
    const domain = this.options.domainSuffix;
    let all = false;
    const byHost = (host: string) => {
      if (host.startsWith('*')) return void (all = true);
      for (const s of this.servicesByHost(host)) if (s.waypoint) keys.add(`${s.waypoint.namespace}/${s.waypoint.name}`);
    };
    const byService = (ns: string, name: string) => {
      const s = this.service(ns, name);
      if (s?.waypoint) keys.add(`${s.waypoint.namespace}/${s.waypoint.name}`);
    };
    /** The hosts a route resource serves (its waypoints' keys come from these) and the hosts it sends traffic to. */
    const routeHosts = (r: L7Resource): { serves: string[]; sendsTo: string[]; other: boolean } => {
      const ns = (r.metadata as { namespace?: string } | undefined)?.namespace ?? 'default';
      const sendsTo: string[] = [];
      const collect = (node: unknown, inBackend: boolean): void => {
        if (Array.isArray(node)) return node.forEach((n) => collect(n, inBackend));
        if (!node || typeof node !== 'object') return;
        const o = node as Record<string, unknown>;
        if (typeof o.host === 'string') sendsTo.push(resolveHost(o.host, ns, domain));
        if (inBackend && typeof o.name === 'string' && (o.kind === undefined || o.kind === 'Service'))
          sendsTo.push(`${o.name}.${typeof o.namespace === 'string' ? o.namespace : ns}.svc.${domain}`);
        for (const [k, v] of Object.entries(o))
          collect(v, k === 'backendRefs' || k === 'backendRef' || (inBackend && Array.isArray(v)));
      };
      const spec = (r as { spec?: Record<string, unknown> }).spec ?? {};
      if (r.kind === 'VirtualService') {
        collect(spec, false);
        const hosts = ((spec.hosts as string[] | undefined) ?? []).map((h) => resolveHost(h, ns, domain));
        return { serves: hosts, sendsTo, other: false };
      }
      if (r.kind === 'DestinationRule') return { serves: [], sendsTo: [], other: false };
      collect(spec.rules, false);
      const parents =
        (spec.parentRefs as { group?: string; kind?: string; name: string; namespace?: string }[] | undefined) ?? [];
      const serves: string[] = [];
      let other = false;
      for (const p of parents) {
        if ((p.group ?? '') === '' && p.kind === 'Service') {
          const s = this.service(p.namespace ?? ns, p.name);
          if (s) serves.push(s.hostname);
        } else other = true;
      }
      return { serves, sendsTo, other };
    };
    for (const r of l7) {
      const ns = (r.metadata as { namespace?: string } | undefined)?.namespace ?? 'default';
      if (r.kind === 'DestinationRule') {
        const host = resolveHost((r as DestinationRule).spec?.host ?? '*', ns, domain);
        if (host.startsWith('*')) {
          all = true;
          continue;
        }
        byHost(host);
        for (const other of this.#l7.values()) {
          const h = routeHosts(other);
          if (!h.sendsTo.includes(host)) continue;
          if (h.other) all = true;
          h.serves.forEach(byHost);
        }
      } else {
        const h = routeHosts(r);
        if (h.other) all = true;
        h.serves.forEach(byHost);
      }
      if (all) break;
    }
    for (const r of security) {
      if (r.kind === 'PeerAuthentication') continue;
      const ns = (r.metadata as { namespace?: string } | undefined)?.namespace ?? 'default';
      const spec = (r as { spec?: { targetRefs?: TargetRef[]; targetRef?: TargetRef } }).spec;
      for (const ref of spec?.targetRefs ?? (spec?.targetRef ? [spec.targetRef] : [])) {
        const group = ref.group ?? '';
        if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway') keys.add(`${ns}/${ref.name}`);
        else if ((group === '' || group === 'core') && ref.kind === 'Service') byService(ns, ref.name);
        else if (group === 'networking.istio.io' && ref.kind === 'ServiceEntry') byService(ns, ref.name);
        else all = true;
      }
    }
    return { all, keys };
  }

  #track(o: ConfigObject, remove: boolean): void {
    let set = this.#unitsByNamespace.get(o.namespace);
    if (!set) this.#unitsByNamespace.set(o.namespace, (set = new Set()));
    if (remove) set.delete(o.key);
    else set.add(o.key);
  }

  #trackNode(podKey: string, node: string | undefined, remove: boolean): void {
    if (!node) return;
    let set = this.#podsByNode.get(node);
    if (!set) this.#podsByNode.set(node, (set = new Set()));
    if (remove) set.delete(podKey);
    else set.add(podKey);
  }

  // ------------------------------------------------------------------------------------------ authorization

  /** The security engine over the current policies (with ztunnel's and the waypoints' views). */
  get authorizer(): Authorizer {
    if (this.#authorizerDirty || !this.#authorizer) {
      this.#authorizer = createAuthorizer({
        resources: [...this.#security.values()],
        rootNamespace: this.options.rootNamespace,
        trustDomain: this.options.trustDomain,
        ztunnelDryRun: this.options.ztunnelDryRun,
        onInvalid: 'skip',
      });
      this.#authorizerDirty = false;
    }
    return this.#authorizer;
  }

  #diffAuthorizations(out: { updated: string[]; removed: string[] }): void {
    const next = new Map<string, AuthorizationResource>();
    for (const policy of this.authorizer.ztunnel.policies) {
      const name = `${policy.namespace}/${policy.name}`;
      const authorization = toAuthorization(policy);
      const encoded = AuthorizationCodec.encode(authorization);
      next.set(name, { name, version: versionOf(encoded), authorization, encoded, policy });
    }
    for (const [name, r] of next) {
      const old = this.#authorizations.get(name);
      if (!old || old.version !== r.version) out.updated.push(name);
      this.#authorizations.set(name, r);
    }
    for (const name of [...this.#authorizations.keys()])
      if (!next.has(name)) {
        this.#authorizations.delete(name);
        out.removed.push(name);
      }
    out.updated.sort();
    out.removed.sort();
  }

  // ------------------------------------------------------------------------------------------ units

  #recompute(unitKey: string, changes: { updated: Set<string>; removed: Set<string> }, bindings: Set<string>): void {
    const old = this.#units.get(unitKey);
    const [kind] = unitKey.split('/', 1);
    const rest = unitKey.slice(kind!.length + 1);
    const produced: { resource: AddressResource | null; workload?: WorkloadInfo; service?: ServiceInfo }[] = [];
    const unit: Unit = { names: [], workloads: [], services: [], waypointDeps: [] };
    switch (kind) {
      case 'Pod': {
        const pod = this.#pods.get(rest);
        if (pod) for (const w of this.#podWorkloads(pod, unit)) produced.push({ resource: null, workload: w });
        break;
      }
      case 'WorkloadEntry': {
        const we = this.#workloadEntries.get(rest);
        if (we?.spec) {
          const [ns, name] = [we.metadata.namespace!, we.metadata.name];
          const w = this.#entryWorkload(
            we.spec,
            { uid: `${this.options.clusterId}/networking.istio.io/WorkloadEntry/${ns}/${name}`, source: unitKey },
            ns,
            name,
            we.metadata.labels ?? {},
            unit,
            'WorkloadEntry',
          );
          if (w) produced.push({ resource: null, workload: w });
        }
        break;
      }
      case 'Service': {
        const svc = this.#services.get(rest);
        if (svc) for (const s of this.#kubeService(svc, unit)) produced.push({ resource: null, service: s });
        break;
      }
      case 'ServiceEntry': {
        const se = this.#serviceEntries.get(rest);
        if (se) {
          const { services, workloads } = this.#serviceEntry(se, unit);
          for (const s of services) produced.push({ resource: null, service: s });
          for (const w of workloads) produced.push({ resource: null, workload: w });
        }
        break;
      }
    }
    // Release what the old unit owned.
    if (old) {
      for (const w of old.workloads) this.#unindexWorkload(w);
      for (const s of old.services) this.#unindexService(s);
      for (const d of old.waypointDeps) this.#waypointDeps.get(d)?.delete(unitKey);
    }
    const names = new Set<string>();
    for (const p of produced) {
      const resource = p.workload ? this.#workloadResource(p.workload) : this.#serviceResource(p.service!);
      if (names.has(resource.name)) continue;
      names.add(resource.name);
      unit.names.push(resource.name);
      if (p.workload) {
        unit.workloads.push(p.workload);
        this.#indexWorkload(p.workload);
      } else {
        unit.services.push(p.service!);
        this.#indexService(p.service!);
      }
      let owners = this.#owners.get(resource.name);
      if (!owners) this.#owners.set(resource.name, (owners = new Map()));
      owners.set(unitKey, { resource, ...(p.workload ? { workload: p.workload } : { service: p.service! }) });
    }
    for (const name of old?.names ?? []) if (!names.has(name)) this.#owners.get(name)?.delete(unitKey);
    // Waypoints whose bound set changed: a service or workload (un)bound, moved, or a bound service changed (ports,
    // addresses). A recompute that changes nothing reports nothing.
    const bound = (u: Unit | undefined) => {
      const m = new Map<string, string>();
      for (const sv of u?.services ?? [])
        if (sv.waypoint)
          m.set(
            `s:${sv.resourceName}`,
            `${sv.waypoint.namespace}/${sv.waypoint.name}|${JSON.stringify(sv.ports)}|${sv.vips.join(',')}`,
          );
      for (const w of u?.workloads ?? [])
        if (w.waypoint) m.set(`w:${w.uid}`, `${w.waypoint.namespace}/${w.waypoint.name}`);
      return m;
    };
    const before = bound(old);
    const after = bound(unit);
    for (const [k, v] of before) if (after.get(k) !== v) bindings.add(v.split('|', 1)[0]!);
    for (const [k, v] of after) if (before.get(k) !== v) bindings.add(v.split('|', 1)[0]!);
    for (const name of new Set([...names, ...(old?.names ?? [])])) this.#settle(name, changes);
    for (const d of unit.waypointDeps) {
      let set = this.#waypointDeps.get(d);
      if (!set) this.#waypointDeps.set(d, (set = new Set()));
      set.add(unitKey);
    }
    if (produced.length === 0 && unit.waypointDeps.length === 0) this.#units.delete(unitKey);
    else this.#units.set(unitKey, unit);
    if ((kind === 'Service' || kind === 'ServiceEntry') && !this.#objects.has(unitKey)) {
      // Deleted: free its VIPs.
      this.#serviceAllocator.release(unitKey);
      for (const host of old?.services.map((s) => s.hostname) ?? []) this.#seAllocator.release(`${unitKey}/${host}`);
    }
  }

  /**
   * Makes the published resource of `name` the one of its first owner (two objects can produce the same name: two
   * ServiceEntries with one host in a namespace); reports it when what is published changes.
   */
  #settle(name: string, changes: { updated: Set<string>; removed: Set<string> }): void {
    const owners = this.#owners.get(name);
    let winner: Owned | undefined;
    let winnerKey: string | undefined;
    for (const [key, o] of owners ?? []) if (winnerKey === undefined || key < winnerKey) [winner, winnerKey] = [o, key];
    const previous = this.#addresses.get(name);
    if (!winner) {
      this.#owners.delete(name);
      this.#servicesByName.delete(name);
      this.#workloadsByUid.delete(name);
      if (previous) {
        this.#unalias(previous);
        this.#addresses.delete(name);
        changes.removed.add(name);
      }
      return;
    }
    if (winner.service) this.#servicesByName.set(name, winner.service);
    if (winner.workload) this.#workloadsByUid.set(name, winner.workload);
    const r = winner.resource;
    if (previous === r) return;
    if (previous) this.#unalias(previous);
    this.#addresses.set(name, r);
    this.#alias(r);
    if (!previous || previous.version !== r.version || !sameList(previous.aliases, r.aliases))
      changes.updated.add(name);
  }

  #indexWorkload(w: WorkloadInfo): void {
    for (const ip of w.ips) {
      const list = this.#workloadsByIp.get(ip);
      if (list) list.push(w);
      else this.#workloadsByIp.set(ip, [w]);
    }
  }

  #unindexWorkload(w: WorkloadInfo): void {
    for (const ip of w.ips) {
      const list = this.#workloadsByIp.get(ip);
      if (!list) continue;
      const i = list.indexOf(w);
      if (i !== -1) list.splice(i, 1);
      if (list.length === 0) this.#workloadsByIp.delete(ip);
    }
  }

  #indexService(s: ServiceInfo): void {
    const list = this.#servicesByHost.get(s.hostname);
    if (list) list.push(s);
    else this.#servicesByHost.set(s.hostname, [s]);
  }

  #unindexService(s: ServiceInfo): void {
    const list = this.#servicesByHost.get(s.hostname);
    if (!list) return;
    const i = list.indexOf(s);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#servicesByHost.delete(s.hostname);
  }

  #alias(r: AddressResource): void {
    for (const a of [r.name, ...r.aliases]) {
      let set = this.#aliases.get(a);
      if (!set) this.#aliases.set(a, (set = new Set()));
      set.add(r.name);
    }
  }

  #unalias(r: AddressResource): void {
    for (const a of [r.name, ...r.aliases]) {
      const set = this.#aliases.get(a);
      set?.delete(r.name);
      if (set?.size === 0) this.#aliases.delete(a);
    }
  }

  // ------------------------------------------------------------------------------------------ enrollment, waypoints

  #nsLabels(ns: string): Labels {
    return this.#namespaces.get(ns)?.metadata.labels ?? {};
  }

  /** Whether a pod is in the ambient mesh, and why (enrollment labels, sidecar injection, host network). */
  capture(pod: Pod): { captured: boolean; reason: string } {
    const ns = pod.metadata.namespace ?? 'default';
    const labels = pod.metadata.labels ?? {};
    const nsLabels = this.#nsLabels(ns);
    const podMode = labels[DATAPLANE_MODE];
    if (pod.spec?.hostNetwork) return { captured: false, reason: 'host-network pods are never captured' };
    // What istio-cni writes once it has set up redirection; in file mode the labels below stand for it.
    if (pod.metadata.annotations?.[REDIRECTION] === 'enabled')
      return { captured: true, reason: `the pod has ${REDIRECTION}=enabled` };
    const injected =
      pod.metadata.annotations?.[SIDECAR_STATUS] !== undefined ||
      labels[SIDECAR_INJECT] === 'true' ||
      ((nsLabels[INJECTION] === 'enabled' || nsLabels[REVISION] !== undefined) && labels[SIDECAR_INJECT] !== 'false');
    if (podMode === 'none') return { captured: false, reason: `the pod opts out with ${DATAPLANE_MODE}=none` };
    if (injected && podMode !== 'ambient')
      return { captured: false, reason: 'the pod gets a sidecar, and sidecar injection takes precedence over ambient' };
    if (podMode === 'ambient') return { captured: true, reason: `the pod has ${DATAPLANE_MODE}=ambient` };
    if (nsLabels[DATAPLANE_MODE] === 'ambient')
      return { captured: true, reason: `namespace ${ns} has ${DATAPLANE_MODE}=ambient` };
    return { captured: false, reason: `neither the pod nor namespace ${ns} has ${DATAPLANE_MODE}=ambient` };
  }

  /**
   * Whether a Gateway serves as a waypoint. istiod takes any Gateway with a status address (that is how other
   * implementations and the "gateway sandwich" plug in); a Gateway of class istio-waypoint, or with an HBONE listener
   * on 15008, is one the mesh's own deployment controller programs, so in file mode it counts as programmed even
   * without a status.
   */
  isWaypoint(gw: Gateway): boolean {
    return (
      (gw.status?.addresses?.length ?? 0) > 0 ||
      gw.spec.gatewayClassName === WAYPOINT_CLASS ||
      gw.spec.listeners.some((l) => l.protocol === 'HBONE' && l.port === HBONE_PORT)
    );
  }

  #trafficType(gw: Gateway): WaypointInfo['trafficType'] {
    const v =
      gw.metadata.labels?.[WAYPOINT_FOR] ??
      this.#gatewayClasses.get(gw.spec.gatewayClassName)?.metadata.labels?.[WAYPOINT_FOR];
    return v === 'workload' || v === 'all' || v === 'none' ? v : 'service';
  }

  /** The HBONE listener's allowedRoutes.namespaces decides which namespaces may use the waypoint (default Same). */
  #allowsNamespace(gw: Gateway, ns: string): boolean {
    const listener = gw.spec.listeners.find((l) => l.protocol === 'HBONE' && l.port === HBONE_PORT);
    const namespaces = (
      listener?.allowedRoutes as { namespaces?: { from?: string; selector?: LabelSelector } } | undefined
    )?.namespaces;
    const from = namespaces?.from ?? 'Same';
    if (from === 'All') return true;
    if (from === 'Selector') return labelSelectorMatches(namespaces?.selector, this.#nsLabels(ns));
    return gw.metadata.namespace === ns;
  }

  #resolveWaypoint(
    traffic: 'service' | 'workload',
    labels: Labels,
    ns: string,
    unit: Unit,
  ): { waypoint: WaypointRef | null; problem: WaypointProblem | null } {
    let name = labels[USE_WAYPOINT];
    let wpNs = labels[USE_WAYPOINT_NAMESPACE];
    let via: 'object' | 'namespace' = 'object';
    if (name === undefined) {
      const nsLabels = this.#nsLabels(ns);
      name = nsLabels[USE_WAYPOINT];
      wpNs = nsLabels[USE_WAYPOINT_NAMESPACE];
      via = 'namespace';
    }
    if (name === undefined || name === 'none' || name === '') return { waypoint: null, problem: null };
    const ref = { namespace: wpNs ?? ns, name };
    const key = `${ref.namespace}/${ref.name}`;
    unit.waypointDeps.push(key);
    const gw = this.#gateways.get(key);
    const where = via === 'object' ? `${USE_WAYPOINT}=${name}` : `namespace ${ns}'s ${USE_WAYPOINT}=${name}`;
    const problem = (kind: WaypointProblem['kind'], message: string) => ({
      waypoint: null,
      problem: { kind, waypoint: ref, via, message: `${where} ${message}` },
    });
    if (!gw)
      return problem(
        'missing',
        traffic === 'service' || via === 'object'
          ? `names Gateway ${key}, which does not exist: ztunnel refuses the traffic rather than bypass the waypoint`
          : `names Gateway ${key}, which does not exist`,
      );
    if (!this.isWaypoint(gw))
      return problem(
        'not-a-waypoint',
        `names Gateway ${key} of class ${gw.spec.gatewayClassName}, which has no status address and is not of class ${WAYPOINT_CLASS} (no HBONE listener on ${HBONE_PORT}): no controller programs it as a waypoint, so istiod treats it as not ready`,
      );
    if (!this.#allowsNamespace(gw, ns))
      return problem(
        'attachment-denied',
        `names waypoint ${key}, whose HBONE listener does not allow namespace ${ns} (allowedRoutes.namespaces.from defaults to Same; set All or a Selector)`,
      );
    const type = this.#trafficType(gw);
    if (type !== 'all' && type !== traffic) {
      // Workloads inheriting a service waypoint from their namespace simply have none; istiod reports the rest.
      if (traffic === 'workload' && via === 'namespace') return { waypoint: null, problem: null };
      return problem(
        'wrong-traffic-type',
        `names waypoint ${key}, which has ${WAYPOINT_FOR}=${type} and so does not take ${traffic}-addressed traffic`,
      );
    }
    return { waypoint: ref, problem: null };
  }

  #isWaypointItself(labels: Labels, ns: string, name: string): boolean {
    if (labels[GATEWAY_NAME] !== undefined) return true;
    const managed = labels[GATEWAY_MANAGED];
    if (managed === 'istio.io-mesh-controller' || managed === 'istio.io-eastwest-controller') return true;
    const gw = this.#gateways.get(`${ns}/${name}`);
    return !!gw && this.isWaypoint(gw);
  }

  /**
   * The `waypoint` ztunnel gets. Fail closed where istiod fails open: a use-waypoint label naming a Gateway that does
   * not exist still sends the waypoint's hostname (`<name>.<ns>.svc.<domain>`, port 15008), which ztunnel cannot
   * resolve, so it refuses the connection (ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE, metric and log) instead of delivering
   * around the missing waypoint and its L7 policy. See docs/DECISIONS.md (2026-11-22, a missing waypoint fails closed).
   */
  #wireWaypoint(
    o: { waypoint: WaypointRef | null; waypointProblem: WaypointProblem | null },
    traffic: 'service' | 'workload',
  ): Record<string, unknown> | null {
    if (o.waypoint) return this.#gatewayAddress(o.waypoint);
    const p = o.waypointProblem;
    // Workloads do not inherit a namespace's (by default service-only) waypoint, so only their own label counts.
    if (p?.kind === 'missing' && (traffic === 'service' || p.via === 'object')) return this.#gatewayAddress(p.waypoint);
    return null;
  }

  /** istiod's GatewayAddress: a status Hostname first, then a status IP; file mode: the hostname the controller writes. */
  #gatewayAddress(ref: WaypointRef): Record<string, unknown> {
    const gw = this.#gateways.get(`${ref.namespace}/${ref.name}`);
    const status = gw?.status?.addresses ?? [];
    const host = status.find((a) => a.type === 'Hostname');
    if (host) return { hostname: { namespace: ref.namespace, hostname: host.value }, hboneMtlsPort: HBONE_PORT };
    const ip = status.find((a) => (a.type === undefined || a.type === 'IPAddress') && parseIp(a.value));
    if (ip)
      return { address: { network: this.options.network, address: parseIp(ip.value)! }, hboneMtlsPort: HBONE_PORT };
    return {
      hostname: { namespace: ref.namespace, hostname: `${ref.name}.${ref.namespace}.svc.${this.options.domainSuffix}` },
      hboneMtlsPort: HBONE_PORT,
    };
  }

  // ------------------------------------------------------------------------------------------ workloads

  /** Moves `extra` off a built info object into the side table. */
  #detach<T extends object>(info: T & { extra: Record<string, unknown> }): T {
    const { extra, ...rest } = info;
    this.#extra.set(rest, extra);
    return rest as unknown as T;
  }

  #identity(ns: string, sa: string): string {
    return `spiffe://${this.options.trustDomain}/ns/${ns}/sa/${sa}`;
  }

  #podWorkloads(pod: Pod, unit: Unit): WorkloadInfo[] {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return [];
    const ips = (
      pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : pod.status?.podIP ? [pod.status.podIP] : []
    ).map(canonicalIp);
    if (ips.length === 0) return [];
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name;
    const labels = pod.metadata.labels ?? {};
    const { captured, reason } = this.capture(pod);
    const sa = pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default';
    const isWaypoint = this.#isWaypointItself(labels, ns, name);
    const { waypoint, problem } = isWaypoint
      ? { waypoint: null, problem: null }
      : this.#resolveWaypoint('workload', labels, ns, unit);
    // Service membership: Services selecting the pod (named target ports resolved against its container ports),
    // and ServiceEntries whose workloadSelector matches.
    const containerPorts = new Map<string, number>();
    for (const c of pod.spec?.containers ?? [])
      for (const p of c.ports ?? []) if (p.name) containerPorts.set(p.name, p.containerPort);
    const services = this.#membership(ns, labels, (name) => containerPorts.get(name));
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
    const healthy =
      pod.metadata.deletionTimestamp === undefined &&
      (ready ? ready.status === 'True' : phase === undefined || phase === 'Running');
    const owner =
      pod.metadata.ownerReferences?.find((r) => r.controller !== false) ?? pod.metadata.ownerReferences?.[0];
    // istiod always sends workload_type POD for pods (backwards compatibility) and derives the workload name.
    const workloadType: number = WORKLOAD_TYPE.POD;
    let workloadName = name;
    if (owner?.kind === 'ReplicaSet') {
      const hash = labels['pod-template-hash'];
      workloadName =
        hash && owner.name.endsWith(`-${hash}`)
          ? owner.name.slice(0, -hash.length - 1)
          : owner.name.replace(/-[a-z0-9]{5,10}$/, '');
    } else if (owner) {
      workloadName = owner.name;
    }
    const node = pod.spec?.nodeName ?? '';
    const nodeLabels = node ? (this.#nodes.get(node)?.metadata.labels ?? {}) : {};
    const info: WorkloadInfo & { extra: Record<string, unknown> } = {
      uid: `${this.options.clusterId}//Pod/${ns}/${name}`,
      source: `Pod/${ns}/${name}`,
      kind: 'Pod',
      name,
      namespace: ns,
      labels,
      ips,
      serviceAccount: sa,
      identity: this.#identity(ns, sa),
      captured,
      captureReason: reason,
      waypoint,
      waypointProblem: problem,
      services,
      authorizationPolicies: this.authorizer.ztunnel.workloadPolicies({ namespace: ns, labels }),
      healthy,
      extra: {
        node,
        canonicalName: canonicalName(labels, workloadName),
        canonicalRevision: canonicalRevision(labels),
        workloadType,
        workloadName,
        networkMode: pod.spec?.hostNetwork ? 1 : 0,
        locality: locality(nodeLabels),
      },
    };
    return [this.#detach(info)];
  }

  /** Services and ServiceEntries of `ns` selecting `labels`, with each port's target port. */
  #membership(
    ns: string,
    labels: Labels,
    named: (portName: string) => number | undefined,
  ): Map<string, Map<number, number>> {
    const out = new Map<string, Map<number, number>>();
    for (const unitKey of this.#unitsByNamespace.get(ns) ?? []) {
      if (unitKey.startsWith('Service/')) {
        const svc = this.#services.get(unitKey.slice(8));
        if (!svc?.spec?.selector || Object.keys(svc.spec.selector).length === 0) continue;
        if (!selectorMatches(svc.spec.selector, labels)) continue;
        const ports = new Map<number, number>();
        for (const p of svc.spec.ports ?? []) {
          if ((p.protocol ?? 'TCP') !== 'TCP') continue;
          const t = p.targetPort;
          const target = t === undefined ? p.port : typeof t === 'number' ? t : /^\d+$/.test(t) ? Number(t) : named(t);
          if (target !== undefined) ports.set(p.port, target);
        }
        out.set(`${ns}/${svc.metadata.name}.${ns}.svc.${this.options.domainSuffix}`, ports);
      } else if (unitKey.startsWith('ServiceEntry/')) {
        const se = this.#serviceEntries.get(unitKey.slice(13));
        const sel = se?.spec?.workloadSelector?.labels;
        if (!se?.spec || !sel || !selectorMatches(sel, labels)) continue;
        const ports = new Map<number, number>();
        for (const p of se.spec.ports ?? []) ports.set(p.number, named(p.name) ?? p.targetPort ?? p.number);
        for (const host of se.spec.hosts) out.set(`${ns}/${host}`, ports);
      }
    }
    return out;
  }

  #entryWorkload(
    spec: WorkloadEntrySpec,
    id: { uid: string; source: string },
    ns: string,
    name: string,
    metaLabels: Labels,
    unit: Unit,
    kind: 'WorkloadEntry' | 'ServiceEntry',
    services?: Map<string, Map<number, number>>,
  ): WorkloadInfo | null {
    // A WorkloadEntry's own labels (metadata and spec) decide everything. For ServiceEntry endpoints istiod selects
    // policies and the tunnel by the ServiceEntry's labels and the waypoint by the endpoint's labels.
    const labels = kind === 'ServiceEntry' ? { ...metaLabels } : { ...metaLabels, ...(spec.labels ?? {}) };
    const waypointLabels = kind === 'ServiceEntry' ? (spec.labels ?? {}) : labels;
    const address = spec.address ?? '';
    const ip = parseIp(address) ? canonicalIp(address) : null;
    if (!ip && !address) return null;
    const sa = spec.serviceAccount || 'default';
    const { waypoint, problem } = this.#resolveWaypoint('workload', waypointLabels, ns, unit);
    const captured = labels[TUNNEL] === 'http';
    const info: WorkloadInfo & { extra: Record<string, unknown> } = {
      uid: id.uid,
      source: id.source,
      kind,
      name,
      namespace: ns,
      labels,
      ips: ip ? [ip] : [],
      serviceAccount: sa,
      identity: this.#identity(ns, sa),
      captured,
      captureReason: captured
        ? `${TUNNEL}=http: the workload accepts HBONE`
        : `without ${TUNNEL}=http a ${kind} is reached without HBONE`,
      waypoint,
      waypointProblem: problem,
      services: services ?? this.#membership(ns, labels, (n) => spec.ports?.[n]),
      authorizationPolicies: this.authorizer.ztunnel.workloadPolicies({ namespace: ns, labels }),
      healthy: true,
      extra: {
        hostname: ip ? '' : address,
        network: spec.network ?? this.options.network,
        canonicalName: canonicalName(labels, name),
        canonicalRevision: canonicalRevision(labels),
        workloadType: WORKLOAD_TYPE.POD,
        workloadName: name,
        locality: spec.locality ? localityFromString(spec.locality) : null,
        capacity: spec.weight && spec.weight > 0 ? spec.weight : undefined,
      },
    };
    return this.#detach(info);
  }

  #workloadResource(w: WorkloadInfo): AddressResource {
    const extra = this.#extra.get(w) ?? {};
    const network = (extra.network as string | undefined) ?? this.options.network;
    const services: Record<string, { ports: { servicePort: number; targetPort: number }[] }> = {};
    for (const key of [...w.services.keys()].sort()) {
      services[key] = {
        ports: [...w.services.get(key)!].map(([servicePort, targetPort]) => ({ servicePort, targetPort })),
      };
    }
    const workload = {
      uid: w.uid,
      name: w.name,
      namespace: w.namespace,
      addresses: w.ips.map((ip) => parseIp(ip)!),
      hostname: (extra.hostname as string | undefined) ?? '',
      network,
      tunnelProtocol: w.captured ? TUNNEL_HBONE : TUNNEL_NONE,
      trustDomain: this.options.trustDomain === 'cluster.local' ? '' : this.options.trustDomain,
      serviceAccount: w.serviceAccount === 'default' ? '' : w.serviceAccount,
      waypoint: this.#wireWaypoint(w, 'workload'),
      node: (extra.node as string | undefined) ?? '',
      canonicalName: extra.canonicalName as string,
      canonicalRevision: extra.canonicalRevision as string,
      workloadType: extra.workloadType as number,
      workloadName: extra.workloadName as string,
      services,
      authorizationPolicies: [...w.authorizationPolicies],
      status: w.healthy ? 0 : 1,
      clusterId: this.options.clusterId,
      locality: (extra.locality as object | null) ?? null,
      networkMode: (extra.networkMode as number | undefined) ?? 0,
      capacity: typeof extra.capacity === 'number' ? { value: extra.capacity } : null,
    };
    const address = { workload } as unknown as AddressMessage;
    const encoded = AddressCodec.encode(address);
    return {
      name: w.uid,
      aliases: w.ips.map((ip) => `${network}/${ip}`),
      version: versionOf(encoded),
      address,
      encoded,
      source: w.source,
    };
  }

  // ------------------------------------------------------------------------------------------ services

  #kubeService(svc: KubeService, unit: Unit): ServiceInfo[] {
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') return [];
    const ns = svc.metadata.namespace ?? 'default';
    const name = svc.metadata.name;
    const key = `Service/${ns}/${name}`;
    const labels = svc.metadata.labels ?? {};
    const hostname = `${name}.${ns}.svc.${this.options.domainSuffix}`;
    let vips: string[];
    let allocated = false;
    if (spec.clusterIP === 'None') vips = [];
    else {
      const explicit = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(
        (ip) => ip !== 'None',
      );
      if (explicit.length > 0) {
        vips = explicit.map(canonicalIp);
        for (const ip of vips) this.#serviceAllocator.reserve(ip, key);
      } else {
        const ip = this.#serviceAllocator.allocate(key);
        vips = ip ? [ip] : [];
        allocated = true;
      }
    }
    const isWaypoint = this.#isWaypointItself(labels, ns, name);
    const { waypoint, problem } = isWaypoint
      ? { waypoint: null, problem: null }
      : this.#resolveWaypoint('service', labels, ns, unit);
    const info: ServiceInfo & { extra: Record<string, unknown> } = {
      resourceName: `${ns}/${hostname}`,
      source: key,
      kind: 'Service',
      name,
      namespace: ns,
      hostname,
      labels,
      vips,
      allocated,
      ports: (spec.ports ?? [])
        .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
        .map((p) => ({
          port: p.port,
          targetPort: p.targetPort ?? p.port,
          ...(p.name !== undefined ? { name: p.name } : {}),
          protocol: p.appProtocol ?? p.name?.split('-')[0] ?? '',
        })),
      waypoint,
      waypointProblem: problem,
      ingressUseWaypoint: (labels[INGRESS_USE_WAYPOINT] ?? this.#nsLabels(ns)[INGRESS_USE_WAYPOINT]) === 'true',
      extra: {
        canonical: true,
        preferClose:
          spec.trafficDistribution === 'PreferClose' ||
          svc.metadata.annotations?.[TRAFFIC_DISTRIBUTION] === 'PreferClose' ||
          this.#namespaces.get(ns)?.metadata.annotations?.[TRAFFIC_DISTRIBUTION] === 'PreferClose',
      },
    };
    return [this.#detach(info)];
  }

  #serviceEntry(se: ServiceEntry, unit: Unit): { services: ServiceInfo[]; workloads: WorkloadInfo[] } {
    const spec = se.spec;
    if (!spec) return { services: [], workloads: [] };
    const ns = se.metadata.namespace ?? 'default';
    const name = se.metadata.name;
    const key = `ServiceEntry/${ns}/${name}`;
    const labels = se.metadata.labels ?? {};
    const { waypoint, problem } = this.#resolveWaypoint('service', labels, ns, unit);
    const services: ServiceInfo[] = [];
    const explicit = (spec.addresses ?? []).filter((a) => parseCidr(a));
    for (const host of spec.hosts) {
      let vips = explicit.map((a) => (a.includes('/') ? a : canonicalIp(a)));
      let allocated = false;
      if (
        vips.length === 0 &&
        !host.startsWith('*') &&
        labels[AUTOALLOCATE] !== 'false' &&
        (spec.resolution ?? 'NONE') !== 'NONE'
      ) {
        const ip = this.#seAllocator.allocate(`${key}/${host}`);
        vips = ip ? [ip] : [];
        allocated = true;
      }
      const info: ServiceInfo & { extra: Record<string, unknown> } = {
        resourceName: `${ns}/${host}`,
        source: key,
        kind: 'ServiceEntry',
        name,
        namespace: ns,
        hostname: host,
        labels,
        vips,
        allocated,
        ports: (spec.ports ?? []).map((p) => ({
          port: p.number,
          targetPort: p.targetPort ?? 0,
          name: p.name,
          protocol: p.protocol ?? '',
        })),
        waypoint,
        waypointProblem: problem,
        ingressUseWaypoint: (labels[INGRESS_USE_WAYPOINT] ?? this.#nsLabels(ns)[INGRESS_USE_WAYPOINT]) === 'true',
        extra: { canonical: false, subjectAltNames: spec.subjectAltNames ?? [] },
      };
      services.push(this.#detach(info));
    }
    const workloads: WorkloadInfo[] = [];
    // A DNS ServiceEntry without endpoints or selector has one implicit endpoint per host: the host itself.
    const resolution = spec.resolution ?? 'NONE';
    const implicit =
      !spec.endpoints?.length &&
      !spec.workloadSelector &&
      (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN' || resolution === 'DYNAMIC_DNS');
    const endpoints: (WorkloadEntrySpec & { host?: string })[] = implicit
      ? spec.hosts.filter((h) => !h.startsWith('*')).map((host) => ({ address: host, host }))
      : (spec.endpoints ?? []);
    for (const ep of endpoints) {
      const membership = new Map<string, Map<number, number>>();
      const ports = new Map<number, number>();
      for (const p of spec.ports ?? []) ports.set(p.number, ep.ports?.[p.name] ?? p.targetPort ?? p.number);
      for (const host of ep.host ? [ep.host] : spec.hosts) membership.set(`${ns}/${host}`, ports);
      const w = this.#entryWorkload(
        ep,
        {
          uid: `${this.options.clusterId}/networking.istio.io/ServiceEntry/${ns}/${name}/${ep.address ?? ''}`,
          source: key,
        },
        ns,
        name,
        labels,
        unit,
        'ServiceEntry',
        membership,
      );
      if (w) workloads.push(w);
    }
    return { services, workloads };
  }

  #serviceResource(s: ServiceInfo): AddressResource {
    const extra = this.#extra.get(s) ?? {};
    const addresses = s.vips.map((v) => {
      const c = parseCidr(v)!;
      return c.length === c.address.length * 8 || !v.includes('/')
        ? { network: this.options.network, address: c.address }
        : { network: this.options.network, address: c.address, length: c.length };
    });
    const v4 = s.vips.some((v) => parseIp(v.split('/')[0]!)?.length === 4);
    const v6 = s.vips.some((v) => parseIp(v.split('/')[0]!)?.length === 16);
    const service = {
      name: s.name,
      namespace: s.namespace,
      hostname: s.hostname,
      addresses,
      ports: s.ports.map((p) => ({
        servicePort: p.port,
        targetPort:
          typeof p.targetPort === 'number' ? p.targetPort : /^\d+$/.test(p.targetPort) ? Number(p.targetPort) : 0,
        appProtocol: appProtocol(p.protocol),
      })),
      subjectAltNames: (extra.subjectAltNames as string[] | undefined) ?? [],
      waypoint: this.#wireWaypoint(s, 'service'),
      loadBalancing: extra.preferClose ? { routingPreference: [6, 1, 2, 3], mode: 2 } : null,
      ipFamilies: v4 && v6 ? 3 : v4 ? 1 : v6 ? 2 : 0,
      canonical: extra.canonical === true,
      ingressUseWaypoint: s.ingressUseWaypoint,
    };
    const address = { service } as unknown as AddressMessage;
    const encoded = AddressCodec.encode(address);
    return {
      name: s.resourceName,
      aliases: s.vips.filter((v) => !v.includes('/')).map((v) => `${this.options.network}/${v}`),
      version: versionOf(encoded),
      address,
      encoded,
      source: s.source,
    };
  }

  // ------------------------------------------------------------------------------------------ outputs

  /** Every istio.workload.Address resource, by name. */
  addresses(): AddressResource[] {
    return [...this.#addresses.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  address(name: string): AddressResource | undefined {
    return this.#addresses.get(name);
  }

  /**
   * ztunnel's on-demand lookup: a resource name or a `<network>/<ip>` alias (`/10.0.0.1` for the default network),
   * or `<namespace>/<hostname>`. Returns every resource that matches.
   */
  lookup(key: string): AddressResource[] {
    return [...(this.#aliases.get(key) ?? [])].map((n) => this.#addresses.get(n)!).filter(Boolean);
  }

  /** Every istio.security.Authorization resource, by name. */
  authorizations(): AuthorizationResource[] {
    return [...this.#authorizations.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  authorization(name: string): AuthorizationResource | undefined {
    return this.#authorizations.get(name);
  }

  workloads(): WorkloadInfo[] {
    return [...this.#workloadsByUid.values()].sort((a, b) => (a.uid < b.uid ? -1 : 1));
  }

  workload(uid: string): WorkloadInfo | undefined {
    return this.#workloadsByUid.get(uid);
  }

  /** Workloads with this IP (more than one means an address conflict). */
  workloadsByIp(ip: string): readonly WorkloadInfo[] {
    return this.#workloadsByIp.get(canonicalIp(ip)) ?? [];
  }

  services(): ServiceInfo[] {
    return [...this.#servicesByName.values()].sort((a, b) => (a.resourceName < b.resourceName ? -1 : 1));
  }

  /** A Kubernetes Service by namespace and name, else a ServiceEntry (its first host). */
  service(namespace: string, name: string): ServiceInfo | undefined {
    const kube = this.#servicesByName.get(`${namespace}/${name}.${namespace}.svc.${this.options.domainSuffix}`);
    if (kube) return kube;
    for (const s of this.#servicesByName.values())
      if (s.kind === 'ServiceEntry' && s.namespace === namespace && s.name === name) return s;
    return undefined;
  }

  servicesByHost(hostname: string): readonly ServiceInfo[] {
    const exact = this.#servicesByHost.get(hostname);
    if (exact) return exact;
    // Wildcard ServiceEntry hosts (`*.example.com`).
    const dot = hostname.indexOf('.');
    return dot === -1 ? [] : (this.#servicesByHost.get(`*${hostname.slice(dot)}`) ?? []);
  }

  /** Services whose VIP is `ip`. */
  servicesByVip(ip: string): ServiceInfo[] {
    return this.lookup(`${this.options.network}/${canonicalIp(ip)}`)
      .filter((r) => r.address.service)
      .map((r) => this.#servicesByName.get(r.name)!)
      .filter(Boolean);
  }

  /** Endpoints of a service: workloads that list it. */
  endpoints(service: ServiceInfo): WorkloadInfo[] {
    const out: WorkloadInfo[] = [];
    for (const unitKey of this.#unitsByNamespace.get(service.namespace) ?? []) {
      for (const w of this.#units.get(unitKey)?.workloads ?? []) if (w.services.has(service.resourceName)) out.push(w);
    }
    return out.sort((a, b) => (a.uid < b.uid ? -1 : 1));
  }

  namespaceLabels(ns: string): Labels {
    return this.#nsLabels(ns);
  }

  namespaceExists(ns: string): boolean {
    return this.#namespaces.has(ns);
  }

  serviceAccountExists(ns: string, name: string): boolean {
    return this.#serviceAccounts.has(`${ns}/${name}`);
  }

  gateway(namespace: string, name: string): Gateway | undefined {
    return this.#gateways.get(`${namespace}/${name}`);
  }

  #waypointKeys(): string[] {
    const out: string[] = [];
    for (const [k, gw] of this.#gateways) if (this.isWaypoint(gw)) out.push(k);
    return out.sort();
  }

  /** Every waypoint Gateway with the services and workloads that use it. */
  waypoints(): WaypointInfo[] {
    if (!this.#waypointCache) {
      const cache = new Map<string, WaypointInfo>();
      const services = new Map<string, string[]>();
      const workloads = new Map<string, string[]>();
      for (const s of this.#servicesByName.values())
        if (s.waypoint) push(services, `${s.waypoint.namespace}/${s.waypoint.name}`, s.resourceName);
      for (const w of this.#workloadsByUid.values())
        if (w.waypoint) push(workloads, `${w.waypoint.namespace}/${w.waypoint.name}`, w.uid);
      for (const key of this.#waypointKeys()) {
        const gw = this.#gateways.get(key)!;
        const ns = gw.metadata.namespace!;
        const ga = this.#gatewayAddress({ namespace: ns, name: gw.metadata.name }) as {
          hostname?: { hostname: string };
          address?: { address: Uint8Array };
        };
        cache.set(key, {
          namespace: ns,
          name: gw.metadata.name,
          key,
          trafficType: this.#trafficType(gw),
          identity: this.#identity(ns, gw.metadata.name),
          address: ga.hostname ? { hostname: ga.hostname.hostname } : { ip: formatIp(ga.address!.address) },
          services: (services.get(key) ?? []).sort(),
          workloads: (workloads.get(key) ?? []).sort(),
        });
      }
      this.#waypointCache = cache;
    }
    return [...this.#waypointCache.values()];
  }

  waypoint(namespace: string, name: string): WaypointInfo | undefined {
    this.waypoints();
    return this.#waypointCache!.get(`${namespace}/${name}`);
  }

  /**
   * Everything one waypoint enforces and routes: the services bound to it with a route table per port, and the
   * AuthorizationPolicies and RequestAuthentications attached to it (targetRefs to the waypoint Gateway, to the
   * root namespace's istio-waypoint GatewayClass, or to a bound Service/ServiceEntry). What istiod serves a waypoint.
   */
  waypointConfig(namespace: string, name: string): WaypointConfig | undefined {
    const wp = this.waypoint(namespace, name);
    if (!wp) return undefined;
    const services = wp.services
      .map((n) => this.#servicesByName.get(n))
      .filter((s): s is ServiceInfo => !!s)
      .map((service) => ({
        service,
        routes: service.ports.map((p) => ({ port: p.port, table: this.routeTable(wp, service, p.port) })),
      }));
    const bound = new Set(services.map((s) => `${s.service.kind}/${s.service.namespace}/${s.service.name}`));
    const attached = (r: {
      metadata: { namespace?: string };
      spec?: { targetRefs?: TargetRef[]; targetRef?: TargetRef };
    }) => {
      const ns = (r.metadata as { namespace?: string } | undefined)?.namespace ?? 'default';
      const refs = r.spec?.targetRefs ?? (r.spec?.targetRef ? [r.spec.targetRef] : []);
      return refs.some((ref) => {
        const group = ref.group ?? '';
        if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway')
          return ns === namespace && ref.name === name;
        if (group === 'gateway.networking.k8s.io' && ref.kind === 'GatewayClass')
          return ns === this.options.rootNamespace && ref.name === WAYPOINT_CLASS;
        if ((group === '' || group === 'core') && ref.kind === 'Service') return bound.has(`Service/${ns}/${ref.name}`);
        if (group === 'networking.istio.io' && ref.kind === 'ServiceEntry')
          return bound.has(`ServiceEntry/${ns}/${ref.name}`);
        return false;
      });
    };
    const authz = this.authorizer;
    return {
      waypoint: wp,
      services,
      authorizationPolicies: authz.authorizationPolicies.filter(attached),
      requestAuthentications: authz.requestAuthentications.filter(attached),
    };
  }

  /** The routing resources (VirtualService, DestinationRule, HTTPRoute, GRPCRoute, TCPRoute). */
  routingResources(): L7Resource[] {
    return [...this.#l7.values()];
  }

  /**
   * The route table a waypoint uses for one service port (compiled by @mesh/l7 with the index's services, so unknown
   * destination hosts answer 503 as they would at runtime). Cached until routing config or services change.
   */
  routeTable(waypoint: WaypointRef, service: ServiceInfo, port: number): RouteTable {
    const key = `${waypoint.namespace}/${waypoint.name}|${service.resourceName}|${port}`;
    let table = this.#routeTables.get(key);
    if (!table) {
      const l7 = [...this.#l7.values()];
      table = compileRouteTable({
        service: {
          hostname: service.hostname,
          namespace: service.namespace,
          port,
          ports: service.ports.map((p) => p.port),
        },
        proxy: { kind: 'waypoint', namespace: waypoint.namespace },
        virtualServices: l7.filter((r): r is VirtualService => r.kind === 'VirtualService'),
        destinationRules: l7.filter((r): r is DestinationRule => r.kind === 'DestinationRule'),
        httpRoutes: l7.filter((r): r is GatewayHTTPRoute => r.kind === 'HTTPRoute'),
        grpcRoutes: l7.filter((r): r is GRPCRoute => r.kind === 'GRPCRoute'),
        domainSuffix: this.options.domainSuffix,
        rootNamespace: this.options.rootNamespace,
        servicePorts: (host) => {
          const s = this.servicesByHost(host)[0];
          return s ? s.ports.map((p) => p.port) : undefined;
        },
        hostExists: (host) => this.servicesByHost(host).length > 0,
        validate: false,
      });
      this.#routeTables.set(key, table);
    }
    return table;
  }
}

// ------------------------------------------------------------------------------------------ helpers

function setOrDelete<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A stable, content-derived resource version. */
export function versionOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
}

function appProtocol(name: string | undefined): number {
  switch ((name ?? '').toLowerCase()) {
    case 'http':
    case 'http1':
      return APP_PROTOCOL.HTTP11;
    case 'http2':
    case 'h2c':
    case 'kubernetes.io/h2c':
      return APP_PROTOCOL.HTTP2;
    case 'grpc':
    case 'grpc-web':
      return APP_PROTOCOL.GRPC;
    default:
      return APP_PROTOCOL.UNKNOWN;
  }
}

function locality(labels: Labels): { region: string; zone: string; subzone: string } | null {
  const region = labels['topology.kubernetes.io/region'] ?? '';
  const zone = labels['topology.kubernetes.io/zone'] ?? '';
  const subzone = labels['topology.istio.io/subzone'] ?? '';
  return region || zone || subzone ? { region, zone, subzone } : null;
}

function localityFromString(text: string): { region: string; zone: string; subzone: string } {
  const [region = '', zone = '', subzone = ''] = text.split('/');
  return { region, zone, subzone };
}
