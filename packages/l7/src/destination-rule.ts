// DestinationRule resolution (reference §4): which DR applies to a host for a proxy, how DRs at one level merge, and
// the effective traffic policy for (subset, port) with subset/port-level replacement and Istio's defaults.
import { tryParseDuration } from './duration.js';
import type {
  ConnectionPoolSettings,
  DestinationRule,
  LoadBalancerSettings,
  OutlierDetection,
  Subset,
  TrafficPolicy,
} from './resources.js';

/** The DestinationRule(s) that apply to one host for one proxy, merged as Istio merges DRs at one level. */
export interface MergedDestinationRule {
  /** The host as written in the winning DR(s), resolved to a FQDN. */
  readonly host: string;
  /** `namespace/name` of every DR merged in, oldest first. */
  readonly sources: readonly string[];
  readonly trafficPolicy: TrafficPolicy | undefined;
  /** Subsets by name; the first DR that defines a name wins. */
  readonly subsets: ReadonlyMap<string, Subset>;
}

export interface ResolveDestinationRuleOptions {
  destinationRules: readonly DestinationRule[];
  /** FQDN of the destination, e.g. reviews.default.svc.cluster.local. */
  host: string;
  /** Namespace of the proxy that sends the traffic (the waypoint's namespace). */
  proxyNamespace: string;
  /** Namespace of the Service behind `host` (parsed from `<name>.<ns>.svc.<suffix>` when omitted). */
  serviceNamespace?: string;
  /** Istio's root namespace. Default istio-system. */
  rootNamespace?: string;
  /** Default cluster.local. */
  domainSuffix?: string;
}

/**
 * Picks the DestinationRule(s) for `host` as Istio's push context does: DRs in the proxy's namespace, else DRs in
 * the Service's namespace exported to the proxy, else DRs in the root namespace exported to the proxy. The first level
 * with a match wins whole; within it the most specific host wins; DRs with the same host merge (oldest first).
 * DRs with a workloadSelector are never used for waypoints and are skipped.
 */
export function resolveDestinationRule(options: ResolveDestinationRuleOptions): MergedDestinationRule | null {
  const {
    destinationRules,
    host,
    proxyNamespace,
    rootNamespace = 'istio-system',
    domainSuffix = 'cluster.local',
  } = options;
  const serviceNamespace = options.serviceNamespace ?? namespaceOfHost(host, domainSuffix);
  const levels: { ns: string; exportCheck: boolean }[] = [{ ns: proxyNamespace, exportCheck: false }];
  if (serviceNamespace && serviceNamespace !== proxyNamespace) levels.push({ ns: serviceNamespace, exportCheck: true });
  if (rootNamespace !== proxyNamespace && rootNamespace !== serviceNamespace)
    levels.push({ ns: rootNamespace, exportCheck: true });
  for (const level of levels) {
    const candidates: { dr: DestinationRule; fqdn: string }[] = [];
    for (const dr of destinationRules) {
      const ns = dr.metadata?.namespace ?? 'default';
      if (ns !== level.ns || !dr.spec?.host || dr.spec.workloadSelector) continue;
      if (level.exportCheck && !exportedTo(dr.spec.exportTo, ns, proxyNamespace)) continue;
      const fqdn = resolveHost(dr.spec.host, ns, domainSuffix);
      if (hostMatches(fqdn, host)) candidates.push({ dr, fqdn });
    }
    if (candidates.length === 0) continue;
    const best = mostSpecific(candidates.map((c) => c.fqdn));
    const winners = candidates.filter((c) => c.fqdn === best).map((c) => c.dr);
    winners.sort(compareByAge);
    const subsets = new Map<string, Subset>();
    let trafficPolicy: TrafficPolicy | undefined;
    for (const dr of winners) {
      if (!trafficPolicy && dr.spec!.trafficPolicy) trafficPolicy = dr.spec!.trafficPolicy;
      for (const s of dr.spec!.subsets ?? []) if (s.name && !subsets.has(s.name)) subsets.set(s.name, s);
    }
    return {
      host: best,
      sources: winners.map((d) => `${d.metadata?.namespace ?? 'default'}/${d.metadata?.name ?? ''}`),
      trafficPolicy,
      subsets,
    };
  }
  return null;
}

