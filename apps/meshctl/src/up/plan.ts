// What `meshctl up` runs for a config directory, as data: the nodes (Node objects with an InternalIP in
// 127.0.0.0/8), the pods on them, and one process spec per program. Pure: no I/O, so the rules are unit-tested.
import type { ConfigObject, Node, Pod } from '@mesh/config';
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

export interface MeshPlan {
  nodes: MeshNode[];
  pods: MeshPod[];
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
  return { nodes, pods, warnings };
}

export interface UpPaths {
  configDir: string;
  caDir: string;
  tokenFile(node: string): string;
  logFile(name: string): string;
  istiodBin: string;
  ztunnelBin: string;
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
      paths.configDir,
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

/**
 * The built-in providers. Waypoints (issue 11) plug in here: a provider returning one spec per Gateway of class
 * istio-waypoint (tier 2, readyMessage of the waypoint program) is all `meshctl up` needs.
 */
export const defaultProviders: readonly ProcessProvider[] = [istiodProvider, ztunnelProvider];
