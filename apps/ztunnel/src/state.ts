// ztunnel's view of the mesh: workloads and services from istio.workload.Address, policies from
// istio.security.Authorization. One mutator (apply*), many readers (the proxies). Lookups are by IP, uid and
// `<namespace>/<hostname>`; the network is the single default network of the local mesh.
import type { Address, GatewayAddress, Service, Workload } from '@mesh/api/istio.workload';
import type { Authorization } from '@mesh/api/istio.security';
import { L4PolicyIndex, type WorkloadAuthorizer } from '@mesh/authz';
import { fromAuthorization } from '@mesh/authz/xds';
import { formatIp } from '@mesh/xds';

export const TUNNEL_HBONE = 1;

/** A workload with its addresses decoded once. */
export interface WorkloadView {
  readonly uid: string;
  readonly workload: Workload;
  readonly ips: readonly string[];
  /** `spiffe://<td>/ns/<ns>/sa/<sa>` with Istio's elisions undone. */
  readonly identity: string;
}

export interface ServiceView {
  /** `<namespace>/<hostname>` (the resource name). */
  readonly key: string;
  readonly service: Service;
  readonly vips: readonly string[];
}

export function workloadIdentity(w: Pick<Workload, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return `spiffe://${w.trustDomain || 'cluster.local'}/ns/${w.namespace}/sa/${w.serviceAccount || 'default'}`;
}

export type StateListener = (change: { workloads: boolean; policies: boolean }) => void;

export class ZtunnelState {
  readonly #workloads = new Map<string, WorkloadView>();
  readonly #byIp = new Map<string, WorkloadView>();
  readonly #services = new Map<string, ServiceView>();
  readonly #serviceByVip = new Map<string, ServiceView>();
  /** Service key -> uids of the workloads that list it in `services`. */
  readonly #endpoints = new Map<string, Set<string>>();
  readonly policies = new L4PolicyIndex();
  readonly #listeners = new Set<StateListener>();
  readonly warnings: string[] = [];

  onChange(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies one xDS batch of Address resources (name -> message; removed names). */
  applyAddresses(updated: Iterable<{ name: string; resource: Address }>, removed: Iterable<string>): void {
    for (const name of removed) this.#removeAddress(name);
    for (const { name, resource } of updated) {
      this.#removeAddress(name);
      if (resource.workload) this.#addWorkload(resource.workload);
      else if (resource.service) this.#addService(name, resource.service);
    }
    this.#emit({ workloads: true, policies: false });
  }

  applyAuthorizations(updated: Iterable<{ name: string; resource: Authorization }>, removed: Iterable<string>): void {
    for (const name of removed) this.policies.delete(name);
    for (const { name, resource } of updated) {
      try {
        const { policy, warnings } = fromAuthorization(resource);
        this.policies.upsert(policy);
        for (const w of warnings) this.#warn(`${name}: ${w}`);
      } catch (error) {
        this.#warn(`${name}: ${(error as Error).message}`);
      }
    }
    this.#emit({ workloads: false, policies: true });
  }

  #warn(text: string): void {
    this.warnings.push(text);
    if (this.warnings.length > 100) this.warnings.shift();
  }

  #emit(change: { workloads: boolean; policies: boolean }): void {
    for (const l of this.#listeners) l(change);
  }

  #addWorkload(workload: Workload): void {
    const ips = workload.addresses.filter((a) => a.length === 4 || a.length === 16).map(formatIp);
    const view: WorkloadView = { uid: workload.uid, workload, ips, identity: workloadIdentity(workload) };
    this.#workloads.set(workload.uid, view);
    for (const ip of ips) this.#byIp.set(ip, view);
    for (const key of Object.keys(workload.services ?? {})) {
      let set = this.#endpoints.get(key);
      if (!set) this.#endpoints.set(key, (set = new Set()));
      set.add(workload.uid);
    }
  }

  #addService(name: string, service: Service): void {
    const vips = service.addresses.filter((a) => a.address.length === 4 || a.address.length === 16);
    const view: ServiceView = { key: name, service, vips: vips.map((a) => formatIp(a.address)) };
    this.#services.set(name, view);
    for (const vip of view.vips) this.#serviceByVip.set(vip, view);
  }

  #removeAddress(name: string): void {
    const w = this.#workloads.get(name);
    if (w) {
      this.#workloads.delete(name);
      for (const ip of w.ips) if (this.#byIp.get(ip) === w) this.#byIp.delete(ip);
      for (const key of Object.keys(w.workload.services ?? {})) this.#endpoints.get(key)?.delete(name);
    }
    const s = this.#services.get(name);
    if (s) {
      this.#services.delete(name);
      for (const vip of s.vips) if (this.#serviceByVip.get(vip) === s) this.#serviceByVip.delete(vip);
    }
  }

  workloads(): IterableIterator<WorkloadView> {
    return this.#workloads.values();
  }

  services(): IterableIterator<ServiceView> {
    return this.#services.values();
  }

  workload(uid: string): WorkloadView | undefined {
    return this.#workloads.get(uid);
  }

  workloadByIp(ip: string): WorkloadView | undefined {
    return this.#byIp.get(ip);
  }

  serviceByVip(ip: string): ServiceView | undefined {
    return this.#serviceByVip.get(ip);
  }

  /** By `<namespace>/<hostname>`, or by hostname alone (any namespace). */
  serviceByHostname(hostname: string, namespace?: string): ServiceView | undefined {
    if (namespace !== undefined) return this.#services.get(`${namespace}/${hostname}`);
    for (const s of this.#services.values()) if (s.service.hostname === hostname) return s;
    return undefined;
  }

  /** The workloads that are endpoints of a service (healthy or not). */
  endpoints(serviceKey: string): WorkloadView[] {
    const out: WorkloadView[] = [];
    for (const uid of this.#endpoints.get(serviceKey) ?? []) {
      const w = this.#workloads.get(uid);
      if (w) out.push(w);
    }
    return out;
  }

  /** The captured workloads scheduled on `node` (the pods this ztunnel proxies). */
  localWorkloads(node: string): WorkloadView[] {
    return [...this.#workloads.values()].filter(
      (w) => w.workload.node === node && w.workload.tunnelProtocol === TUNNEL_HBONE && w.ips.length > 0,
    );
  }

  authorizerFor(w: WorkloadView): WorkloadAuthorizer {
    return this.policies.forWorkload({ namespace: w.workload.namespace, policies: w.workload.authorizationPolicies });
  }

  /** The service a workload's `services` map names for `port` (the first whose target port matches). */
  serviceForTarget(w: WorkloadView, targetPort: number): ServiceView | undefined {
    for (const [key, list] of Object.entries(w.workload.services ?? {}))
      if (list.ports.some((p) => (p.targetPort || p.servicePort) === targetPort)) return this.#services.get(key);
    return undefined;
  }
}

/** A GatewayAddress as text, for logs and config_dump. */
export function formatGatewayAddress(g: GatewayAddress | null | undefined): string | null {
  if (!g) return null;
  if (g.hostname) return `${g.hostname.namespace}/${g.hostname.hostname}`;
  if (g.address) return `${g.address.network}/${formatIp(g.address.address)}`;
  return null;
}