// ------------------------------------------------------------------------------------------ effective policy

export type LoadBalancerKind = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'PASSTHROUGH' | 'RING_HASH' | 'MAGLEV';

export interface HashPolicy {
  readonly header?: string;
  readonly cookie?: { name: string; path?: string; ttlMs?: number };
  readonly sourceIp?: boolean;
  readonly queryParameter?: string;
}

export interface ResolvedLoadBalancer {
  readonly kind: LoadBalancerKind;
  /** Set for RING_HASH and MAGLEV. */
  readonly hash: HashPolicy | null;
  /** RING_HASH: Istio's default minimum ring size is 1024. */
  readonly minimumRingSize: number;
  /** MAGLEV: Envoy's default table size is 65537. */
  readonly tableSize: number;
  readonly warmupDurationMs: number;
}

export interface ResolvedConnectionPool {
  /** Istio's defaults are 2^32-1 for the four circuit-breaker thresholds (Envoy's own are 1024/3). */
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  readonly connectTimeoutMs: number;
  readonly tcpIdleTimeoutMs: number;
  readonly httpIdleTimeoutMs: number;
  /** 0 = unlimited; 1 disables keep-alive. */
  readonly maxRequestsPerConnection: number;
  readonly maxConnectionDurationMs: number;
  readonly h2UpgradePolicy: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
  readonly useClientProtocol: boolean;
}

export interface ResolvedOutlierDetection {
  /** 0 disables. */
  readonly consecutive5xxErrors: number;
  /** 0 (the default) disables. */
  readonly consecutiveGatewayErrors: number;
  readonly consecutiveLocalOriginFailures: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;
}

export interface ResolvedTrafficPolicy {
  readonly loadBalancer: ResolvedLoadBalancer;
  readonly connectionPool: ResolvedConnectionPool;
  /** null when no outlierDetection applies (Istio then configures none). */
  readonly outlierDetection: ResolvedOutlierDetection | null;
  readonly tls: Readonly<Record<string, unknown>> | null;
  /** Where it came from, for explanations. */
  readonly source: {
    readonly destinationRule: string | null;
    readonly subset: string | null;
    readonly portLevel: boolean;
  };
}

const MAX_U32 = 4_294_967_295;

export const DEFAULT_CONNECTION_POOL: ResolvedConnectionPool = Object.freeze({
  maxConnections: MAX_U32,
  maxPendingRequests: MAX_U32,
  maxRequests: MAX_U32,
  maxRetries: MAX_U32,
  connectTimeoutMs: 10_000,
  tcpIdleTimeoutMs: 3_600_000,
  httpIdleTimeoutMs: 3_600_000,
  maxRequestsPerConnection: 0,
  maxConnectionDurationMs: 0,
  h2UpgradePolicy: 'DEFAULT',
  useClientProtocol: false,
});

export const DEFAULT_LOAD_BALANCER: ResolvedLoadBalancer = Object.freeze({
  kind: 'LEAST_REQUEST',
  hash: null,
  minimumRingSize: 1024,
  tableSize: 65_537,
  warmupDurationMs: 0,
});

export const DEFAULT_TRAFFIC_POLICY: ResolvedTrafficPolicy = Object.freeze({
  loadBalancer: DEFAULT_LOAD_BALANCER,
  connectionPool: DEFAULT_CONNECTION_POOL,
  outlierDetection: null,
  tls: null,
  source: Object.freeze({ destinationRule: null, subset: null, portLevel: false }),
});

interface PolicyFields {
  loadBalancer?: LoadBalancerSettings | undefined;
  connectionPool?: ConnectionPoolSettings | undefined;
  outlierDetection?: OutlierDetection | undefined;
  tls?: Record<string, unknown> | undefined;
}

/**
 * The traffic policy Istio programs for traffic to (subset, port) under a merged DR. Order (Istio's
 * MergeTrafficPolicy): the DR-level policy, with a matching DR-level portLevelSettings entry replacing all four fields
 * (unset ones go to defaults); then each field the subset sets replaces the whole field; then a matching subset
 * portLevelSettings entry replaces all four again.
 */
