// ztunnel's Prometheus metrics in Istio's shape: istio_tcp_* with the standard traffic label set (reference §6), xDS
// and build metrics, plus our own certificate and waypoint metrics (mesh_ztunnel_*, named so nobody mistakes them
// for Istio's). process_* and nodejs_* come from prom-client.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServiceView, WorkloadView } from './state.js';

/** The traffic labels, in the order ztunnel encodes them. */
export const TRAFFIC_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export type TrafficLabel = (typeof TRAFFIC_LABELS)[number];
export type TrafficLabels = Record<TrafficLabel, string>;

export interface ZtunnelMetrics {
  readonly registry: Registry;
  readonly opened: Counter<TrafficLabel>;
  readonly closed: Counter<TrafficLabel>;
  readonly sent: Counter<TrafficLabel>;
  readonly received: Counter<TrafficLabel>;
  readonly failed: Counter<TrafficLabel>;
  readonly socketsOpen: Gauge<'reporter'>;
  readonly xdsTerminations: Counter<'reason'>;
  readonly xdsMessages: Counter<'url'>;
  readonly certExpiry: Gauge<'identity'>;
  readonly certRenewals: Counter<'result'>;
  readonly waypointUnavailable: Counter<'waypoint'>;
  readonly proxies: Gauge;
  readonly proxiesStarted: Counter;
  readonly proxiesStopped: Counter;
  readonly policyClosed: Counter;
}

export function createMetrics(options: { version: string }): ZtunnelMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = { registers: [registry] };
  const traffic = (name: string, help: string) => new Counter({ name, help, labelNames: [...TRAFFIC_LABELS], ...r });
  new Gauge({ name: 'istio_build', help: 'Istio component build info', labelNames: ['component', 'tag'], ...r }).set(
    { component: 'ztunnel', tag: options.version },
    1,
  );
  return {
    registry,
    opened: traffic('istio_tcp_connections_opened_total', 'The total number of TCP connections opened.'),
    closed: traffic('istio_tcp_connections_closed_total', 'The total number of TCP connections closed.'),
    sent: traffic(
      'istio_tcp_sent_bytes_total',
      'The size of total bytes sent during response in case of a TCP connection.',
    ),
    received: traffic(
      'istio_tcp_received_bytes_total',
      'The size of total bytes received during request in case of a TCP connection.',
    ),
    failed: traffic(
      'istio_tcp_connections_failed_total',
      'The total number of TCP connections that failed (unstable).',
    ),
    socketsOpen: new Gauge({
      name: 'istio_tcp_sockets_open',
      help: 'The current number of open TCP sockets (unstable).',
      labelNames: ['reporter'],
      ...r,
    }),
    xdsTerminations: new Counter({
      name: 'istio_xds_connection_terminations_total',
      help: 'The total number of completed connections to xds server.',
      labelNames: ['reason'],
      ...r,
    }),
    xdsMessages: new Counter({
      name: 'istio_xds_message_total',
      help: 'Total number of messages received.',
      labelNames: ['url'],
      ...r,
    }),
    certExpiry: new Gauge({
      name: 'mesh_ztunnel_certificate_expiration_timestamp_seconds',
      help: 'When the current certificate of each workload identity on this node expires (unix seconds).',
      labelNames: ['identity'],
      ...r,
    }),
    certRenewals: new Counter({
      name: 'mesh_ztunnel_certificate_requests_total',
      help: 'Certificate requests to the CA by result (issued, renewed, failed).',
      labelNames: ['result'],
      ...r,
    }),
    waypointUnavailable: new Counter({
      name: 'mesh_ztunnel_waypoint_unavailable_total',
      help: 'Connections refused because the destination uses a waypoint that cannot be reached (never bypassed).',
      labelNames: ['waypoint'],
      ...r,
    }),
    proxies: new Gauge({
      name: 'workload_manager_active_proxy_count',
      help: 'The total number current workloads with active proxies.',
      ...r,
    }),
    proxiesStarted: new Counter({
      name: 'workload_manager_proxies_started_total',
      help: 'The total number of proxies that were started.',
      ...r,
    }),
    proxiesStopped: new Counter({
      name: 'workload_manager_proxies_stopped_total',
      help: 'The total number of proxies that were stopped.',
      ...r,
    }),
    policyClosed: new Counter({
      name: 'mesh_ztunnel_connections_closed_by_policy_total',
      help: 'Live inbound connections closed because a policy change now denies them.',
      ...r,
    }),
  };
}

const u = (v: string | undefined | null) => (v ? v : 'unknown');

export interface TrafficParties {
  reporter: 'source' | 'destination';
  source: WorkloadView | undefined;
  /** Verified peer identity (inbound) or our own pod identity (outbound). */
  sourcePrincipal: string | undefined;
  destination: WorkloadView | undefined;
  destinationPrincipal: string | undefined;
  service: ServiceView | undefined;
  responseFlags: string;
  mtls: boolean;
}

const app = (w: WorkloadView | undefined) => w?.workload.canonicalName;

export function trafficLabels(p: TrafficParties): TrafficLabels {
  const s = p.source?.workload;
  const d = p.destination?.workload;
  const svc = p.service?.service;
  return {
    reporter: p.reporter,
    source_workload: u(s?.workloadName),
    source_canonical_service: u(s?.canonicalName),
    source_canonical_revision: u(s?.canonicalRevision),
    source_workload_namespace: u(s?.namespace),
    source_principal: u(p.sourcePrincipal),
    source_app: u(app(p.source)),
    source_version: u(s?.canonicalRevision),
    source_cluster: u(s?.clusterId),
    destination_service: u(svc?.hostname),
    destination_service_namespace: u(svc?.namespace),
    destination_service_name: u(svc?.name),
    destination_workload: u(d?.workloadName),
    destination_canonical_service: u(d?.canonicalName),
    destination_canonical_revision: u(d?.canonicalRevision),
    destination_workload_namespace: u(d?.namespace),
    destination_principal: u(p.destinationPrincipal),
    destination_app: u(app(p.destination)),
    destination_version: u(d?.canonicalRevision),
    destination_cluster: u(d?.clusterId),
    request_protocol: 'tcp',
    response_flags: p.responseFlags,
    connection_security_policy: p.mtls ? 'mutual_tls' : 'unknown',
  };
}
