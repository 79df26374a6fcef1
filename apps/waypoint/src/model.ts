// What the data path reads: one immutable snapshot of the waypoint's world (its services with compiled route tables,
// the policies as an authorizer, and the endpoints of every host a route can name). Two sources build it: a config
// directory through @mesh/config's ambient index (file mode) and istiod's mesh.waypoint.v1 + Address resources over
// delta xDS. A new snapshot replaces the old one whole; requests in flight finish on the one they started with.
import type { Authorizer } from '@mesh/authz';
import type { DestinationRule, RouteTable } from '@mesh/l7';

export interface EndpointView {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  /** Pod labels in file mode; over xDS only the canonical ones (app/version from canonical name/revision). */
  readonly labels: Readonly<Record<string, string>>;
  /** SPIFFE ID the pod's HBONE server presents. */
  readonly identity: string;
  /** Service resource name (`<ns>/<hostname>`) → service port → target port. */
  readonly services: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly healthy: boolean;
}

export interface ServicePortView {
  readonly port: number;
  readonly targetPort: number;
  readonly name?: string;
  readonly protocol?: string;
}

export interface ServiceView {
  /** `<namespace>/<hostname>`, the Address resource name. */
  readonly key: string;
  readonly hostname: string;
  readonly namespace: string;
  readonly name: string;
  readonly kind: 'Service' | 'ServiceEntry';
  readonly vips: readonly string[];
  readonly ports: readonly ServicePortView[];
  /** Route tables by service port (bound services only). */
  readonly tables: ReadonlyMap<number, RouteTable>;
  /** The DestinationRules istiod sent with the service (a mirror's subset is resolved from them). */
  readonly destinationRules: readonly DestinationRule[];
}

export interface WaypointIdentityView {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly domainSuffix: string;
}

export interface WaypointView {
  /** Increments with every snapshot. */
  readonly version: number;
  readonly waypoint: WaypointIdentityView;
  /** Services bound to this waypoint. */
  readonly services: readonly ServiceView[];
  readonly authorizer: Authorizer;
  /** AuthorizationPolicies and RequestAuthentications, for config_dump. */
  readonly policies: readonly { kind: string; namespace: string; name: string }[];
  /** A bound service by one of its VIPs, or by hostname. */
  serviceFor(host: string): ServiceView | undefined;
  /** Every endpoint of a destination host (any service the mesh knows, bound or not). */
  endpoints(hostname: string): readonly { endpoint: EndpointView; serviceKey: string }[];
}

/** A config source (file or xDS): it calls its `onView` with every new snapshot until closed. */
export interface ConfigSource extends AsyncDisposable {
  close(): Promise<void>;
}

/** Selects `endpoints` whose labels include `subset`'s. */
export function matchesSubset(
  labels: Readonly<Record<string, string>>,
  subset: Readonly<Record<string, string>> | null,
): boolean {
  if (!subset) return true;
  for (const [k, v] of Object.entries(subset)) if (labels[k] !== v) return false;
  return true;
}

export class ViewIndex {
  readonly #byHost = new Map<string, ServiceView>();
  readonly #byVip = new Map<string, ServiceView>();
  readonly #endpoints = new Map<string, { endpoint: EndpointView; serviceKey: string }[]>();

  constructor(services: readonly ServiceView[], endpoints: Iterable<EndpointView>, hostKeys: Map<string, string>) {
    for (const s of services) {
      this.#byHost.set(s.hostname, s);
      for (const vip of s.vips) this.#byVip.set(vip, s);
    }
    const keyToHost = new Map<string, string>();
    for (const [host, key] of hostKeys) keyToHost.set(key, host);
    for (const e of endpoints)
      for (const key of e.services.keys()) {
        const host = keyToHost.get(key) ?? key.slice(key.indexOf('/') + 1);
        let list = this.#endpoints.get(host);
        if (!list) this.#endpoints.set(host, (list = []));
        list.push({ endpoint: e, serviceKey: key });
      }
  }

  serviceFor(host: string): ServiceView | undefined {
    return this.#byVip.get(host) ?? this.#byHost.get(host);
  }

  endpoints(hostname: string): readonly { endpoint: EndpointView; serviceKey: string }[] {
    return this.#endpoints.get(hostname) ?? [];
  }
}