export function effectiveTrafficPolicy(
  dr: MergedDestinationRule | null,
  target: { subset?: string | null; port?: number | null } = {},
): ResolvedTrafficPolicy {
  if (!dr) return DEFAULT_TRAFFIC_POLICY;
  const port = target.port ?? undefined;
  let fields: PolicyFields = applyPortLevel(dr.trafficPolicy, port);
  let portLevel = fields !== (dr.trafficPolicy ?? EMPTY);
  const subset = target.subset ? dr.subsets.get(target.subset) : undefined;
  const sp = subset?.trafficPolicy;
  if (sp) {
    fields = {
      loadBalancer: sp.loadBalancer ?? fields.loadBalancer,
      connectionPool: sp.connectionPool ?? fields.connectionPool,
      outlierDetection: sp.outlierDetection ?? fields.outlierDetection,
      tls: sp.tls ?? fields.tls,
    };
    const pl = port === undefined ? undefined : sp.portLevelSettings?.find((p) => p.port?.number === port);
    if (pl) {
      fields = {
        loadBalancer: pl.loadBalancer,
        connectionPool: pl.connectionPool,
        outlierDetection: pl.outlierDetection,
        tls: pl.tls,
      };
      portLevel = true;
    }
  }
  return {
    loadBalancer: resolveLoadBalancer(fields.loadBalancer),
    connectionPool: resolveConnectionPool(fields.connectionPool),
    outlierDetection: resolveOutlierDetection(fields.outlierDetection),
    tls: fields.tls ?? null,
    source: { destinationRule: dr.sources[0] ?? null, subset: subset ? target.subset! : null, portLevel },
  };
}

const EMPTY: PolicyFields = {};

function applyPortLevel(tp: TrafficPolicy | undefined, port: number | undefined): PolicyFields {
  if (!tp) return EMPTY;
  const pl = port === undefined ? undefined : tp.portLevelSettings?.find((p) => p.port?.number === port);
  if (!pl) return tp;
  return {
    loadBalancer: pl.loadBalancer,
    connectionPool: pl.connectionPool,
    outlierDetection: pl.outlierDetection,
    tls: pl.tls,
  };
}

function ms(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  return tryParseDuration(text) ?? fallback;
}

/** 0 and unset both mean "Istio's default" for the circuit-breaker thresholds. */
function threshold(v: number | undefined): number {
  return v === undefined || v <= 0 ? MAX_U32 : v;
}

export function resolveLoadBalancer(lb: LoadBalancerSettings | undefined): ResolvedLoadBalancer {
  if (!lb) return DEFAULT_LOAD_BALANCER;
  const warmupDurationMs = ms(lb.warmup?.duration ?? lb.warmupDurationSecs, 0);
  const ch = lb.consistentHash;
  if (ch) {
    const hash: HashPolicy = ch.httpHeaderName
      ? { header: ch.httpHeaderName.toLowerCase() }
      : ch.httpCookie
        ? {
            cookie: {
              name: ch.httpCookie.name ?? '',
              ...(ch.httpCookie.path !== undefined ? { path: ch.httpCookie.path } : {}),
              ...(ch.httpCookie.ttl !== undefined ? { ttlMs: ms(ch.httpCookie.ttl, 0) } : {}),
            },
          }
        : ch.useSourceIp
          ? { sourceIp: true }
          : { queryParameter: ch.httpQueryParameterName ?? '' };
    if (ch.maglev)
      return {
        kind: 'MAGLEV',
        hash,
        minimumRingSize: 1024,
        tableSize: ch.maglev.tableSize || 65_537,
        warmupDurationMs,
      };
    const minimumRingSize = ch.ringHash?.minimumRingSize || ch.minimumRingSize || 1024;
    return { kind: 'RING_HASH', hash, minimumRingSize, tableSize: 65_537, warmupDurationMs };
  }
  const kind: LoadBalancerKind =
    lb.simple === 'ROUND_ROBIN'
      ? 'ROUND_ROBIN'
      : lb.simple === 'RANDOM'
        ? 'RANDOM'
        : lb.simple === 'PASSTHROUGH'
          ? 'PASSTHROUGH'
          : 'LEAST_REQUEST'; // UNSPECIFIED, LEAST_CONN (deprecated alias) and LEAST_REQUEST
  return { ...DEFAULT_LOAD_BALANCER, kind, warmupDurationMs };
}

