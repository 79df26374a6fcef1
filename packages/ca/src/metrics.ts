// Metric hooks with Istio's citadel_server_* names, so dashboards built for istiod's CA keep working. The CA only
// calls these; an app adapts them to its registry (prom-client, OpenTelemetry, …).

export type CaCounter =
  | 'citadel_server_csr_count'
  | 'citadel_server_success_cert_issuance_count'
  | 'citadel_server_authentication_failure_count'
  | 'citadel_server_csr_parsing_err_count'
  | 'citadel_server_id_extraction_err_count'
  | 'citadel_server_csr_sign_err_count';

export type CaGauge = 'citadel_server_root_cert_expiry_timestamp' | 'citadel_server_cert_chain_expiry_timestamp';

export interface CaMetrics {
  counter(name: CaCounter, labels?: Readonly<Record<string, string>>): void;
  /** Expiry gauges are Unix seconds. */
  gauge(name: CaGauge, value: number): void;
}

export const noMetrics: CaMetrics = Object.freeze({ counter() {}, gauge() {} });

/** An in-memory CaMetrics for tests and `meshctl`: counts and last values by name. */
export function memoryMetrics(): CaMetrics & { counts: Map<string, number>; gauges: Map<string, number> } {
  const counts = new Map<string, number>();
  const gauges = new Map<string, number>();
  return {
    counts,
    gauges,
    counter(name) {
      counts.set(name, (counts.get(name) ?? 0) + 1);
    },
    gauge(name, value) {
      gauges.set(name, value);
    },
  };
}
