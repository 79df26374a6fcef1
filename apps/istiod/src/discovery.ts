// The discovery service: the config store feeds the ambient index, the index's changes become xDS resources (ztunnel's
// Address and Authorization, the waypoints' own types, proxyless gRPC's LDS/RDS/CDS/EDS) in one XdsServer that both
// gRPC ports serve. Streams are authenticated (TLS port) and classified; each sees what its kind of proxy needs.
import { fromStruct, type JsonValue } from '@mesh/api';
import { authenticate, type Authenticator, type Caller } from '@mesh/ca/grpc';
import {
  AmbientIndex,
  MemoryStore,
  openFileStore,
  type ConfigBatch,
  type ConfigEvent,
  type ConfigIssue,
  type ConfigStore,
  type Pod,
} from '@mesh/config';
import { parseIstioIdentity, type SpiffeId } from '@mesh/spiffe';
import {
  addressType,
  authorizationType,
  clusterLoadAssignmentType,
  clusterType,
  listenerType,
  parseIstioNodeId,
  routeConfigurationType,
  waypointServiceType,
  waypointType,
  XdsError,
  XdsServer,
  type AuthenticateContext,
  type ResourceType,
  type StoredResource,
  type XdsConnection,
} from '@mesh/xds';
import type { NodeAuthorizer } from './ca.js';
import { IstiodError } from './errors.js';
import type { Logger } from './log.js';
import { metricType, type IstiodMetrics } from './metrics.js';
import type { IstiodOptions } from './options.js';
import { ProxylessGenerator, type ProxylessResources } from './proxyless.js';
import { WaypointContext } from './waypoints.js';

export type ProxyType = 'ztunnel' | 'waypoint' | 'grpc' | 'sidecar' | 'other';

/** What istiod knows about a stream after authentication. */
export interface Principal {
  readonly type: ProxyType;
  readonly authenticated: boolean;
  /** The caller's SPIFFE ID (TLS port), null on the plaintext port. */
  readonly identity: string | null;
  /** The proxy's namespace (node metadata NAMESPACE, else the node id), checked against the caller's. */
  readonly namespace: string | null;
  /** For waypoints: `<namespace>/<gateway name>`. */
  readonly waypoint: string | null;
}

/** Every type istiod serves (for config dumps). */
export const SERVED_TYPES: readonly ResourceType<unknown>[] = [
  addressType,
  authorizationType,
  waypointType,
  waypointServiceType,
  listenerType,
  routeConfigurationType,
  clusterType,
  clusterLoadAssignmentType,
] as ResourceType<unknown>[];

const ROUTING_KINDS = new Set<string | undefined>(['VirtualService', 'DestinationRule']);
const WAYPOINT_LABEL = 'gateway.networking.k8s.io/gateway-name';

function proxyKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export interface DiscoveryOptions {
  options: IstiodOptions;
  log: Logger;
  metrics: IstiodMetrics;
  /** The authenticators of the CA, for streams on the TLS port. */
  authenticators: () => readonly Authenticator[];
}

export class Discovery implements AsyncDisposable {
  readonly xds: XdsServer<Principal>;
  readonly index: AmbientIndex;
  #store: ConfigStore | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #options: IstiodOptions;
  readonly #log: Logger;
  readonly #configLog: Logger;
  readonly #metrics: IstiodMetrics;
  readonly #authenticators: () => readonly Authenticator[];
  readonly #proxyless: ProxylessGenerator;
  /** Names each Service contributed to the proxyless types. */
  readonly #proxylessNames = new Map<string, ProxylessResources>();
  /** Workload uid → the Services it was an endpoint of at the last build. */
  readonly #workloadServices = new Map<string, string[]>();
  /** WaypointService names per waypoint. */
  readonly #waypointServices = new Map<string, string[]>();
  #podsByNode: Map<string, Set<string>> | undefined;
  #issues = new Set<string>();
  #generation = 0;
  #lastChange = { generation: 0, at: 0 };
  readonly #credited = new Map<string, number>();
  #ready = false;
  /** Whether the proxyless (LDS/RDS/CDS/EDS) resources exist and follow changes. */
  #proxylessBuilt = false;
  /** When the last batch was applied (epoch ms), for /debug. */
  lastAppliedAt = 0;
  /** Where the last batch spent its time: the index, and building each kind of proxy's resources. */
  lastTimings: Record<string, number> = {};

