// What `meshctl up` runs for a config directory, as data: the nodes (Node objects with an InternalIP in
// 127.0.0.0/8), the pods on them, and one process spec per program. Pure: no I/O, so the rules are unit-tested.
import type { ConfigObject, Gateway, Node, Pod } from '@mesh/config';
import type { ProcessSpec } from './supervisor.js';

export interface MeshNode {
  name: string;
  ip: string;
}

export interface MeshPod {
  namespace: string;
  name: string;
  node: string | undefined;
  ip: string | undefined;
  serviceAccount: string;
}

/** A Gateway of class istio-waypoint, run by `meshctl up` as a waypoint process on its own loopback address. */
export interface MeshWaypoint {
  namespace: string;
  name: string;
  ip: string;
  /** Where the address comes from: the Gateway's status or spec addresses, or allocated from its name. */
  addressFrom: 'status' | 'spec' | 'allocated';
}

export interface MeshPlan {
  nodes: MeshNode[];
  pods: MeshPod[];
  waypoints: MeshWaypoint[];
  /** Problems that do not stop the mesh (a Node without a loopback InternalIP, a pod on an unknown node). */
  warnings: string[];
}

const isLoopbackV4 = (ip: string) => /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(ip);

export function planMesh(objects: readonly ConfigObject[]): MeshPlan {
  const warnings: string[] = [];
  const nodes: MeshNode[] = [];
  for (const o of objects) {
    if (o.resource.kind !== 'Node') continue;
    const node = o.resource as Node;
    const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!ip) warnings.push(`Node ${node.metadata.name} has no InternalIP address: no ztunnel for it`);
    else if (!isLoopbackV4(ip))
      warnings.push(
        `Node ${node.metadata.name}: InternalIP ${ip} is not in 127.0.0.0/8 (the local mesh is loopback only): no ztunnel for it`,
      );
    else nodes.push({ name: node.metadata.name, ip });
  }
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  const known = new Set(nodes.map((n) => n.name));
  const pods: MeshPod[] = [];
  for (const o of objects) {
    if (o.resource.kind !== 'Pod') continue;
    const pod = o.resource as Pod;
    const p: MeshPod = {
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
      node: pod.spec?.nodeName,
      ip: pod.status?.podIP,
      serviceAccount: pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default',
    };
    if (p.node && !known.has(p.node))
      warnings.push(`Pod ${p.namespace}/${p.name} is on node ${p.node}, which has no ztunnel`);
    if (p.ip && !isLoopbackV4(p.ip)) warnings.push(`Pod ${p.namespace}/${p.name}: podIP ${p.ip} is not in 127.0.0.0/8`);
    pods.push(p);
  }
  pods.sort((a, b) => `${a.node}/${a.namespace}/${a.name}`.localeCompare(`${b.node}/${b.namespace}/${b.name}`));
  const waypoints = planWaypoints(
    objects,
    [...nodes.map((n) => n.ip), ...pods.flatMap((p) => (p.ip ? [p.ip] : []))],
    warnings,
  );
  return { nodes, pods, waypoints, warnings };
}

export const WAYPOINT_CLASS = 'istio-waypoint';

/** 32-bit FNV-1a: a stable hash of the waypoint's name for its allocated address. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * One waypoint per Gateway of class istio-waypoint, except manually deployed ones (a Hostname in spec.addresses).
 * Its address: an IPAddress in 127.0.0.0/8 from the Gateway's
 * `status.addresses`, else from `spec.addresses` (the Gateway API's way to ask for one), else allocated in
 * 127.255.0.0/16 from a hash of `<namespace>/<name>` (stable across restarts and unaffected by other Gateways),
 * probing past addresses a node, pod or other waypoint already has.
 */
