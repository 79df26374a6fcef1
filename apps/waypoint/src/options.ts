// The waypoint's flags: one table from which the commander program, --help and the typed options are made. A flag
// wins over its environment variable, the variable over the default. A supervisor (meshctl up) spawns
// `waypoint --waypoint <ns>/<name> --listen <ip>:15008 --admin <ip>:15000 --xds-address … --token-file … --root-cert …`.
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import { parseDuration } from '@mesh/l7';
import { WaypointError } from './errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface WaypointOptions {
  /** `<namespace>/<name>` of the waypoint Gateway. */
  namespace: string;
  name: string;
  /** File mode: a directory of Kubernetes/Istio YAML (as istiod reads it), watched live. */
  configDir: string | undefined;
  /** xDS mode: istiod's TLS xDS + CA address. */
  xdsAddress: string | undefined;
  /** Our certificate from files (cert-chain.pem, key.pem, root-cert.pem); otherwise from the CA with the token. */
  certDir: string | undefined;
  tokenFile: string | undefined;
  rootCert: string | undefined;
  caAddress: string | undefined;
  istiodServerName: string;
  clusterId: string;
  /** HBONE listener (Istio: 15008). */
  listen: ListenAddress;
  /** Admin/metrics HTTP (Envoy's 15000). null: off. */
  admin: ListenAddress | null;
  /** Port of the HBONE servers in front of destination pods (ztunnel inbound: 15008). */
  upstreamHbonePort: number;
  /** File mode's mesh settings (xDS mode takes them from the Waypoint resource). */
  trustDomain: string;
  domainSuffix: string;
  rootNamespace: string;
  /** Our own address, for the node id and logs. */
  ip: string;
  logLevel: LogLevel;
  accessLog: boolean;
  otlpEndpoint: string | undefined;
  drainTimeoutMs: number;
  configDebounceMs: number;
}

interface Spec {
  flags: string;
  env: string;
  description: string;
  default?: string;
  choices?: string[];
}

export const OPTION_SPECS: readonly Spec[] = [
  {
    flags: '--waypoint <namespace/name>',
    env: 'WAYPOINT',
    description: 'the waypoint Gateway (gatewayClassName istio-waypoint) this process runs, as <namespace>/<name>',
  },
  {
    flags: '--config-dir <dir>',
    env: 'WAYPOINT_CONFIG_DIR',
    description: 'read config from a YAML file or a directory of them (as istiod does) instead of istiod; watched live',
  },
  {
    flags: '--xds-address <host:port>',
    env: 'XDS_ADDRESS',
    description: "istiod's TLS xDS address (Istio: istiod.istio-system.svc:15012)",
  },
  {
    flags: '--cert-dir <dir>',
    env: 'WAYPOINT_CERT_DIR',
    description:
      'our identity from files: cert-chain.pem, key.pem, root-cert.pem (meshctl ca issue --out <dir>/); otherwise the CA issues one',
  },
  {
    flags: '--token-file <file>',
    env: 'TOKEN_FILE',
    description: "the waypoint service account's token (meshctl token create), for xDS and the CA; re-read per use",
  },
  { flags: '--root-cert <file>', env: 'ROOT_CERT', description: "the mesh root (verifies istiod and peers' SVIDs)" },
  {
    flags: '--ca-address <host:port>',
    env: 'CA_ADDRESS',
    description: 'the CA (default: --xds-address)',
  },
  {
    flags: '--istiod-server-name <name>',
    env: 'ISTIOD_SAN',
    default: 'istiod.istio-system.svc',
    description: "the name in istiod's serving certificate",
  },
  { flags: '--cluster-id <id>', env: 'CLUSTER_ID', default: 'Kubernetes', description: 'sent as clusterid to istiod' },
  {
    flags: '--listen <addr>',
    env: 'WAYPOINT_LISTEN',
    default: '0.0.0.0:15008',
    description: 'HBONE listener, ip:port',
  },
  {
    flags: '--admin <addr>',
    env: 'WAYPOINT_ADMIN',
    default: '127.0.0.1:15000',
    description: "admin HTTP: /ready, /metrics (/stats/prometheus), /config_dump, /logging; 'off' disables",
  },
  {
    flags: '--upstream-hbone-port <port>',
    env: 'UPSTREAM_HBONE_PORT',
    default: '15008',
    description: 'HBONE port of destination pods (their ztunnel inbound)',
  },
  {
    flags: '--trust-domain <td>',
    env: 'TRUST_DOMAIN',
    default: 'cluster.local',
    description: 'file mode: trust domain',
  },
  { flags: '--domain <suffix>', env: 'DOMAIN_SUFFIX', default: 'cluster.local', description: 'file mode: DNS suffix' },
  {
    flags: '--root-namespace <ns>',
    env: 'ROOT_NAMESPACE',
    default: 'istio-system',
    description: 'file mode: root namespace',
  },
  { flags: '--ip <ip>', env: 'INSTANCE_IP', description: 'our address for the node id (default: the --listen host)' },
  {
    flags: '--log-level <level>',
    env: 'LOG_LEVEL',
    default: 'info',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    description: 'level of the JSON logs on stdout (change live: POST /logging?level=debug)',
  },
  {
    flags: '--access-log <bool>',
    env: 'ACCESS_LOG',
    default: 'true',
    choices: ['true', 'false'],
    description: 'one access-log line per request on stdout',
  },
  {
    flags: '--otlp-endpoint <url>',
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    description: 'export spans as OTLP/HTTP JSON to this URL (e.g. http://127.0.0.1:4318/v1/traces)',
  },
  {
    flags: '--drain-timeout <duration>',
    env: 'TERMINATION_DRAIN_DURATION',
    default: '5s',
    description: 'on SIGTERM/SIGINT, how long open requests get before connections are cut',
  },
  {
    flags: '--config-debounce <duration>',
    env: 'WAYPOINT_CONFIG_DEBOUNCE',
    default: '100ms',
    description: 'file mode: quiet period after the last file event before the directory is re-read',
  },
];

