// The labels and annotations the ambient index reads (istio/api label/labels.yaml; ecosystem.md §2.3).

export const DATAPLANE_MODE = 'istio.io/dataplane-mode';
export const USE_WAYPOINT = 'istio.io/use-waypoint';
export const USE_WAYPOINT_NAMESPACE = 'istio.io/use-waypoint-namespace';
export const WAYPOINT_FOR = 'istio.io/waypoint-for';
export const INGRESS_USE_WAYPOINT = 'istio.io/ingress-use-waypoint';
export const TRAFFIC_DISTRIBUTION = 'networking.istio.io/traffic-distribution';
export const AUTOALLOCATE = 'networking.istio.io/enable-autoallocate-ip';
export const TUNNEL = 'networking.istio.io/tunnel';
export const GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';
export const GATEWAY_MANAGED = 'gateway.istio.io/managed';
export const INJECTION = 'istio-injection';
export const REVISION = 'istio.io/rev';
export const SIDECAR_INJECT = 'sidecar.istio.io/inject';
export const SIDECAR_STATUS = 'sidecar.istio.io/status';
export const REDIRECTION = 'ambient.istio.io/redirection';
export const WAYPOINT_CLASS = 'istio-waypoint';
export const HBONE_PORT = 15008;

export type Labels = Readonly<Record<string, string>>;

/** `canonical-name`: the Istio label, then the Kubernetes recommended one, then `app`. */
export function canonicalName(labels: Labels, fallback: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? fallback;
}

export function canonicalRevision(labels: Labels): string {
  return (
    labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest'
  );
}

export function selectorMatches(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A Kubernetes label selector; an empty or absent selector matches everything. */
export function labelSelectorMatches(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const k in selector.matchLabels ?? {}) if (labels[k] !== selector.matchLabels![k]) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
