// ztunnel's flags and environment variables (Istio's names where ztunnel has one: CA_ADDRESS, XDS_ADDRESS,
// CLUSTER_ID, NODE_NAME, INSTANCE_IP, SECRET_TTL, ...). A flag wins over its variable; the variable over the default.
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import { parseDuration } from '@mesh/ca';
import { ZtunnelError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export interface ZtunnelOptions {
  nodeName: string;
  /** The node's address: admin, metrics and readiness listen here. */
  nodeIp: string;
  xdsAddress: string;
  caAddress: string;
  rootCertFile: string;
  /** The name istiod's serving certificate is checked against. */
  istiodHostname: string;
  tokenFile: string;
  clusterId: string;
  podName: string;
  podNamespace: string;
  adminPort: number;
  metricsPort: number;
  readinessPort: number;
  certTtlMs: number;
  drainTimeoutMs: number;
  maxConnectionsPerPod: number;
  socksHandshakeTimeoutMs: number;
  connectTimeoutMs: number;
  logLevel: LogLevel;
  /** Config from local YAML instead of istiod (files or directories). */
  localConfig: string[];
  /** Certificates from this cacerts directory instead of istiod's CA (local mode). */
  localCaDir: string | undefined;
  trustDomain: string;
}

interface Spec {
  flags: string;
  env: string;
  description: string;
  default?: string;
  choices?: readonly string[];
}

export const OPTION_SPECS: readonly Spec[] = [
  {
    flags: '--node-name <name>',
    env: 'NODE_NAME',
    description: 'the node this ztunnel serves: it proxies the pods whose spec.nodeName is this (required)',
  },
  {
    flags: '--node-ip <ip>',
    env: 'INSTANCE_IP',
    description: "the node's address (its InternalIP): admin, metrics and readiness listen on it (required)",
  },
  {
    flags: '--xds-address <host:port>',
    env: 'XDS_ADDRESS',
    default: 'istiod.istio-system.svc:15012',
    description: "istiod's TLS gRPC port: delta xDS (Address, Authorization)",
  },
  {
    flags: '--ca-address <host:port>',
    env: 'CA_ADDRESS',
    description: "the CA (default: the xDS address; istiod's 15012)",
  },
  {
    flags: '--root-cert <file>',
    env: 'XDS_ROOT_CA',
    default: './var/run/secrets/istio/root-cert.pem',
    description:
      "istiod's root certificate (istio-ca-root-cert), to verify the xDS and CA connections; re-read on each connect",
  },
  {
    flags: '--istiod-hostname <name>',
    env: 'ALT_XDS_HOSTNAME',
    default: 'istiod.istio-system.svc',
    description: "the name istiod's serving certificate must carry (checked instead of the address's host)",
  },
  {
    flags: '--token-file <file>',
    env: 'AUTH_TOKEN',
    default: './var/run/secrets/tokens/istio-token',
    description:
      'service account token for xDS and the CA (meshctl token create --sa istio-system/ztunnel --node <node>); re-read on each call',
  },
  { flags: '--cluster-id <id>', env: 'CLUSTER_ID', default: 'Kubernetes', description: 'sent as the clusterid header' },
  {
    flags: '--pod-name <name>',
    env: 'POD_NAME',
    description: "ztunnel's own pod name in its xDS node id (default ztunnel-<node>)",
  },
  { flags: '--pod-namespace <ns>', env: 'POD_NAMESPACE', default: 'istio-system', description: "ztunnel's namespace" },
  {
    flags: '--admin-port <port>',
    env: 'ADMIN_PORT',
    default: '15000',
    description: 'admin: /config_dump, /logging, /quitquitquit',
  },
  {
    flags: '--metrics-port <port>',
    env: 'STATS_PORT',
    default: '15020',
    description: 'Prometheus: /metrics, /stats/prometheus',
  },
  {
    flags: '--readiness-port <port>',
    env: 'READINESS_PORT',
    default: '15021',
    description: 'readiness: /healthz/ready',
  },
  {
    flags: '--cert-ttl <duration>',
    env: 'SECRET_TTL',
    default: '24h',
    description: 'requested workload certificate lifetime (renewed at half-life)',
  },
  {
    flags: '--drain-timeout <duration>',
    env: 'TERMINATION_GRACE_PERIOD',
    default: '5s',
    description: 'on SIGTERM/SIGINT, how long open connections get to finish before they are cut',
  },
  {
    flags: '--max-connections-per-pod <n>',
    env: 'MAX_CONNECTIONS_PER_POD',
    default: '4096',
    description:
      'concurrent connections accepted per pod listener (SOCKS5 and HBONE each); more wait in the kernel backlog',
  },
  {
    flags: '--socks5-handshake-timeout <duration>',
    env: 'SOCKS5_HANDSHAKE_TIMEOUT',
    default: '10s',
    description: 'a SOCKS5 client must complete its request within this time',
  },
  {
    flags: '--connect-timeout <duration>',
    env: 'CONNECT_TIMEOUT',
    default: '10s',
    description: 'outbound and app connect timeout',
  },
  {
    flags: '--local-config <paths>',
    env: 'LOCAL_XDS_PATH',
    description:
      'run without istiod: Kubernetes/Istio YAML files or directories (comma-separated), turned into workloads and policies by the same ambient index istiod uses, followed live',
  },
  {
    flags: '--local-ca-dir <dir>',
    env: 'LOCAL_CA_DIR',
    description:
      'with --local-config: sign workload certificates with this cacerts directory (default: a throwaway in-memory CA)',
  },
  {
    flags: '--trust-domain <domain>',
    env: 'TRUST_DOMAIN',
    default: 'cluster.local',
    description: 'trust domain of the local CA',
  },
  {
    flags: '--log-level <level>',
    env: 'LOG_LEVEL',
    default: 'info',
    choices: LOG_LEVELS,
    description: 'log level (JSON logs on stdout)',
  },
];

export const HELP_FOOTER = `
Every flag can also be set with the environment variable shown next to it; a flag wins over its variable.

Pod network: loopback. Each local pod (status.podIP, a 127.0.0.0/8 address) gets HBONE inbound on <podIP>:15008 and a
SOCKS5 outbound port on <podIP>:15080 (curl --socks5 <podIP>:15080 http://<service VIP>/).
Node ports on --node-ip: 15000 admin (GET /config_dump, POST /logging?level=, POST /quitquitquit), 15020 metrics,
15021 readiness (GET /healthz/ready: ready after the first xDS state and every local pod's certificate).
Signals: SIGTERM/SIGINT drain (listeners closed, open connections get --drain-timeout) and exit 0.
`;

export function createCommand(): Command {
  const command = new Command('ztunnel')
    .description(
      'The per-node zero-trust L4 proxy of the ambient mesh: HBONE, SPIFFE identities, L4 policy, telemetry.',
    )
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', HELP_FOOTER)
    .allowExcessArguments(false);
  for (const spec of OPTION_SPECS) {
    const option = new Option(spec.flags, spec.description).env(spec.env);
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.choices) option.choices(spec.choices);
    command.addOption(option);
  }
  return command;
}