function planWaypoints(objects: readonly ConfigObject[], taken: string[], warnings: string[]): MeshWaypoint[] {
  const gateways = objects
    .filter((o) => o.resource.kind === 'Gateway')
    .map((o) => o.resource as Gateway)
    .filter((g) => g.spec?.gatewayClassName === WAYPOINT_CLASS)
    // A Hostname in spec.addresses is Istio's manual deployment (the Gateway names a Service someone else runs):
    // the deployment controller, here meshctl up, leaves it alone.
    .filter((g) => !g.spec.addresses?.some((a) => a.type === 'Hostname'))
    .map((g) => ({ namespace: g.metadata.namespace ?? 'default', name: g.metadata.name, gateway: g }))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const used = new Set(taken);
  const services = new Set(
    objects
      .filter((o) => o.resource.kind === 'Service')
      .map((o) => `${o.resource.metadata?.namespace ?? 'default'}/${o.resource.metadata?.name}`),
  );
  for (const g of gateways)
    if (services.has(`${g.namespace}/${g.name}`))
      warnings.push(
        `Service ${g.namespace}/${g.name} has the name of waypoint Gateway ${g.namespace}/${g.name}: the mesh takes it for the waypoint's own Service (what Istio's deployment controller creates), so nothing it serves goes through a waypoint; rename it`,
      );
  const out: MeshWaypoint[] = [];
  const pending: typeof gateways = [];
  // Explicit addresses first, so an allocated one never takes an address a Gateway asks for.
  for (const g of gateways) {
    const pick = (list: { type?: string; value: string }[] | undefined) =>
      list?.find((a) => (a.type === undefined || a.type === 'IPAddress') && isLoopbackV4(a.value))?.value;
    const status = pick(g.gateway.status?.addresses);
    const spec = pick(g.gateway.spec.addresses);
    const ip = status ?? spec;
    if (ip) {
      if (used.has(ip))
        warnings.push(`waypoint ${g.namespace}/${g.name}: address ${ip} is already used by a node, pod or waypoint`);
      used.add(ip);
      out.push({ namespace: g.namespace, name: g.name, ip, addressFrom: status ? 'status' : 'spec' });
    } else pending.push(g);
  }
  for (const g of pending) {
    let n = fnv1a(`${g.namespace}/${g.name}`) % (256 * 254);
    let ip = '';
    for (let tries = 0; tries < 256 * 254; tries++, n = (n + 1) % (256 * 254)) {
      ip = `127.255.${Math.floor(n / 254)}.${(n % 254) + 1}`;
      if (!used.has(ip)) break;
    }
    used.add(ip);
    out.push({ namespace: g.namespace, name: g.name, ip, addressFrom: 'allocated' });
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/**
 * The objects Istio's deployment controller would create for each waypoint, as `meshctl up` writes them for istiod:
 * a Pod at the waypoint's address with the Gateway's name as service account (its identity) and Ready following the
 * process's readiness (so ztunnels refuse, loudly, while it is down), opted out of capture (Istio's waypoint template
 * does the same: ztunnel must not take the waypoint's own 15008), and a headless Service named after the Gateway
 * (the hostname istiod gives as the waypoint's address when the Gateway has no status address).
 */
export function waypointObjects(waypoints: readonly MeshWaypoint[], ready: (w: MeshWaypoint) => boolean): object[] {
  return waypoints.flatMap((w) => {
    const labels = {
      'gateway.networking.k8s.io/gateway-name': w.name,
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
      'istio.io/dataplane-mode': 'none',
      'service.istio.io/canonical-name': w.name,
    };
    return [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${w.name}-waypoint`, namespace: w.namespace, labels },
        spec: {
          serviceAccountName: w.name,
          containers: [{ name: 'waypoint', ports: [{ name: 'mesh', containerPort: 15008 }] }],
        },
        status: {
          phase: 'Running',
          podIP: w.ip,
          conditions: [{ type: 'Ready', status: ready(w) ? 'True' : 'False' }],
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: w.name,
          namespace: w.namespace,
          labels: { 'gateway.networking.k8s.io/gateway-name': w.name },
        },
        spec: {
          clusterIP: 'None',
          selector: { 'gateway.networking.k8s.io/gateway-name': w.name },
          ports: [{ name: 'mesh', port: 15008, targetPort: 15008 }],
        },
      },
    ];
  });
}

export interface UpPaths {
  configDir: string;
  caDir: string;
  tokenFile(node: string): string;
  /** The service account token of a waypoint (`<namespace>/<name>`). */
  waypointTokenFile(namespace: string, name: string): string;
  logFile(name: string): string;
  /** Where meshctl up writes the waypoint Pods/Services (istiod reads it next to the config directory). */
  generatedDir: string;
  istiodBin: string;
  ztunnelBin: string;
  waypointBin: string;
}

export interface UpAddresses {
  /** host:port of istiod's plaintext gRPC, TLS gRPC and monitoring listeners. */
  grpc: string;
  secureGrpc: string;
  monitoring: string;
}

export interface UpOptions {
  logLevel: string;
  certTtl: string | undefined;
  drainTimeout: string;
}

/** A provider turns the plan into process specs; istiod and ztunnels are the built-in ones. */
export type ProcessProvider = (plan: MeshPlan, paths: UpPaths, addr: UpAddresses, options: UpOptions) => ProcessSpec[];

export const istiodProvider: ProcessProvider = (_plan, paths, addr, options) => [
  {
    name: 'istiod',
    command: process.execPath,
    args: [
      paths.istiodBin,
      '--config-dir',
      `${paths.configDir},${paths.generatedDir}`,
      '--ca-dir',
      paths.caDir,
      '--grpc-addr',
      addr.grpc,
      '--secure-grpc-addr',
      addr.secureGrpc,
      '--monitoring-addr',
      addr.monitoring,
      '--config-debounce',
      '50ms',
      '--log-level',
      options.logLevel,
      ...(options.certTtl ? ['--workload-cert-ttl', options.certTtl] : []),
    ],
    readyMessage: 'istiod ready',
    logFile: paths.logFile('istiod'),
    tier: 0,
  },
];

export const ztunnelProvider: ProcessProvider = (plan, paths, addr, options) =>
  plan.nodes.map((node) => ({
    name: `ztunnel/${node.name}`,
    command: process.execPath,
    args: [
      paths.ztunnelBin,
      '--node-name',
      node.name,
      '--node-ip',
      node.ip,
      '--xds-address',
      addr.secureGrpc,
      '--root-cert',
      `${paths.caDir}/root-cert.pem`,
      '--token-file',
      paths.tokenFile(node.name),
      '--log-level',
      options.logLevel,
      '--drain-timeout',
      options.drainTimeout,
      ...(options.certTtl ? ['--cert-ttl', options.certTtl] : []),
    ],
    readyMessage: 'ztunnel ready',
    logFile: paths.logFile(`ztunnel-${node.name}`),
    fingerprint: node.ip,
    tier: 1,
  }));

/** One waypoint process per Gateway of class istio-waypoint, config and certificate from istiod. */
export const waypointProvider: ProcessProvider = (plan, paths, addr, options) =>
  plan.waypoints.map((w) => ({
    name: `waypoint/${w.namespace}/${w.name}`,
    command: process.execPath,
    args: [
      paths.waypointBin,
      '--waypoint',
      `${w.namespace}/${w.name}`,
      '--listen',
      `${w.ip}:15008`,
      '--admin',
      `${w.ip}:15000`,
      '--xds-address',
      addr.secureGrpc,
      '--token-file',
      paths.waypointTokenFile(w.namespace, w.name),
      '--root-cert',
      `${paths.caDir}/root-cert.pem`,
      '--log-level',
      options.logLevel,
      '--drain-timeout',
      options.drainTimeout,
    ],
    readyMessage: 'waypoint ready',
    logFile: paths.logFile(`waypoint-${w.namespace}-${w.name}`),
    fingerprint: w.ip,
    tier: 2,
  }));

export const defaultProviders: readonly ProcessProvider[] = [istiodProvider, ztunnelProvider, waypointProvider];
