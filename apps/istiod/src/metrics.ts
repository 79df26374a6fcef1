// istiod's Prometheus metrics, with Istio's names where Istio has one (pilot_*, citadel_server_*, istio_build), so
// the Pilot dashboard and alerts built for istiod keep working; process_* and nodejs_* from prom-client.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CaCounter, CaGauge, CaMetrics } from '@mesh/ca';

export interface IstiodMetrics {
  readonly registry: Registry;
  /** Connected xDS clients by proxy type (ztunnel, waypoint, grpc, sidecar, other). */
  readonly xdsClients: Gauge<'type'>;
  readonly pushes: Counter<'type'>;
  readonly pushBytes: Histogram<'type'>;
  readonly rejects: Counter<'type'>;
  readonly convergence: Histogram;
  readonly pushTriggers: Counter<'type'>;
  readonly connectionRejects: Counter<'reason'>;
  readonly configEvents: Counter<'type' | 'event'>;
  readonly configIssues: Gauge<'severity'>;
  readonly configErrors: Counter;
  readonly services: Gauge;
  readonly virtualServices: Gauge;
  readonly workloads: Gauge;
  readonly ca: CaMetrics;
  readonly impersonation: Counter<'result'>;
}

export function createMetrics(options: { version: string }): IstiodMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = { registers: [registry] };
  new Gauge({ name: 'istio_build', help: 'Istio component build info', labelNames: ['component', 'tag'], ...r }).set(
    { component: 'pilot', tag: options.version },
    1,
  );
  const caCounters = new Map<CaCounter, Counter>();
  for (const [name, help] of [
    ['citadel_server_csr_count', 'The number of CSRs received by Citadel server.'],
    ['citadel_server_success_cert_issuance_count', 'The number of certificates issuances that have succeeded.'],
    ['citadel_server_authentication_failure_count', 'The number of authentication failures.'],
    ['citadel_server_csr_parsing_err_count', 'The number of errors occurred when parsing the CSR.'],
    ['citadel_server_id_extraction_err_count', 'The number of errors occurred when extracting the ID from CSR.'],
    ['citadel_server_csr_sign_err_count', 'The number of errors occurred when signing the CSR.'],
  ] as const)
    caCounters.set(name, new Counter({ name, help, ...r }));
  const caGauges = new Map<CaGauge, Gauge>();
  for (const [name, help] of [
    [
      'citadel_server_root_cert_expiry_timestamp',
      'The unix timestamp, in seconds, when Citadel root cert will expire.',
    ],
    [
      'citadel_server_cert_chain_expiry_timestamp',
      'The unix timestamp, in seconds, when Citadel cert chain will expire.',
    ],
  ] as const)
    caGauges.set(name, new Gauge({ name, help, ...r }));
  return {
    registry,
    xdsClients: new Gauge({
      name: 'pilot_xds',
      help: 'Number of endpoints connected to this pilot using XDS.',
      labelNames: ['type'],
      ...r,
    }),
    pushes: new Counter({
      name: 'pilot_xds_pushes',
      help: 'Pilot build and send errors for lds, rds, cds and eds.',
      labelNames: ['type'],
      ...r,
    }),
    pushBytes: new Histogram({
      name: 'pilot_xds_config_size_bytes',
      help: 'Distribution of configuration sizes pushed to clients',
      labelNames: ['type'],
      buckets: [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000],
      ...r,
    }),
    rejects: new Counter({
      name: 'pilot_total_xds_rejects',
      help: 'Total number of XDS responses from pilot rejected by proxy.',
      labelNames: ['type'],
      ...r,
    }),
    convergence: new Histogram({
      name: 'pilot_proxy_convergence_time',
      help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 5, 10, 20, 30],
      ...r,
    }),
    pushTriggers: new Counter({
      name: 'pilot_push_triggers',
      help: 'Total number of times a push was triggered, labeled by reason for the push.',
      labelNames: ['type'],
      ...r,
    }),
    connectionRejects: new Counter({
      name: 'pilot_xds_connection_rejects',
      help: 'xDS streams refused: authentication failed, identity check failed, or a malformed node.',
      labelNames: ['reason'],
      ...r,
    }),
    configEvents: new Counter({
      name: 'pilot_k8s_cfg_events',
      help: 'Events from the config store (file mode: per kind and event).',
      labelNames: ['type', 'event'],
      ...r,
    }),
    configIssues: new Gauge({
      name: 'istiod_config_issues',
      help: 'Current config problems by severity (errors: files or objects rejected, their last good content is served).',
      labelNames: ['severity'],
      ...r,
    }),
    configErrors: new Counter({
      name: 'istiod_config_errors_total',
      help: 'Config errors seen since start (each new file/field error counts once).',
      ...r,
    }),
    services: new Gauge({ name: 'pilot_services', help: 'Total services known to pilot.', ...r }),
    virtualServices: new Gauge({ name: 'pilot_virt_services', help: 'Total virtual services known to pilot.', ...r }),
    workloads: new Gauge({
      name: 'istiod_workloads',
      help: 'Workloads (pods, workload entries) in the ambient index.',
      ...r,
    }),
    impersonation: new Counter({
      name: 'istiod_ca_impersonation_requests_total',
      help: 'Node agent (ztunnel) certificate requests for other identities, by result (allowed, denied).',
      labelNames: ['result'],
      ...r,
    }),
    ca: {
      counter: (name) => caCounters.get(name)?.inc(),
      gauge: (name, value) => caGauges.get(name)?.set(value),
    },
  };
}

/** Istio's short names for the envoy types in metrics; Istio's own types keep their type URL. */
export function metricType(typeUrl: string): string {
  const short: Record<string, string> = {
    'type.googleapis.com/envoy.config.listener.v3.Listener': 'lds',
    'type.googleapis.com/envoy.config.route.v3.RouteConfiguration': 'rds',
    'type.googleapis.com/envoy.config.cluster.v3.Cluster': 'cds',
    'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': 'eds',
    'type.googleapis.com/istio.workload.Address': 'wads',
    'type.googleapis.com/istio.security.Authorization': 'wdsauthorization',
  };
  return short[typeUrl] ?? typeUrl;
}
