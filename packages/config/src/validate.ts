// Validation of every kind the index reads: Kubernetes/Istio/Gateway API kinds with the schemas in schema.ts plus
// semantic rules; security kinds through @mesh/authz; routing kinds through @mesh/l7. Every issue names the file, the
// document index and the field path.
import { validateResource as validateSecurity } from '@mesh/authz';
import { isSupportedKind as isL7Kind, validateResource as validateL7 } from '@mesh/l7';
import { isIp, parseCidr } from './ip.js';
import { CLUSTER_SCOPED, objectKey, type ConfigObject, type MeshResource, type Origin } from './resources.js';
import { coreSchemas, type Schema } from './schema.js';

export interface ConfigIssue {
  severity: 'error' | 'warning';
  /** Field path inside the document, e.g. `spec.ports[1].targetPort`; empty for the whole document. */
  path: string;
  message: string;
  file?: string;
  document?: number;
  /** `<Kind> <namespace>/<name>` when known. */
  resource?: string;
}

export interface ValidateOptions {
  /** Namespace of namespaced objects without metadata.namespace (default `default`, as kubectl). */
  defaultNamespace?: string;
}

export interface ValidationResult {
  /** Present when there is no error (warnings allowed) and the kind is one the index reads. */
  object?: ConfigObject;
  issues: ConfigIssue[];
}

const SECURITY_KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication']);

