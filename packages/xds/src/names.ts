// Naming rules shared by istiod and ztunnel: IP text forms, Address resource names and aliases, Istio node ids.
import type { Address, Service, Workload } from '@mesh/api/istio.workload';
import { XdsError } from './errors.js';

/**
 * The text form of a raw IP address (4 or 16 bytes), as Go's `netip.Addr.String()` writes it: dotted IPv4, RFC 5952
 * IPv6 (lower case, the longest run of two or more zero groups compressed), and `::ffff:a.b.c.d` for IPv4-mapped.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new XdsError('ERR_XDS_INVALID_RESOURCE', `an IP address has 4 or 16 bytes, not ${bytes.length}`, {
      details: { length: bytes.length },
    });
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** The xDS name of a Workload: its `uid`. */
export function workloadResourceName(workload: Pick<Workload, 'uid'>): string {
  return workload.uid;
}

/** The xDS name of a Service: `<namespace>/<hostname>`. */
export function serviceResourceName(service: Pick<Service, 'namespace' | 'hostname'>): string {
  return `${service.namespace}/${service.hostname}`;
}

/**
 * The name istiod gives an `istio.workload.Address`: the workload's uid, or `<namespace>/<hostname>` for a service.
 * Empty when the Address holds neither.
 */
export function addressResourceName(address: Address): string {
  if (address.workload) return workloadResourceName(address.workload);
  if (address.service) return serviceResourceName(address.service);
  return '';
}

/** `<network>/<ip>` for each address of a workload (the keys ztunnel looks workloads up by). */
export function workloadAliases(workload: Pick<Workload, 'network' | 'addresses'>): string[] {
  return workload.addresses.map((ip) => `${workload.network}/${formatIp(ip)}`);
}

/** `<network>/<vip>` for each virtual IP of a service. */
export function serviceAliases(service: Pick<Service, 'addresses'>): string[] {
  return service.addresses.map((a) => `${a.network}/${formatIp(a.address)}`);
}

/** The aliases istiod advertises for an Address in delta xDS (`Resource.aliases`). */
export function addressAliases(address: Address): string[] {
  if (address.workload) return workloadAliases(address.workload);
  if (address.service) return serviceAliases(address.service);
  return [];
}

/** The parts of an Istio proxy node id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`. */
export interface IstioNodeId {
  /** `sidecar`, `router`, `waypoint`, `ztunnel` or `agentgateway`. */
  type: string;
  ip: string;
  /** The third part: `<pod>.<namespace>`. */
  id: string;
  /** The fourth part: `<namespace>.svc.cluster.local`. */
  dnsDomain: string;
}

const NODE_TYPES = new Set(['sidecar', 'router', 'waypoint', 'ztunnel', 'agentgateway']);

/** Builds the node id an Istio proxy sends, e.g. `ztunnel~10.0.0.5~ztunnel-x.istio-system~istio-system.svc.cluster.local`. */
export function istioNodeId(options: {
  type: string;
  ip: string;
  podName: string;
  namespace: string;
  /** Default `cluster.local`. */
  clusterDomain?: string;
}): string {
  const domain = options.clusterDomain ?? 'cluster.local';
  return `${options.type}~${options.ip}~${options.podName}.${options.namespace}~${options.namespace}.svc.${domain}`;
}

/**
 * Splits an Istio node id into its four parts, as istiod does: exactly four `~`-separated parts and a known type.
 * @throws XdsError ERR_XDS_PROTOCOL when the id does not have that shape.
 */
export function parseIstioNodeId(nodeId: string): IstioNodeId {
  const parts = nodeId.split('~');
  if (parts.length !== 4) {
    throw new XdsError('ERR_XDS_PROTOCOL', `node id "${nodeId}" does not have the 4 parts TYPE~IP~ID~DOMAIN`, {
      details: { nodeId },
    });
  }
  const [type, ip, id, dnsDomain] = parts as [string, string, string, string];
  if (!NODE_TYPES.has(type)) {
    throw new XdsError('ERR_XDS_PROTOCOL', `node id "${nodeId}" has an unknown proxy type "${type}"`, {
      details: { nodeId, type },
    });
  }
  return { type, ip, id, dnsDomain };
}
