// istiod's flags and environment variables: one table, from which the commander program, --help and the typed
// options are made. A flag wins over its variable; the variable wins over the default (Istio's convention for the
// knobs it reads from the environment, such as CA_TRUSTED_NODE_ACCOUNTS and PILOT_DEBOUNCE_AFTER).
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import { parseDuration } from '@mesh/ca';
import { IstiodError } from './errors.js';

export interface ListenAddress {
  /** Host for bind(); `0.0.0.0` / `::` for all interfaces. */
  host: string;
  port: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface IstiodOptions {
  /** The YAML/JSON config directory; undefined runs the embedded default (an empty mesh). */
  configDir: string | undefined;
  caDir: string;
  /** Plaintext gRPC (xDS; development and proxyless clients). null: off. */
  grpcAddr: ListenAddress | null;
  /** TLS gRPC: xDS and the CA. null: off. */
  secureGrpcAddr: ListenAddress | null;
  /** HTTP: /metrics, /ready, /debug/*. null: off. */
  monitoringAddr: ListenAddress | null;
  trustDomain: string;
  clusterId: string;
  domainSuffix: string;
  network: string;
  rootNamespace: string;
  istiodNamespace: string;
  servingDnsNames: string[];
  tokenIssuers: string[];
  tokenAudiences: string[];
  jwksFile: string | undefined;
  trustedNodeAccounts: string[];
  caKeyType: 'ec' | 'rsa';
  workloadCertTtlMs: number;
  maxWorkloadCertTtlMs: number;
  xdsAuth: boolean;
  debounceAfterMs: number;
  debounceMaxMs: number;
  configDebounceMs: number;
  serviceCidr: string;
  logLevel: LogLevel;
  debugEndpoints: boolean;
  shutdownGraceMs: number;
}

interface Spec {
  flags: string;
  env: string;
  description: string;
  default?: string;
  choices?: string[];
}

/** Every flag, in --help order. Keep apps/istiod/README.md in step (a test compares them). */
export const OPTION_SPECS: readonly Spec[] = [
  {
    flags: '--config-dir <dir>',
    env: 'ISTIOD_CONFIG_DIR',
    description:
      'directory of Kubernetes/Istio YAML or JSON (read recursively, watched live; several: comma-separated); without it istiod serves the embedded default, an empty mesh',
  },
  {
    flags: '--ca-dir <dir>',
    env: 'ROOT_CA_DIR',
    default: './etc/cacerts',
    description:
      "CA material in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), created self-signed when empty or absent; also holds the service account token keys sa.key/sa.pub",
  },
  {
    flags: '--grpc-addr <addr>',
    env: 'ISTIOD_GRPC_ADDR',
    default: ':15010',
    description: "plaintext gRPC: xDS without authentication (development, proxyless gRPC); 'off' disables",
  },
  {
    flags: '--secure-grpc-addr <addr>',
    env: 'ISTIOD_SECURE_GRPC_ADDR',
    default: ':15012',
    description:
      "TLS gRPC: xDS and the CA (istio.v1.auth.IstioCertificateService), serving certificate for istiod.<ns>.svc; 'off' disables",
  },
  {
    flags: '--monitoring-addr <addr>',
    env: 'ISTIOD_MONITORING_ADDR',
    default: ':15014',
    description: "HTTP monitoring: /metrics, /ready, /version and the /debug views; 'off' disables",
  },
  {
    flags: '--trust-domain <domain>',
    env: 'TRUST_DOMAIN',
    default: 'cluster.local',
    description: 'the mesh trust domain (SPIFFE IDs spiffe://<domain>/ns/<ns>/sa/<sa>)',
  },
  {
    flags: '--cluster-id <id>',
    env: 'CLUSTER_ID',
    default: 'Kubernetes',
    description: 'cluster id in workload uids and Workload.cluster_id; the clusterid header of callers must match',
  },
  {
    flags: '--domain <suffix>',
    env: 'DOMAIN_SUFFIX',
    default: 'cluster.local',
    description: 'DNS domain of services (<name>.<ns>.svc.<suffix>)',
  },
  { flags: '--network <name>', env: 'NETWORK', default: '', description: 'network of every workload and VIP' },
  {
    flags: '--root-namespace <ns>',
    env: 'ROOT_NAMESPACE',
    default: 'istio-system',
    description: 'mesh config root namespace (mesh-wide policies)',
  },
  {
    flags: '--istiod-namespace <ns>',
    env: 'POD_NAMESPACE',
    default: 'istio-system',
    description: "istiod's own namespace: its serving certificate is for istiod.<ns>.svc",
  },
  {
    flags: '--serving-dns-names <names>',
    env: 'ISTIOD_CUSTOM_HOST',
    default: '',
    description: "extra DNS names of istiod's serving certificate, comma-separated",
  },
  {
    flags: '--token-issuer <issuers>',
    env: 'TOKEN_ISSUER',
    default: 'https://kubernetes.default.svc.cluster.local',
    description: 'accepted iss of bearer tokens, comma-separated',
  },
  {
    flags: '--token-audiences <audiences>',
    env: 'TOKEN_AUDIENCES',
    default: 'istio-ca',
    description: 'accepted aud of bearer tokens, comma-separated',
  },
  {
    flags: '--jwks-file <file>',
    env: 'JWKS_FILE',
    description:
      'extra token verification keys as a JWKS file (e.g. a cluster /openid/v1/jwks), next to <ca-dir>/sa.pub; re-read when it changes',
  },
  {
    flags: '--trusted-node-accounts <accounts>',
    env: 'CA_TRUSTED_NODE_ACCOUNTS',
    default: 'istio-system/ztunnel',
    description:
      'node agents that may request certificates for pods on their own node (<ns>/<sa>, comma-separated); empty disables impersonation',
  },
  {
    flags: '--ca-key-type <type>',
    env: 'CA_KEY_TYPE',
    default: 'ec',
    choices: ['ec', 'rsa'],
    description: 'key type of a self-signed root created in an empty --ca-dir (ec: P-256, rsa: 2048 bits)',
  },
  {
    flags: '--workload-cert-ttl <duration>',
    env: 'DEFAULT_WORKLOAD_CERT_TTL',
    default: '24h',
    description: 'lifetime of workload certificates when the request asks for none',
  },
  {
    flags: '--max-workload-cert-ttl <duration>',
    env: 'MAX_WORKLOAD_CERT_TTL',
    default: '90d',
    description: 'longest lifetime a request may ask for (longer requests fail)',
  },
  {
    flags: '--xds-auth <bool>',
    env: 'XDS_AUTH',
    default: 'true',
    choices: ['true', 'false'],
    description: 'require a valid token or client certificate for xDS on the TLS port',
  },
  {
    flags: '--debounce-after <duration>',
    env: 'PILOT_DEBOUNCE_AFTER',
    default: '10ms',
    description: 'quiet period before changes are pushed (pushes carry only the changed resources)',
  },
  {
    flags: '--debounce-max <duration>',
    env: 'PILOT_DEBOUNCE_MAX',
    default: '100ms',
    description: 'longest a push waits while changes keep coming',
  },
  {
    flags: '--config-debounce <duration>',
    env: 'ISTIOD_CONFIG_DEBOUNCE',
    default: '100ms',
    description: 'quiet period after the last file event before the config directory is re-read',
  },
  {
    flags: '--service-cidr <cidr>',
    env: 'SERVICE_CIDR',
    default: '10.96.0.0/12',
    description: 'range VIPs are allocated from for Services without spec.clusterIP',
  },
  {
    flags: '--log-level <level>',
    env: 'LOG_LEVEL',
    default: 'info',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    description: 'log level of the JSON logs on stdout',
  },
  {
    flags: '--debug-endpoints <bool>',
    env: 'ENABLE_DEBUG_ON_HTTP',
    default: 'true',
    choices: ['true', 'false'],
    description: 'serve the /debug views on the monitoring port',
  },
  {
    flags: '--shutdown-grace <duration>',
    env: 'TERMINATION_DRAIN_DURATION',
    default: '5s',
    description: 'on SIGTERM/SIGINT, how long open streams and calls get before connections are cut',
  },
];

const keyOf = (spec: Spec) =>
  spec.flags
    .slice(2, spec.flags.indexOf(' ') < 0 ? undefined : spec.flags.indexOf(' '))
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Adds every option to `command` (with its environment variable and default). */
export function addIstiodOptions(command: Command): Command {
  for (const spec of OPTION_SPECS) {
    const option = new Option(spec.flags, spec.description).env(spec.env);
    if (spec.default !== undefined) option.default(spec.default, spec.default === '' ? '""' : undefined);
    if (spec.choices) option.choices(spec.choices);
    command.addOption(option);
  }
  return command;
}

const bad = (flag: string, why: string) =>
  new IstiodError('ERR_ISTIOD_INVALID_FLAG', `--${flag}: ${why}`, { details: { flag } });

/** `host:port`, `:port` (all interfaces), `[v6]:port`, or off. */
export function parseListenAddress(text: string, flag: string): ListenAddress | null {
  const value = text.trim();
  if (value === '' || value === 'off' || value === 'disabled') return null;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !(port >= 0 && port <= 65_535))
    throw bad(flag, `${JSON.stringify(text)} is not host:port, :port or off`);
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

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The typed options from commander's parsed values. */
export function resolveOptions(raw: Record<string, string | undefined>): IstiodOptions {
  const get = (flag: string) => raw[flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] ?? '';
  const accounts = list(get('trusted-node-accounts'));
  for (const account of accounts)
    if (!/^[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*$/.test(account) && !account.startsWith('spiffe://'))
      throw bad('trusted-node-accounts', `${JSON.stringify(account)} is not <namespace>/<serviceaccount>`);
  const options: IstiodOptions = {
    configDir: get('config-dir') || undefined,
    caDir: get('ca-dir') || './etc/cacerts',
    grpcAddr: parseListenAddress(get('grpc-addr'), 'grpc-addr'),
    secureGrpcAddr: parseListenAddress(get('secure-grpc-addr'), 'secure-grpc-addr'),
    monitoringAddr: parseListenAddress(get('monitoring-addr'), 'monitoring-addr'),
    trustDomain: get('trust-domain'),
    clusterId: get('cluster-id'),
    domainSuffix: get('domain'),
    network: get('network'),
    rootNamespace: get('root-namespace'),
    istiodNamespace: get('istiod-namespace'),
    servingDnsNames: list(get('serving-dns-names')),
    tokenIssuers: list(get('token-issuer')),
    tokenAudiences: list(get('token-audiences')),
    jwksFile: get('jwks-file') || undefined,
    trustedNodeAccounts: accounts,
    caKeyType: get('ca-key-type') === 'rsa' ? 'rsa' : 'ec',
    workloadCertTtlMs: duration(get('workload-cert-ttl'), 'workload-cert-ttl'),
    maxWorkloadCertTtlMs: duration(get('max-workload-cert-ttl'), 'max-workload-cert-ttl'),
    xdsAuth: get('xds-auth') !== 'false',
    debounceAfterMs: duration(get('debounce-after'), 'debounce-after'),
    debounceMaxMs: duration(get('debounce-max'), 'debounce-max'),
    configDebounceMs: duration(get('config-debounce'), 'config-debounce'),
    serviceCidr: get('service-cidr'),
    logLevel: (get('log-level') || 'info') as LogLevel,
    debugEndpoints: get('debug-endpoints') !== 'false',
    shutdownGraceMs: duration(get('shutdown-grace'), 'shutdown-grace'),
  };
  if (options.tokenAudiences.length === 0) throw bad('token-audiences', 'at least one audience is needed');
  if (options.maxWorkloadCertTtlMs < options.workloadCertTtlMs)
    throw bad('max-workload-cert-ttl', 'must be at least --workload-cert-ttl');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(options.trustDomain))
    throw bad('trust-domain', `${JSON.stringify(options.trustDomain)} is not a trust domain name`);
  return options;
}

/** The option keys commander produces (for tests). */
export const optionKeys: readonly string[] = OPTION_SPECS.map(keyOf);

export const HELP_FOOTER = `
Every flag can also be set with the environment variable shown next to it; a flag wins over its variable.

Ports (defaults as Istio): 15010 plaintext xDS, 15012 TLS xDS + CA, 15014 monitoring.
Monitoring: GET /metrics (Prometheus), /ready (200 once the first full config is served), /version,
/debug (index of the debug views: syncz, adsz, configz, config_dump?proxyID=, registryz, endpointz, authorizationz).
Tokens for the CA and xDS: meshctl token create --sa <ns>/<sa> --ca-dir <ca-dir>.
Signals: SIGTERM/SIGINT drain (readiness off, streams closed with UNAVAILABLE so proxies reconnect elsewhere) and exit 0.
`;

export function createCommand(): Command {
  return addIstiodOptions(
    new Command('istiod')
      .description(
        'The mesh control plane: serves ztunnels, waypoints and proxyless gRPC clients over xDS from a config directory, and runs the CA.',
      )
      .helpOption('-h, --help', 'show this help')
      .addHelpText('after', HELP_FOOTER)
      .allowExcessArguments(false),
  );
}