  constructor(context: DiscoveryOptions) {
    this.#options = context.options;
    this.#log = context.log.child({ scope: 'ads' });
    this.#configLog = context.log.child({ scope: 'config' });
    this.#metrics = context.metrics;
    this.#authenticators = context.authenticators;
    this.index = new AmbientIndex({
      clusterId: this.#options.clusterId,
      network: this.#options.network,
      domainSuffix: this.#options.domainSuffix,
      trustDomain: this.#options.trustDomain,
      rootNamespace: this.#options.rootNamespace,
      serviceCidr: this.#options.serviceCidr,
    });
    this.#proxyless = new ProxylessGenerator(this.index);
    this.xds = new XdsServer<Principal>({
      authenticate: (ctx) => this.#authenticate(ctx),
      filter: (connection, resource) => this.visibleTo(connection, resource),
      debounce: { delayMs: this.#options.debounceAfterMs, maxDelayMs: this.#options.debounceMaxMs },
      controlPlaneId: `istiod-${process.pid}`,
    });
    this.#wireEvents();
  }

  get ready(): boolean {
    return this.#ready;
  }

  get store(): ConfigStore | undefined {
    return this.#store;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Reads the whole config, builds every resource, then follows changes. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    const dir = this.#options.configDir;
    const opening = performance.now();
    if (dir) {
      try {
        this.#store = await openFileStore({
          // Several directories, comma-separated: `meshctl up` adds the objects it generates (waypoint pods).
          paths: dir
            .split(',')
            .map((d) => d.trim())
            .filter(Boolean),
          debounceMs: this.#options.configDebounceMs,
          onError: (error) =>
            this.#configLog.error({ err: error }, 'config rescan failed; serving the last good state'),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        throw new IstiodError('ERR_ISTIOD_CONFIG_DIR', `cannot read --config-dir ${dir}: ${(error as Error).message}`, {
          cause: error,
          details: { dir },
        });
      }
    } else {
      this.#configLog.warn('no --config-dir: serving the embedded default (an empty mesh)');
      this.#store = new MemoryStore();
    }
    const store = this.#store;
    this.#unsubscribe = store.subscribe((batch) => this.#onBatch(batch));
    const loadMs = Math.round(performance.now() - opening);
    const started = performance.now();
    this.#apply(
      store.list().map((object) => ({ type: 'added', object })),
      store.issues,
      true,
    );
    this.xds.flush();
    this.#ready = true;
    this.#configLog.info(
      {
        source: dir ?? '<embedded default>',
        objects: store.list().length,
        workloads: this.index.workloads().length,
        services: this.index.services().length,
        policies: this.index.authorizations().length,
        waypoints: this.index.waypoints().length,
        loadMs,
        ...this.lastTimings,
        ms: Math.round(performance.now() - started),
      },
      'first full config indexed and served',
    );
  }

  #onBatch(batch: ConfigBatch): void {
    try {
      this.#apply(batch.events, batch.issues, false);
    } catch (error) {
      // Never stop serving: the previous resources stay in place.
      this.#configLog.error({ err: error }, 'applying a config change failed; serving the last good state');
    }
  }

  #apply(events: readonly ConfigEvent[], issues: readonly ConfigIssue[], full: boolean): void {
    const started = performance.now();
    this.#generation++;
    this.lastAppliedAt = Date.now();
    for (const e of events)
      this.#metrics.configEvents.inc({
        type: e.object.kind,
        event: e.type === 'added' ? 'add' : e.type === 'updated' ? 'update' : 'delete',
      });
    this.#reportIssues(issues);
    const changes = this.index.apply(events);
    const indexed = performance.now();
    if (events.some((e) => e.object.kind === 'Pod')) this.#podsByNode = undefined;

    // ztunnel: Address and Authorization, only what changed.
    const address = (name: string) => {
      const a = this.index.address(name)!;
      return { resource: a.address, name: a.name, aliases: a.aliases, version: a.version };
    };
    const authorization = (name: string) => {
      const a = this.index.authorization(name)!;
      return { resource: a.authorization, name: a.name, version: a.version };
    };
    if (full) {
      this.xds.set(
        addressType,
        this.index.addresses().map((a) => address(a.name)),
      );
      this.xds.set(
        authorizationType,
        this.index.authorizations().map((a) => authorization(a.name)),
      );
    } else {
      if (changes.addresses.updated.length || changes.addresses.removed.length) {
        this.xds.update(addressType, {
          set: changes.addresses.updated.map(address),
          remove: changes.addresses.removed,
        });
        this.#metrics.pushTriggers.inc(
          { type: 'address' },
          changes.addresses.updated.length + changes.addresses.removed.length,
        );
      }
      if (changes.authorizations.updated.length || changes.authorizations.removed.length) {
        this.xds.update(authorizationType, {
          set: changes.authorizations.updated.map(authorization),
          remove: changes.authorizations.removed,
        });
        this.#metrics.pushTriggers.inc({ type: 'authorization' });
      }
    }

    const ztunnel = performance.now();
    // Waypoints.
    const waypointKeys = full ? this.index.waypoints().map((w) => w.key) : changes.waypoints.updated;
    if (waypointKeys.length || changes.waypoints.removed.length) {
      this.#updateWaypoints(waypointKeys, changes.waypoints.removed);
      this.#metrics.pushTriggers.inc({ type: 'waypoint' });
    }

    // Proxyless gRPC.
    const waypoints = performance.now();
    // Built once the first client that may want them connects (ambient meshes often have none).
    const routing = full || events.some((e) => ROUTING_KINDS.has(e.object.kind));
    if (this.#proxylessBuilt)
      this.#updateProxyless(routing, [...changes.addresses.updated, ...changes.addresses.removed]);
    const done = performance.now();
    const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
    this.lastTimings = {
      indexMs: ms(started, indexed),
      ztunnelMs: ms(indexed, ztunnel),
      waypointsMs: ms(ztunnel, waypoints),
      grpcMs: ms(waypoints, done),
    };

    this.#lastChange = { generation: this.#generation, at: performance.now() };
    this.#metrics.services.set(this.index.services().length);
    this.#metrics.workloads.set(this.index.workloads().length);
    this.#metrics.virtualServices.set(this.index.objects('VirtualService').length);
    this.#configLog.debug(
      {
        events: events.length,
        addresses: changes.addresses.updated.length + changes.addresses.removed.length,
        authorizations: changes.authorizations.updated.length + changes.authorizations.removed.length,
        waypoints: waypointKeys.length + changes.waypoints.removed.length,
        ...this.lastTimings,
      },
      'config change applied',
    );
  }

  #reportIssues(issues: readonly ConfigIssue[]): void {
    const next = new Set<string>();
    let errors = 0;
    let warnings = 0;
    for (const issue of issues) {
      const key = `${issue.severity}|${issue.file ?? ''}|${issue.document ?? ''}|${issue.path}|${issue.message}`;
      next.add(key);
      if (issue.severity === 'error') errors++;
      else warnings++;
      if (this.#issues.has(key)) continue;
      const fields = {
        file: issue.file,
        document: issue.document,
        field: issue.path || undefined,
        resource: issue.resource,
        reason: issue.message,
      };
      if (issue.severity === 'error') {
        this.#metrics.configErrors.inc();
        this.#configLog.error(fields, 'invalid config; the last good version of it keeps being served');
      } else this.#configLog.warn(fields, 'config warning');
    }
    for (const key of this.#issues)
      if (!next.has(key) && key.startsWith('error|'))
        this.#configLog.info({ issue: key.split('|').slice(1, 4).join(' ') }, 'config error resolved');
    this.#issues = next;
    this.#metrics.configIssues.set({ severity: 'error' }, errors);
    this.#metrics.configIssues.set({ severity: 'warning' }, warnings);
  }

  #updateWaypoints(updated: readonly string[], removed: readonly string[]): void {
    const context = new WaypointContext(this.index);
    const setWaypoints = [];
    const setServices = [];
    const removeWaypoints = [...removed];
    const removeServices: string[] = [];
    for (const key of removed) {
      removeServices.push(...(this.#waypointServices.get(key) ?? []));
      this.#waypointServices.delete(key);
    }
    for (const key of updated) {
      const [namespace, name] = key.split('/') as [string, string];
      const info = this.index.waypoint(namespace, name);
      if (!info) {
        removeWaypoints.push(key);
        removeServices.push(...(this.#waypointServices.get(key) ?? []));
        this.#waypointServices.delete(key);
        continue;
      }
      const built = context.build(info);
      setWaypoints.push({ resource: built.waypoint });
      const names = built.services.map((s) => `${s.waypoint}/${s.service}`);
      for (const s of built.services) setServices.push({ resource: s });
      const before = new Set(this.#waypointServices.get(key) ?? []);
      for (const n of names) before.delete(n);
      removeServices.push(...before);
      this.#waypointServices.set(key, names);
    }
    this.xds.update(waypointType, { set: setWaypoints, remove: removeWaypoints });
    this.xds.update(waypointServiceType, { set: setServices, remove: removeServices });
  }

  #buildProxyless(): void {
    const started = performance.now();
    this.#proxylessBuilt = true;
    this.#updateProxyless(true, []);
    this.#log.info(
      { services: this.#proxylessNames.size, ms: Math.round(performance.now() - started) },
      'first proxyless gRPC client: built listeners, routes, clusters and endpoints',
    );
  }

  #updateProxyless(all: boolean, changedAddresses: readonly string[]): void {
    const services = new Map(this.index.services().map((s) => [s.resourceName, s]));
    let affected: Set<string>;
    if (all) {
      this.#proxyless.refreshRouting();
      affected = new Set([...services.keys(), ...this.#proxylessNames.keys()]);
    } else {
      affected = new Set();
      for (const name of changedAddresses) {
        if (services.has(name) || this.#proxylessNames.has(name)) affected.add(name);
        for (const s of this.#workloadServices.get(name) ?? []) affected.add(s);
        const w = this.index.workload(name);
        if (w) for (const s of w.services.keys()) affected.add(s);
      }
      if (affected.size === 0) return;
    }
    for (const name of changedAddresses) {
      const w = this.index.workload(name);
      if (w) this.#workloadServices.set(name, [...w.services.keys()]);
      else this.#workloadServices.delete(name);
    }
    if (all) {
      this.#workloadServices.clear();
      for (const w of this.index.workloads()) this.#workloadServices.set(w.uid, [...w.services.keys()]);
    }
    const set: ProxylessResources = { listeners: [], routes: [], clusters: [], endpoints: [] };
    const remove: Record<keyof ProxylessResources, string[]> = {
      listeners: [],
      routes: [],
      clusters: [],
      endpoints: [],
    };
    for (const name of affected) {
      const service = services.get(name);
      const before = this.#proxylessNames.get(name);
      const built = service ? this.#proxyless.service(service) : undefined;
      if (built) {
        this.#proxylessNames.set(name, built);
        for (const key of Object.keys(set) as (keyof ProxylessResources)[]) set[key].push(...(built[key] as never[]));
      } else this.#proxylessNames.delete(name);
      if (before) {
        const keep = new Set(built ? namesOf(built).all : []);
        const old = namesOf(before);
        for (const key of Object.keys(remove) as (keyof ProxylessResources)[])
          remove[key].push(...old[key].filter((n) => !keep.has(n)));
      }
    }
    const apply = <T>(type: ResourceType<T>, items: unknown[], removed: string[]) => {
      const inputs = items.map((resource) => ({ resource })) as never;
      // A full rebuild covers every Service: replace the type, which also drops anything left over.
      if (all) this.xds.set(type, inputs);
      else this.xds.update(type, { set: inputs, remove: removed });
    };
    apply(listenerType, set.listeners, remove.listeners);
    apply(routeConfigurationType, set.routes, remove.routes);
    apply(clusterType, set.clusters, remove.clusters);
    apply(clusterLoadAssignmentType, set.endpoints, remove.endpoints);
    this.#metrics.pushTriggers.inc({ type: 'grpc' });
  }

  // ---------------------------------------------------------------------------------------------- streams

  async #authenticate(ctx: AuthenticateContext): Promise<Principal> {
    const meta = fromStruct(ctx.node.metadata) as Record<string, JsonValue>;
    let parsed: ReturnType<typeof parseIstioNodeId> | undefined;
    try {
      parsed = parseIstioNodeId(ctx.node.id);
    } catch {
      parsed = undefined;
    }
    const generator = typeof meta.GENERATOR === 'string' ? meta.GENERATOR : '';
    const type: ProxyType =
      parsed?.type === 'ztunnel'
        ? 'ztunnel'
        : parsed?.type === 'waypoint'
          ? 'waypoint'
          : generator === 'grpc' || /grpc/i.test(ctx.node.userAgentName)
            ? 'grpc'
            : parsed
              ? 'sidecar'
              : 'other';
    let namespace =
      typeof meta.NAMESPACE === 'string' && meta.NAMESPACE ? meta.NAMESPACE : (parsed?.dnsDomain.split('.')[0] ?? null);
    let identity: string | null = null;
    let caller: Caller | undefined;
    // The TLS port stamps every call (istiod.ts); without the stamp the stream came in on the plaintext port.
    if (ctx.metadata.get('x-istiod-listener')[0] === 'secure') {
      const metadata = new Map<string, string[]>();
      for (const [key, values] of Object.entries(ctx.metadata.getMap()))
        if (key !== 'x-istiod-listener')
          metadata.set(key.toLowerCase(), [typeof values === 'string' ? values : values.toString('utf8')]);
      const raw = ctx.peerCertificate?.raw;
      try {
        caller = await authenticate(this.#authenticators(), {
          metadata,
          ...(raw ? { peerCertificates: [raw] } : {}),
          signal: ctx.signal,
        });
      } catch (error) {
        if (this.#options.xdsAuth) {
          this.#metrics.connectionRejects.inc({ reason: 'unauthenticated' });
          throw new IstiodError(
            'ERR_ISTIOD_XDS_UNAUTHENTICATED',
            `xDS stream of ${ctx.node.id}: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
      }
      if (caller) {
        identity = caller.identities.map(String).join(',');
        const callerNamespace = caller.kubernetes?.namespace ?? namespaceOf(caller.identities[0]);
        // Istio's identity check: a proxy may only act for the namespace it authenticated as.
        if (namespace && callerNamespace && callerNamespace !== namespace) {
          this.#metrics.connectionRejects.inc({ reason: 'identity' });
          throw new XdsError(
            'ERR_XDS_PERMISSION_DENIED',
            `${ctx.node.id} claims namespace ${namespace} but authenticated as ${identity}`,
          );
        }
        namespace ??= callerNamespace ?? null;
      }
    }
    let waypoint: string | null = null;
    if (type === 'waypoint' && namespace) {
      const labels = (meta.LABELS ?? {}) as Record<string, JsonValue>;
      const name =
        (typeof labels[WAYPOINT_LABEL] === 'string' ? (labels[WAYPOINT_LABEL] as string) : '') ||
        (typeof meta.WAYPOINT_NAME === 'string' ? meta.WAYPOINT_NAME : '') ||
        caller?.kubernetes?.serviceAccount ||
        (typeof meta.SERVICE_ACCOUNT === 'string' ? meta.SERVICE_ACCOUNT : '');
      if (name) waypoint = proxyKey(namespace, name);
    }
    return { type, authenticated: caller !== undefined, identity, namespace, waypoint };
  }

  /** Whether a connection may see a resource (waypoints see only their own waypoint resources). */
  visibleTo(connection: XdsConnection<Principal>, resource: StoredResource): boolean {
    if (resource.typeUrl === waypointType.typeUrl) return connection.principal.waypoint === resource.name;
    if (resource.typeUrl === waypointServiceType.typeUrl)
      return connection.principal.waypoint !== null && resource.name.startsWith(`${connection.principal.waypoint}/`);
    return true;
  }

  #wireEvents(): void {
    const log = this.#log;
    this.xds.on('connect', (c) => {
      this.#metrics.xdsClients.inc({ type: c.principal.type });
      // Synchronous, before the stream's first requests are handled: they find the resources in place.
      if (!this.#proxylessBuilt && c.principal.type !== 'ztunnel' && c.principal.type !== 'waypoint')
        this.#buildProxyless();
      log.info(
        {
          id: c.id,
          node: c.nodeId,
          type: c.principal.type,
          peer: c.peer,
          protocol: c.protocol,
          identity: c.principal.identity,
          waypoint: c.principal.waypoint ?? undefined,
        },
        'proxy connected',
      );
    });
    this.xds.on('disconnect', (c, reason) => {
      this.#metrics.xdsClients.dec({ type: c.principal.type });
      this.#credited.delete(c.id);
      log.info({ id: c.id, node: c.nodeId, type: c.principal.type, reason }, 'proxy disconnected');
    });
    this.xds.on('nack', (e) => {
      this.#metrics.rejects.inc({ type: metricType(e.typeUrl) });
      log.warn(
        { id: e.connection.id, node: e.connection.nodeId, typeUrl: e.typeUrl, nonce: e.nonce, reason: e.message },
        'proxy rejected a push (NACK)',
      );
    });
    this.xds.on('reject', (e) => {
      log.warn({ peer: e.peer, node: e.nodeId, code: e.code, reason: e.message }, 'xDS stream refused');
    });
    this.xds.on('hookError', (error, c) => log.error({ err: error, id: c.id }, 'xDS filter failed'));
    this.xds.on('push', (e) => {
      const type = metricType(e.typeUrl);
      this.#metrics.pushes.inc({ type });
      this.#metrics.pushBytes.observe({ type }, e.bytes);
      const { generation, at } = this.#lastChange;
      if (
        generation > 1 &&
        this.#credited.get(e.connection.id) !== generation &&
        e.connection.connectedAt < this.lastAppliedAt
      ) {
        this.#credited.set(e.connection.id, generation);
        this.#metrics.convergence.observe((performance.now() - at) / 1000);
      }
      log.debug(
        { id: e.connection.id, typeUrl: e.typeUrl, resources: e.resources, removed: e.removed, bytes: e.bytes },
        'push',
      );
    });
  }

  // ---------------------------------------------------------------------------------------------- CA

  /** ztunnel node impersonation: the caller's node (token node claim, else its pod's node) runs a pod of `identity`. */
  readonly nodeAuthorizer: NodeAuthorizer = (caller, identity) => {
    const k8s = caller.kubernetes;
    if (!k8s) return { allowed: false, reason: 'the caller has no service account claims' };
    let node = k8s.nodeName;
    if (k8s.podName) {
      const pod = this.index.object(`Pod/${k8s.namespace}/${k8s.podName}`)?.resource as Pod | undefined;
      if (pod) {
        const sa = pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default';
        if (sa !== k8s.serviceAccount)
          return {
            allowed: false,
            reason: `pod ${k8s.namespace}/${k8s.podName} runs as ${sa}, not ${k8s.serviceAccount}`,
          };
        if (k8s.podUid && pod.metadata.uid && pod.metadata.uid !== k8s.podUid)
          return {
            allowed: false,
            reason: `pod ${k8s.namespace}/${k8s.podName} has another uid than the token's (a deleted pod)`,
          };
        if (node && pod.spec?.nodeName && pod.spec.nodeName !== node)
          return {
            allowed: false,
            reason: `the token says node ${node} but pod ${k8s.podName} runs on ${pod.spec.nodeName}`,
          };
        node ??= pod.spec?.nodeName;
      } else if (!node)
        return { allowed: false, reason: `the caller's pod ${k8s.namespace}/${k8s.podName} does not exist` };
    }
    if (!node)
      return { allowed: false, reason: 'the token binds the caller to no node (no kubernetes.io node or pod claim)' };
    let requested: string;
    try {
      const istio = parseIstioIdentity(identity);
      requested = `${istio.namespace}/${istio.serviceAccount}`;
    } catch {
      return { allowed: false, reason: `${identity.toString()} is not an Istio identity` };
    }
    if (this.#podsOnNode(node).has(requested))
      return { allowed: true, reason: `a pod of ${requested} runs on node ${node}` };
    return { allowed: false, reason: `no running pod of ${requested} on node ${node}` };
  };

  #podsOnNode(node: string): Set<string> {
    if (!this.#podsByNode) {
      const map = new Map<string, Set<string>>();
      for (const o of this.index.objects('Pod')) {
        const pod = o.resource as Pod;
        const n = pod.spec?.nodeName;
        if (!n || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || pod.metadata.deletionTimestamp)
          continue;
        let set = map.get(n);
        if (!set) map.set(n, (set = new Set()));
        set.add(`${o.namespace}/${pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default'}`);
      }
      this.#podsByNode = map;
    }
    return this.#podsByNode.get(node) ?? new Set();
  }

  // ---------------------------------------------------------------------------------------------- lifecycle

  async close(options: { graceMs?: number } = {}): Promise<void> {
    this.#ready = false;
    this.#unsubscribe?.();
    await this.xds.close({ graceMs: options.graceMs ?? 5_000 });
    await this.#store?.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function namespaceOf(id: SpiffeId | undefined): string | undefined {
  if (!id) return undefined;
  try {
    return parseIstioIdentity(id).namespace;
  } catch {
    return undefined;
  }
}

function namesOf(r: ProxylessResources) {
  const listeners = r.listeners.map((l) => l.name!);
  const routes = r.routes.map((x) => x.name!);
  const clusters = r.clusters.map((c) => c.name!);
  const endpoints = r.endpoints.map((e) => e.clusterName!);
  return { listeners, routes, clusters, endpoints, all: [...listeners, ...routes, ...clusters, ...endpoints] };
}