const bad = (flag: string, why: string) =>
  new ZtunnelError('ERR_ZTUNNEL_INVALID_FLAG', `--${flag}: ${why}`, { details: { flag } });

function duration(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw bad(flag, (error as Error).message);
  }
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65_535) throw bad(flag, `${JSON.stringify(text)} is not a port`);
  return n;
}

export function resolveOptions(raw: Record<string, string | undefined>): ZtunnelOptions {
  const get = (flag: string) => raw[flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())] ?? '';
  const nodeName = get('node-name');
  if (!nodeName) throw bad('node-name', 'required (NODE_NAME)');
  const nodeIp = get('node-ip');
  if (!isIP(nodeIp)) throw bad('node-ip', `${JSON.stringify(nodeIp)} is not an IP address (INSTANCE_IP)`);
  const xdsAddress = get('xds-address');
  const max = Number(get('max-connections-per-pod'));
  if (!Number.isInteger(max) || max < 1) throw bad('max-connections-per-pod', 'must be a positive integer');
  return {
    nodeName,
    nodeIp,
    xdsAddress,
    caAddress: get('ca-address') || xdsAddress,
    rootCertFile: get('root-cert'),
    istiodHostname: get('istiod-hostname'),
    tokenFile: get('token-file'),
    clusterId: get('cluster-id'),
    podName: get('pod-name') || `ztunnel-${nodeName}`,
    podNamespace: get('pod-namespace'),
    adminPort: port(get('admin-port'), 'admin-port'),
    metricsPort: port(get('metrics-port'), 'metrics-port'),
    readinessPort: port(get('readiness-port'), 'readiness-port'),
    certTtlMs: duration(get('cert-ttl'), 'cert-ttl'),
    drainTimeoutMs: duration(get('drain-timeout'), 'drain-timeout'),
    maxConnectionsPerPod: max,
    socksHandshakeTimeoutMs: duration(get('socks5-handshake-timeout'), 'socks5-handshake-timeout'),
    connectTimeoutMs: duration(get('connect-timeout'), 'connect-timeout'),
    logLevel: (get('log-level') || 'info') as LogLevel,
    localConfig: get('local-config')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    localCaDir: get('local-ca-dir') || undefined,
    trustDomain: get('trust-domain') || 'cluster.local',
  };
}