/** The versions @mesh/l7 reads, for the message when a document uses another. */
const ENGINE_VERSIONS: Record<string, string[]> = {
  VirtualService: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
  DestinationRule: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
  HTTPRoute: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  GRPCRoute: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1alpha2'],
  TCPRoute: ['gateway.networking.k8s.io/v1alpha2'],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `file#document Kind ns/name path: message`: how CLIs print an issue. */
export function formatIssue(issue: ConfigIssue): string {
  const where =
    issue.file !== undefined
      ? `${issue.file}${issue.document !== undefined ? `#${issue.document}` : ''}`
      : issue.document !== undefined
        ? `document ${issue.document}`
        : '';
  const head = [where, issue.resource ?? ''].filter(Boolean).join(' ');
  return `${head ? `${head}: ` : ''}${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** Validates one parsed document. Never throws. */
export function validateObject(input: unknown, origin: Origin = {}, options: ValidateOptions = {}): ValidationResult {
  const at = {
    ...(origin.file !== undefined ? { file: origin.file } : {}),
    ...(origin.document !== undefined ? { document: origin.document } : {}),
  };
  if (!isObject(input)) {
    return {
      issues: [
        { severity: 'error', path: '', message: 'a document must be a mapping with apiVersion and kind', ...at },
      ],
    };
  }
  const kind = input.kind;
  const apiVersion = input.apiVersion;
  const meta = isObject(input.metadata) ? input.metadata : undefined;
  const rawName = typeof meta?.name === 'string' ? meta.name : '?';
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') {
    const issues: ConfigIssue[] = [];
    if (typeof apiVersion !== 'string')
      issues.push({ severity: 'error', path: 'apiVersion', message: 'is required (a string)', ...at });
    if (typeof kind !== 'string')
      issues.push({ severity: 'error', path: 'kind', message: 'is required (a string)', ...at });
    return { issues };
  }
  const namespaced = !CLUSTER_SCOPED.has(kind);
  // Defaults as the API server applies them, on a copy.
  const doc: Record<string, unknown> = { ...input };
  if (meta && namespaced && (meta.namespace === undefined || meta.namespace === null || meta.namespace === '')) {
    doc.metadata = { ...meta, namespace: options.defaultNamespace ?? 'default' };
  }
  const ns = namespaced && isObject(doc.metadata) ? String(doc.metadata.namespace ?? '') : '';
  const resource = `${kind} ${ns ? `${ns}/` : ''}${rawName}`;
  const tag = (i: { severity: 'error' | 'warning'; path: string; message: string }): ConfigIssue => ({
    severity: i.severity,
    path: i.path,
    message: i.message,
    resource,
    ...at,
  });

  let issues: ConfigIssue[];
  if (SECURITY_KINDS.has(kind)) {
    const r = validateSecurity(doc, at);
    issues = r.issues.map((i) => tag(i));
  } else if (isL7Kind(apiVersion, kind)) {
    issues = validateL7(doc).map(tag);
  } else if (coreSchemas[kind] && coreSchemas[kind].apiVersions.includes(apiVersion)) {
    issues = validateCore(kind, doc).map(tag);
  } else {
    const known = coreSchemas[kind]?.apiVersions ?? ENGINE_VERSIONS[kind] ?? null;
    const message =
      kind === 'Gateway' && apiVersion.startsWith('networking.istio.io/')
        ? 'Istio ingress/egress Gateways (networking.istio.io) are not part of the ambient index: ignored; waypoints are gateway.networking.k8s.io Gateways of class istio-waypoint'
        : known
          ? `${apiVersion} is not a version mesh reads for ${kind} (expected ${known.join(', ')}): ignored`
          : `${apiVersion} ${kind} is not a kind the ambient index reads: ignored`;
    return { issues: [tag({ severity: 'warning', path: known ? 'apiVersion' : 'kind', message })] };
  }
  if (issues.some((i) => i.severity === 'error')) return { issues };
  const m = doc.metadata as { name: string; namespace?: string };
  return {
    issues,
    object: {
      key: objectKey(kind, ns, m.name),
      kind: kind as MeshResource['kind'],
      namespace: ns,
      name: m.name,
      resource: doc as unknown as MeshResource,
      origin: at,
    },
  };
}

// ------------------------------------------------------------------------------------------ core kinds

type Issue = { severity: 'error' | 'warning'; path: string; message: string };

function validateCore(kind: string, doc: Record<string, unknown>): Issue[] {
  const schema = coreSchemas[kind]!;
  const issues: Issue[] = [];
  if (doc.metadata === undefined) issues.push(error('metadata', 'is required'));
  else walk(schema.metadata, doc.metadata, 'metadata', issues);
  for (const field of schema.required ?? [])
    if (doc[field] === undefined || doc[field] === null) issues.push(error(field, 'is required'));
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    const sub = schema.fields[k];
    if (sub) walk(sub, v, k, issues);
    else issues.push(warning(k, 'unknown field (ignored)'));
  }
  if (issues.some((i) => i.severity === 'error')) return issues;
  semantic[kind]?.(doc as never, issues);
  return issues;
}

const error = (path: string, message: string): Issue => ({ severity: 'error', path, message });
const warning = (path: string, message: string): Issue => ({ severity: 'warning', path, message });
const join = (path: string, field: string) => (path ? `${path}.${field}` : field);
const member = (path: string, key: string) =>
  /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? join(path, key) : `${path}[${JSON.stringify(key)}]`;
const typeOf = (v: unknown) =>
  Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;

function walk(schema: Schema, value: unknown, path: string, issues: Issue[]): void {
  if (value === null || value === undefined) return;
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') return void issues.push(error(path, `must be a string, got ${typeOf(value)}`));
      if (schema.enum && !schema.enum.includes(value))
        issues.push(error(path, `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(value)}`));
      if (schema.minLength !== undefined && value.length < schema.minLength)
        issues.push(error(path, `must have at least ${schema.minLength} character(s)`));
      if (schema.pattern && !schema.pattern.test(value))
        issues.push(
          error(path, `must be ${schema.patternName ?? String(schema.pattern)}, got ${JSON.stringify(value)}`),
        );
      return;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return void issues.push(error(path, `must be an integer, got ${typeOf(value)}`));
      if (schema.min !== undefined && value < schema.min)
        issues.push(error(path, `must be >= ${schema.min}, got ${value}`));
      if (schema.max !== undefined && value > schema.max)
        issues.push(error(path, `must be <= ${schema.max}, got ${value}`));
      return;
    case 'bool':
      if (typeof value !== 'boolean') issues.push(error(path, `must be true or false, got ${typeOf(value)}`));
      return;
    case 'intOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value)))
        issues.push(error(path, `must be an integer or a string, got ${typeOf(value)}`));
      return;
    case 'array':
      if (!Array.isArray(value)) return void issues.push(error(path, `must be a list, got ${typeOf(value)}`));
      if (schema.minItems !== undefined && value.length < schema.minItems)
        issues.push(error(path, `must have at least ${schema.minItems} item(s)`));
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        issues.push(error(path, `must have at most ${schema.maxItems} items`));
      value.forEach((item, i) => walk(schema.items, item, `${path}[${i}]`, issues));
      return;
    case 'map':
      if (!isObject(value)) return void issues.push(error(path, `must be a mapping, got ${typeOf(value)}`));
      for (const [k, v] of Object.entries(value)) walk(schema.values, v, member(path, k), issues);
      return;
    case 'object':
      if (!isObject(value)) return void issues.push(error(path, `must be a mapping, got ${typeOf(value)}`));
      for (const field of schema.required ?? [])
        if (value[field] === undefined || value[field] === null) issues.push(error(join(path, field), 'is required'));
      for (const [k, v] of Object.entries(value)) {
        const sub = schema.props[k];
        if (sub) walk(sub, v, join(path, k), issues);
        else if (!schema.open) issues.push(warning(join(path, k), 'unknown field (ignored)'));
      }
      return;
  }
}

// ------------------------------------------------------------------------------------------ semantic rules

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;
const HOST = /^(\*\.)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;

function uniqueNames(items: { name?: unknown }[] | undefined, path: string, what: string, issues: Issue[]): void {
  const seen = new Map<unknown, number>();
  (items ?? []).forEach((item, i) => {
    if (item.name === undefined) return;
    const first = seen.get(item.name);
    if (first !== undefined)
      issues.push(
        error(`${path}[${i}].name`, `duplicate ${what} name ${JSON.stringify(item.name)} (also ${path}[${first}])`),
      );
    else seen.set(item.name, i);
  });
}

const semantic: Record<string, (doc: Doc, issues: Issue[]) => void> = {
  Pod(doc, issues) {
    const st = doc.status ?? {};
    if (st.podIP !== undefined && st.podIP !== '' && !isIp(st.podIP))
      issues.push(error('status.podIP', `must be an IP address, got ${JSON.stringify(st.podIP)}`));
    (st.podIPs ?? []).forEach((p: { ip: string }, i: number) => {
      if (!isIp(p.ip))
        issues.push(error(`status.podIPs[${i}].ip`, `must be an IP address, got ${JSON.stringify(p.ip)}`));
    });
    if (st.podIP && st.podIPs?.length && st.podIPs[0].ip !== st.podIP)
      issues.push(error('status.podIPs[0].ip', `must equal status.podIP (${st.podIP})`));
  },
  Service(doc, issues) {
    const spec = doc.spec ?? {};
    const ports: Doc[] = spec.ports ?? [];
    if (ports.length > 1)
      ports.forEach((p, i) => {
        if (!p.name) issues.push(error(`spec.ports[${i}].name`, 'is required when a Service has more than one port'));
      });
    uniqueNames(ports, 'spec.ports', 'port', issues);
    const seen = new Map<string, number>();
    ports.forEach((p, i) => {
      const key = `${p.port}/${p.protocol ?? 'TCP'}`;
      if (seen.has(key))
        issues.push(error(`spec.ports[${i}].port`, `duplicate port ${key} (also spec.ports[${seen.get(key)}])`));
      else seen.set(key, i);
      if (typeof p.targetPort === 'number' && (p.targetPort < 1 || p.targetPort > 65535))
        issues.push(error(`spec.ports[${i}].targetPort`, `must be between 1 and 65535, got ${p.targetPort}`));
      if (typeof p.targetPort === 'string' && !/^\d+$/.test(p.targetPort) && !IANA_SVC_NAME.test(p.targetPort))
        issues.push(
          error(
            `spec.ports[${i}].targetPort`,
            `must be a port number or an IANA service name (at most 15 lower-case letters, digits and "-"), got ${JSON.stringify(p.targetPort)}`,
          ),
        );
    });
    if (spec.clusterIP !== undefined && spec.clusterIP !== '' && spec.clusterIP !== 'None' && !isIp(spec.clusterIP))
      issues.push(
        error('spec.clusterIP', `must be an IP address, "None" or empty, got ${JSON.stringify(spec.clusterIP)}`),
      );
    (spec.clusterIPs ?? []).forEach((ip: string, i: number) => {
      if (ip !== 'None' && !isIp(ip))
        issues.push(error(`spec.clusterIPs[${i}]`, `must be an IP address, got ${JSON.stringify(ip)}`));
    });
    if (spec.type === 'ExternalName' && !spec.externalName)
      issues.push(error('spec.externalName', 'is required when spec.type is ExternalName'));
  },
  WorkloadEntry(doc, issues) {
    workloadEntryRules(doc.spec, 'spec', issues, true);
  },
  ServiceEntry(doc, issues) {
    const spec = doc.spec;
    (spec.hosts as string[]).forEach((h, i) => {
      if (h === '*') issues.push(error(`spec.hosts[${i}]`, 'the wildcard "*" alone is not allowed'));
      else if (!HOST.test(h))
        issues.push(
          error(`spec.hosts[${i}]`, `must be a DNS name, optionally with a leading "*.", got ${JSON.stringify(h)}`),
        );
    });
    (spec.addresses ?? []).forEach((a: string, i: number) => {
      if (!parseCidr(a))
        issues.push(error(`spec.addresses[${i}]`, `must be an IP address or CIDR, got ${JSON.stringify(a)}`));
    });
    uniqueNames(spec.ports, 'spec.ports', 'port', issues);
    const numbers = new Map<number, number>();
    (spec.ports ?? []).forEach((p: Doc, i: number) => {
      if (numbers.has(p.number))
        issues.push(
          error(`spec.ports[${i}].number`, `duplicate port ${p.number} (also spec.ports[${numbers.get(p.number)}])`),
        );
      else numbers.set(p.number, i);
      if (p.protocol !== undefined && !PROTOCOLS.has(String(p.protocol).toUpperCase()))
        issues.push(
          error(
            `spec.ports[${i}].protocol`,
            `must be one of ${[...PROTOCOLS].join(', ')}, got ${JSON.stringify(p.protocol)}`,
          ),
        );
    });
    if (spec.workloadSelector && spec.endpoints?.length)
      issues.push(error('spec.workloadSelector', 'cannot be combined with spec.endpoints'));
    const resolution = spec.resolution ?? 'NONE';
    (spec.endpoints ?? []).forEach((e: Doc, i: number) => {
      workloadEntryRules(e, `spec.endpoints[${i}]`, issues, false);
      if (resolution === 'STATIC' && e.address && !isIp(e.address) && !String(e.address).startsWith('unix://'))
        issues.push(
          error(
            `spec.endpoints[${i}].address`,
            `must be an IP address with resolution STATIC, got ${JSON.stringify(e.address)}`,
          ),
        );
      for (const name of Object.keys(e.ports ?? {}))
        if (!(spec.ports ?? []).some((p: Doc) => p.name === name))
          issues.push(warning(`spec.endpoints[${i}].ports.${name}`, `names no port of spec.ports (ignored)`));
    });
    if (resolution === 'STATIC' && !spec.workloadSelector && !spec.endpoints?.length)
      issues.push(
        warning('spec.endpoints', 'a STATIC ServiceEntry without endpoints or workloadSelector has no endpoints'),
      );
    if (spec.addresses?.length && (spec.hosts as string[]).some((h) => h.startsWith('*')) && resolution === 'NONE') {
      // Allowed by Istio; nothing to say.
    }
  },
  Gateway(doc, issues) {
    uniqueNames(doc.spec.listeners, 'spec.listeners', 'listener', issues);
  },
};

const PROTOCOLS = new Set([
  'HTTP',
  'HTTPS',
  'GRPC',
  'GRPC-WEB',
  'HTTP2',
  'MONGO',
  'TCP',
  'TLS',
  'UDP',
  'REDIS',
  'MYSQL',
  'THRIFT',
  'HBONE',
]);

function workloadEntryRules(spec: Doc | undefined, path: string, issues: Issue[], standalone: boolean): void {
  if (!spec) return;
  const addr = spec.address;
  if ((addr === undefined || addr === '') && standalone && !spec.network)
    issues.push(error(join(path, 'address'), 'is required unless network is set'));
  if (typeof addr === 'string' && addr !== '' && !isIp(addr) && !addr.startsWith('unix://') && !HOST.test(addr))
    issues.push(
      error(join(path, 'address'), `must be an IP address, a hostname or unix://<path>, got ${JSON.stringify(addr)}`),
    );
  if (standalone && typeof addr === 'string' && addr !== '' && !isIp(addr))
    issues.push(
      warning(
        join(path, 'address'),
        'is not an IP address: ztunnel reaches WorkloadEntries by IP only, so this one gets no address',
      ),
    );
}