export function addWaypointOptions(command: Command): Command {
  for (const spec of OPTION_SPECS) {
    const option = new Option(spec.flags, spec.description).env(spec.env);
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.choices) option.choices(spec.choices);
    command.addOption(option);
  }
  return command;
}

const bad = (flag: string, why: string) =>
  new WaypointError('ERR_WAYPOINT_INVALID_FLAG', `--${flag}: ${why}`, { details: { flag } });

/** `host:port`, `:port`, `[v6]:port`, or off. */
export function parseListenAddress(text: string, flag: string): ListenAddress | null {
  const value = text.trim();
  if (value === '' || value === 'off') return null;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !(port >= 0 && port <= 65_535)) throw bad(flag, `${JSON.stringify(text)} is not host:port or off`);
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(match[1]) !== 6) throw bad(flag, `${match[1]} is not an IPv6 address`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function duration(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw bad(flag, (error as Error).message);
  }
}

export function resolveOptions(raw: Record<string, string | undefined>): WaypointOptions {
  const get = (flag: string) => raw[flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] ?? '';
  const ref = get('waypoint');
  const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/.exec(ref);
  if (!m) throw bad('waypoint', `${JSON.stringify(ref)} is not <namespace>/<name>`);
  const configDir = get('config-dir') || undefined;
  const xdsAddress = get('xds-address') || undefined;
  if (!configDir === !xdsAddress) throw bad('config-dir', 'give exactly one of --config-dir and --xds-address');
  const certDir = get('cert-dir') || undefined;
  const tokenFile = get('token-file') || undefined;
  if (!certDir && !(tokenFile && (get('ca-address') || xdsAddress)))
    throw bad('cert-dir', 'give --cert-dir, or --token-file with --xds-address (or --ca-address) for the CA');
  if (xdsAddress && !tokenFile) throw bad('token-file', 'istiod needs a token for the waypoint service account');
  if (!certDir && !get('root-cert')) throw bad('root-cert', 'the CA and istiod are verified with the mesh root');
  const listen = parseListenAddress(get('listen'), 'listen');
  if (!listen) throw bad('listen', 'the HBONE listener cannot be off');
  const upstreamHbonePort = Number(get('upstream-hbone-port'));
  if (!Number.isInteger(upstreamHbonePort) || upstreamHbonePort < 1 || upstreamHbonePort > 65_535)
    throw bad('upstream-hbone-port', 'not a port');
  return {
    namespace: m[1]!,
    name: m[2]!,
    configDir,
    xdsAddress,
    certDir,
    tokenFile,
    rootCert: get('root-cert') || undefined,
    caAddress: get('ca-address') || xdsAddress,
    istiodServerName: get('istiod-server-name'),
    clusterId: get('cluster-id'),
    listen,
    admin: parseListenAddress(get('admin'), 'admin'),
    upstreamHbonePort,
    trustDomain: get('trust-domain'),
    domainSuffix: get('domain'),
    rootNamespace: get('root-namespace'),
    ip: get('ip') || (listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host),
    logLevel: (get('log-level') || 'info') as LogLevel,
    accessLog: get('access-log') !== 'false',
    otlpEndpoint: get('otlp-endpoint') || undefined,
    drainTimeoutMs: duration(get('drain-timeout'), 'drain-timeout'),
    configDebounceMs: duration(get('config-debounce'), 'config-debounce'),
  };
}

export const HELP_FOOTER = `
Config: --config-dir <dir> (file mode: the same YAML istiod reads) or --xds-address (istiod, delta xDS).
Identity: --cert-dir (files) or the CA at --ca-address/--xds-address with --token-file and --root-cert.
Admin: GET /ready, /metrics, /stats/prometheus, /config_dump, /logging (POST ?level=debug), /healthz.
Signals: SIGTERM/SIGINT stop accepting, drain open requests within --drain-timeout, exit 0.
`;

export function createCommand(): Command {
  return addWaypointOptions(
    new Command('waypoint').description('The L7 proxy of a namespace or service (HBONE in, HBONE out).'),
  ).addHelpText('after', HELP_FOOTER);
}