export function resolveConnectionPool(cp: ConnectionPoolSettings | undefined): ResolvedConnectionPool {
  if (!cp) return DEFAULT_CONNECTION_POOL;
  const d = DEFAULT_CONNECTION_POOL;
  return {
    maxConnections: threshold(cp.tcp?.maxConnections),
    maxPendingRequests: threshold(cp.http?.http1MaxPendingRequests),
    maxRequests: threshold(cp.http?.http2MaxRequests),
    maxRetries: threshold(cp.http?.maxRetries),
    connectTimeoutMs: ms(cp.tcp?.connectTimeout, d.connectTimeoutMs),
    tcpIdleTimeoutMs: ms(cp.tcp?.idleTimeout, d.tcpIdleTimeoutMs),
    httpIdleTimeoutMs: ms(cp.http?.idleTimeout, d.httpIdleTimeoutMs),
    maxRequestsPerConnection: Math.max(0, cp.http?.maxRequestsPerConnection ?? 0),
    maxConnectionDurationMs: ms(cp.tcp?.maxConnectionDuration, 0),
    h2UpgradePolicy: cp.http?.h2UpgradePolicy ?? 'DEFAULT',
    useClientProtocol: cp.http?.useClientProtocol ?? false,
  };
}

export function resolveOutlierDetection(od: OutlierDetection | undefined): ResolvedOutlierDetection | null {
  if (!od) return null;
  return {
    consecutive5xxErrors: od.consecutive5xxErrors ?? od.consecutiveErrors ?? 5,
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? 0,
    consecutiveLocalOriginFailures: od.splitExternalLocalOriginErrors ? (od.consecutiveLocalOriginFailures ?? 5) : 0,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors ?? false,
    intervalMs: ms(od.interval, 10_000),
    baseEjectionTimeMs: ms(od.baseEjectionTime, 30_000),
    maxEjectionTimeMs: 300_000,
    maxEjectionPercent: od.maxEjectionPercent ?? 10,
    minHealthPercent: od.minHealthPercent ?? 0,
  };
}

// ------------------------------------------------------------------------------------------ hosts

/** Istio's short-name resolution: a name without dots becomes `<name>.<namespace>.svc.<suffix>`. */
export function resolveHost(host: string, namespace: string, domainSuffix = 'cluster.local'): string {
  if (host === '*' || host.includes('.')) return host.toLowerCase();
  return `${host}.${namespace}.svc.${domainSuffix}`.toLowerCase();
}

/** `<name>.<ns>.svc.<suffix>` → ns. */
export function namespaceOfHost(host: string, domainSuffix = 'cluster.local'): string | undefined {
  const suffix = `.svc.${domainSuffix}`;
  if (!host.endsWith(suffix)) return undefined;
  const parts = host.slice(0, -suffix.length).split('.');
  return parts.length === 2 ? parts[1] : undefined;
}

/** Whether a config host (possibly `*.suffix` or `*`) covers a concrete FQDN. */
export function hostMatches(configHost: string, fqdn: string): boolean {
  if (configHost === fqdn) return true;
  if (configHost === '*') return true;
  if (configHost.startsWith('*')) return fqdn.endsWith(configHost.slice(1));
  return false;
}

function mostSpecific(hosts: string[]): string {
  // An exact host beats any wildcard; among wildcards, the longest suffix wins.
  return hosts.reduce((best, h) => {
    const bw = best.startsWith('*');
    const hw = h.startsWith('*');
    if (bw !== hw) return hw ? best : h;
    return h.length > best.length ? h : best;
  });
}

export function exportedTo(exportTo: readonly string[] | undefined, ownNamespace: string, to: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === to || (e === '.' && ownNamespace === to));
}

/** Istio's config order: oldest creationTimestamp first, then name, then namespace. */
export function compareByAge(
  a: { metadata?: { creationTimestamp?: string; name?: string; namespace?: string } },
  b: { metadata?: { creationTimestamp?: string; name?: string; namespace?: string } },
): number {
  const ta = Date.parse(a.metadata?.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  const sa = a.metadata?.namespace ?? '';
  const sb = b.metadata?.namespace ?? '';
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}
