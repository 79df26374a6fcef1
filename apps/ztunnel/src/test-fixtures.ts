// Address and Authorization messages for unit tests, written the way istiod sends them (names, elisions).
import type { Address, GatewayAddress } from '@mesh/api/istio.workload';
import type { Authorization } from '@mesh/api/istio.security';
import { ZtunnelState } from './state.js';

export const ipBytes = (ip: string) => Uint8Array.from(ip.split('.').map(Number));

export function workload(o: {
  name: string;
  namespace?: string;
  ip: string;
  sa?: string;
  node?: string;
  services?: Record<string, [number, number][]>;
  waypoint?: GatewayAddress;
  hbone?: boolean;
  policies?: string[];
  healthy?: boolean;
}): { name: string; resource: Address } {
  const ns = o.namespace ?? 'shop';
  const uid = `Kubernetes//Pod/${ns}/${o.name}`;
  return {
    name: uid,
    resource: {
      workload: {
        uid,
        name: o.name,
        namespace: ns,
        addresses: [ipBytes(o.ip)],
        serviceAccount: o.sa === 'default' ? '' : (o.sa ?? o.name.replace(/-\d+$/, '')),
        node: o.node ?? 'node-a',
        tunnelProtocol: o.hbone === false ? 0 : 1,
        workloadName: o.name,
        canonicalName: o.name.replace(/-\d+$/, ''),
        canonicalRevision: 'latest',
        clusterId: 'Kubernetes',
        status: o.healthy === false ? 1 : 0,
        authorizationPolicies: o.policies ?? [],
        services: Object.fromEntries(
          Object.entries(o.services ?? {}).map(([k, ports]) => [
            k,
            { ports: ports.map(([servicePort, targetPort]) => ({ servicePort, targetPort, appProtocol: 0 })) },
          ]),
        ),
        ...(o.waypoint ? { waypoint: o.waypoint } : {}),
      } as never,
    },
  };
}

export function service(o: {
  name: string;
  namespace?: string;
  vip: string;
  ports: [number, number][];
  waypoint?: GatewayAddress;
  sans?: string[];
}): { name: string; resource: Address } {
  const ns = o.namespace ?? 'shop';
  const hostname = `${o.name}.${ns}.svc.cluster.local`;
  return {
    name: `${ns}/${hostname}`,
    resource: {
      service: {
        name: o.name,
        namespace: ns,
        hostname,
        addresses: [{ network: '', address: ipBytes(o.vip) }],
        ports: o.ports.map(([servicePort, targetPort]) => ({ servicePort, targetPort, appProtocol: 0 })),
        subjectAltNames: o.sans ?? [],
        ...(o.waypoint ? { waypoint: o.waypoint } : {}),
      } as never,
    },
  };
}

export const hostnameGateway = (ns: string, name: string): GatewayAddress =>
  ({
    hostname: { namespace: ns, hostname: `${name}.${ns}.svc.cluster.local` },
    hboneMtlsPort: 15008,
  }) as GatewayAddress;

/** A DENY (action 1) of one principal, namespace-wide (scope 1). */
export function denyPrincipal(
  name: string,
  namespace: string,
  principal: string,
): { name: string; resource: Authorization } {
  return {
    name: `${namespace}/${name}`,
    resource: {
      name,
      namespace,
      scope: 1,
      action: 1,
      rules: [{ clauses: [{ matches: [{ principals: [{ exact: principal }] }] }] }],
    } as never,
  };
}

export function stateOf(addresses: { name: string; resource: Address }[]): ZtunnelState {
  const state = new ZtunnelState();
  state.applyAddresses(addresses, []);
  return state;
}
