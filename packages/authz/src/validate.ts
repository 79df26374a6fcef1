// Validation of security.istio.io resources: first Istio's published CRD schema (ajv, plus the schema's CEL rules),
// then the semantic checks of Istio's admission webhook. Every issue names its field path.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseConditionKey } from './conditions.js';
import { AuthzError } from './errors.js';
import { parseCidr } from './match/ip.js';
import { isPathTemplate, pathTemplateProblem } from './match/path.js';
import { crdSchemas } from './schema/security.gen.js';
import type {
  AuthorizationPolicy,
  Condition,
  Operation,
  PeerAuthentication,
  RequestAuthentication,
  ResourceOrigin,
  SecurityResource,
  Source,
} from './types.js';

export interface ValidationIssue {
  severity: 'error' | 'warning';
  /** Field path inside the resource, e.g. `spec.rules[0].from[1].source.ipBlocks[2]`. */
  path: string;
  message: string;
  /** `<Kind> <namespace>/<name>` when known. */
  resource?: string;
  file?: string;
  document?: number;
}

export interface ValidationResult {
  /** Present when there is no error (warnings allowed). */
  resource?: SecurityResource;
  issues: ValidationIssue[];
}

export interface ValidateOptions extends ResourceOrigin {
  /**
   * Reject fields the schema does not define, as `kubectl apply` does with strict field validation (default true).
   * With false they are reported as warnings: the API server would prune them, so they have no effect.
   */
  strictFields?: boolean;
}

const KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication']);
const VERSIONS = new Set(['security.istio.io/v1', 'security.istio.io/v1beta1']);

// --- the schema's CEL rules, each implemented once and looked up by its exact text ---------------------------------

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (v: Json, key: string) => isObject(v) && v[key] !== undefined && v[key] !== null;
const DURATION = /^(?:(?:\d+(?:\.\d+)?|\.\d+)(?:h|m|s|ms|us|µs|ns))+$/;
function durationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?|\.\d+)(ms|us|µs|ns|h|m|s)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

/** CEL rule text (as in the CRD) → its meaning. A rule missing here fails loudly at first use (and in a test). */
export const celRules: Readonly<Record<string, (self: Json) => boolean>> = {
  '(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) &&\n!has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true':
    (s) =>
      !(has(s, 'serviceAccounts') || has(s, 'notServiceAccounts')) ||
      (!has(s, 'principals') && !has(s, 'notPrincipals') && !has(s, 'namespaces') && !has(s, 'notNamespaces')),
  '!self.contains("*")': (s) => typeof s !== 'string' || !s.includes('*'),
  'self.all(key, !key.contains("*"))': (s) => !isObject(s) || Object.keys(s).every((k) => !k.includes('*')),
  'self.all(key, key.size() != 0)': (s) => !isObject(s) || Object.keys(s).every((k) => k.length !== 0),
  'self.size() == 0': (s) => typeof s !== 'string' || s.length === 0,
  '(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1': (s) =>
    [has(s, 'selector'), has(s, 'targetRef'), has(s, 'targetRefs')].filter(Boolean).length <= 1,
  'self.all(key, 0 < int(key) && int(key) <= 65535)': (s) =>
    !isObject(s) || Object.keys(s).every((k) => /^[0-9]+$/.test(k) && Number(k) > 0 && Number(k) <= 65535),
  'has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true':
    (s) => {
      if (!has(s, 'portLevelMtls')) return true;
      const selector = (s as Record<string, Json>).selector;
      const labels = has(selector, 'matchLabels') ? (selector as Record<string, Json>).matchLabels : {};
      return isObject(labels) && Object.keys(labels).length > 0;
    },
  'url(self).getScheme() in ["http", "https"]': (s) => typeof s !== 'string' || /^https?:\/\/[^/]/i.test(s),
  "duration(self) >= duration('1ms')": (s) => {
    if (typeof s !== 'string') return true;
    const ms = durationMs(s);
    return ms !== undefined && ms >= 1;
  },
  '(has(self.jwksUri) ? 1 : 0) + (has(self.jwks_uri) ? 1 : 0) + (has(self.jwks) ? 1 : 0) <= 1': (s) =>
    [has(s, 'jwksUri'), has(s, 'jwks_uri'), has(s, 'jwks')].filter(Boolean).length <= 1,
};

// --- field paths ----------------------------------------------------------------------------------------------------

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (IDENT.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = /^[0-9]+$/.test(key) ? joinPath(path, Number(key)) : joinPath(path, key);
  }
  return path;
}

// --- schema validation ----------------------------------------------------------------------------------------------

type Schema = Record<string, unknown>;

/** Adds `additionalProperties: false` where the CRD lists properties (kubectl's strict field validation). */
function closeObjects(schema: Json, extra: (path: string) => Record<string, Schema> | undefined, path = ''): Json {
  if (Array.isArray(schema)) return schema.map((s) => closeObjects(s, extra, path));
  if (!isObject(schema)) return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties' && isObject(v)) {
      const props: Schema = {};
      for (const [name, sub] of Object.entries(v)) props[name] = closeObjects(sub, extra, joinPath(path, name));
      Object.assign(props, extra(path));
      out.properties = props;
    } else if (k === 'items') {
      out.items = closeObjects(v, extra, `${path}[]`);
    } else if (k === 'additionalProperties' && isObject(v)) {
      out.additionalProperties = closeObjects(v, extra, `${path}{}`);
    } else if (k === 'oneOf' || k === 'anyOf' || k === 'not') {
      out[k] = v;
    } else {
      out[k] = closeObjects(v, extra, path);
    }
  }
  if (
    isObject(out.properties) &&
    out.additionalProperties === undefined &&
    !out['x-kubernetes-preserve-unknown-fields']
  ) {
    out.additionalProperties = false;
  }
  return out;
}

// Fields Istio has in its API that the standard-channel CRD schema omits.
const stringList: Schema = { type: 'array', items: { type: 'string' } };
const extraFields = (path: string): Record<string, Schema> | undefined =>
  path === 'spec.rules[].from[].source' ? { trustDomains: stringList, notTrustDomains: stringList } : undefined;

const metadataSchema: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253 },
    namespace: { type: 'string', maxLength: 63 },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

interface CompiledSchema {
  strict: ValidateFunction;
  lax: ValidateFunction;
  raw: Json;
}

let ajv: Ajv | undefined;
const compiled = new Map<string, CompiledSchema>();

function schemaFor(apiVersion: string, kind: string): CompiledSchema {
  const id = `${apiVersion}/${kind}`;
  let entry = compiled.get(id);
  if (entry) return entry;
  const raw = crdSchemas[id];
  if (!raw) throw new Error(`no schema for ${id}`);
  ajv ??= new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const withMeta = (s: Json): Schema => {
    const root = s as Schema;
    return {
      ...root,
      required: ['apiVersion', 'kind', 'metadata'],
      properties: {
        ...(root.properties as Schema),
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: metadataSchema,
      },
    };
  };
  entry = {
    strict: ajv.compile(withMeta(closeObjects(raw, extraFields)) as object),
    // The lax validator accepts unknown fields; the strict one then reports them as warnings.
    lax: ajv.compile(withMeta(raw) as object),
    raw,
  };
  compiled.set(id, entry);
  return entry;
}

function ajvMessage(e: ErrorObject): { path: string; message: string } | undefined {
  const path = pointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      return { path: joinPath(path, field), message: `unknown field "${field}"` };
    }
    case 'required':
      return {
        path: joinPath(path, (e.params as { missingProperty: string }).missingProperty),
        message: 'required field is missing',
      };
    case 'enum':
      return {
        path,
        message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`,
      };
    case 'oneOf':
    case 'anyOf':
    case 'not':
    case 'if':
      return undefined;
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

function walkCel(schema: Json, data: Json, path: string, out: { path: string; message: string }[]): void {
  if (!isObject(schema)) return;
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules as { rule: string; message: string }[]) {
      const check = celRules[r.rule];
      if (!check) throw new Error(`CEL rule not implemented: ${r.rule}`);
      if (!check(data)) out.push({ path, message: r.message });
    }
  }
  if (isObject(data) && isObject(schema.properties)) {
    for (const [k, sub] of Object.entries(schema.properties)) {
      if (data[k] !== undefined && data[k] !== null) walkCel(sub, data[k], joinPath(path, k), out);
    }
  }
  if (isObject(data) && isObject(schema.additionalProperties)) {
    for (const [k, v] of Object.entries(data)) walkCel(schema.additionalProperties, v, joinPath(path, k), out);
  }
  if (Array.isArray(data) && isObject(schema.items)) {
    data.forEach((v, i) => walkCel(schema.items, v, joinPath(path, i), out));
  }
}

// --- semantic checks (Istio's webhook) ------------------------------------------------------------------------------

type Push = (path: string, message: string, severity?: 'error' | 'warning') => void;

const SOURCE_LISTS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const satisfies readonly (keyof Source)[];
const OPERATION_LISTS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const satisfies readonly (keyof Operation)[];
const IP_FIELDS = new Set(['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']);
// Fields whose presence makes a `from` count as TCP-capable for the webhook's DENY warning (validation.go).
const TCP_SOURCE_FIELDS: ReadonlySet<string> = new Set([
  'principals',
  'notPrincipals',
  'ipBlocks',
  'notIpBlocks',
  'namespaces',
  'notNamespaces',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
]);
// Source fields the webhook rejects in CUSTOM policies.
const CUSTOM_UNSUPPORTED_SOURCE: ReadonlySet<string> = new Set([
  'principals',
  'notPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'requestPrincipals',
  'notRequestPrincipals',
]);

export function isPort(value: string): boolean {
  return /^[0-9]+$/.test(value) && Number(value) <= 65535;
}

function wildcardPlacementOk(value: string): boolean {
  const inner = value.replace(/^\*/, '').replace(/\*$/, '');
  return !inner.includes('*');
}

function checkValue(field: string, value: string, path: string, push: Push): void {
  if (value.length === 0) {
    push(path, 'empty values are not allowed');
    return;
  }
  if (IP_FIELDS.has(field) && !parseCidr(value)) push(path, `"${value}" is not an IP address or CIDR`);
  if (field === 'ports' || field === 'notPorts') {
    if (!isPort(value)) push(path, `"${value}" is not a port number (0-65535; no ranges or wildcards)`);
  }
  if ((field === 'paths' || field === 'notPaths') && isPathTemplate(value)) {
    const problem = pathTemplateProblem(value);
    if (problem) push(path, `invalid path template "${value}": ${problem}`);
  }
  if (field === 'serviceAccounts' || field === 'notServiceAccounts') {
    if (value.includes('*')) push(path, 'wildcards are not allowed in serviceAccounts');
    const parts = value.split('/');
    if (parts.length > 2 || parts.some((p) => p.length === 0)) {
      push(path, `"${value}" must be "<serviceaccount>" or "<namespace>/<serviceaccount>"`);
    }
  }
  if ((field === 'trustDomains' || field === 'notTrustDomains') && !wildcardPlacementOk(value)) {
    push(path, `"${value}": a wildcard is only allowed alone, at the start or at the end`);
  }
}

function checkCondition(c: Condition, path: string, push: Push): void {
  const parsed = parseConditionKey(c.key);
  if ('error' in parsed) {
    push(joinPath(path, 'key'), parsed.error);
    return;
  }
  if (!c.values?.length && !c.notValues?.length) {
    push(path, `condition "${c.key}" needs values or notValues`);
  }
  for (const list of ['values', 'notValues'] as const) {
    (c[list] ?? []).forEach((v, i) => {
      const at = joinPath(joinPath(path, list), i);
      if (v.length === 0) return push(at, 'empty values are not allowed');
      switch (parsed.key.kind) {
        case 'source.ip':
        case 'remote.ip':
        case 'destination.ip':
          if (!parseCidr(v)) push(at, `"${v}" is not an IP address or CIDR`);
          break;
        case 'destination.port':
          if (!isPort(v)) push(at, `"${v}" is not a port number (0-65535)`);
          break;
        case 'source.trustDomain':
          if (!wildcardPlacementOk(v)) push(at, `"${v}": a wildcard is only allowed alone, at the start or at the end`);
          break;
        case 'source.serviceAccount':
          if (v.split('/').length !== 2) push(at, `"${v}" must be "<namespace>/<serviceaccount>"`);
          break;
        default:
      }
    });
  }
}

/** Istio's dry-run annotation value, parsed like Go's strconv.ParseBool. */
export function parseDryRun(value: string | undefined): { dryRun: boolean; invalid?: string } {
  if (value === undefined || value === '') return { dryRun: false };
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return { dryRun: true };
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return { dryRun: false };
  return { dryRun: false, invalid: value };
}

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

function authorizationPolicyIssues(p: AuthorizationPolicy, push: Push): void {
  const spec = p.spec ?? {};
  const action = spec.action ?? 'ALLOW';
  const rules = spec.rules ?? [];
  if (action === 'CUSTOM') {
    if (!spec.provider?.name) push('spec.provider.name', 'the CUSTOM action needs a provider name');
    if (rules.length === 0) {
      push(
        'spec.rules',
        'a CUSTOM policy without rules never triggers; add an empty rule {} to apply it to every request',
      );
    }
  } else if (spec.provider) {
    push('spec.provider', `provider is only allowed with the CUSTOM action (this policy is ${action})`);
  }
  if (action === 'DENY' && rules.length === 0) {
    push('spec.rules', 'a DENY policy without rules never triggers; add an empty rule {} to deny every request');
  }
  const refs = spec.targetRefs ?? (spec.targetRef ? [spec.targetRef] : []);
  const refsPath = spec.targetRefs ? 'spec.targetRefs' : 'spec.targetRef';
  refs.forEach((ref, i) => {
    const at = spec.targetRefs ? joinPath(refsPath, i) : refsPath;
    const group = ref.group ?? '';
    const ok =
      (group === 'gateway.networking.k8s.io' && (ref.kind === 'Gateway' || ref.kind === 'GatewayClass')) ||
      ((group === '' || group === 'core') && ref.kind === 'Service') ||
      (group === 'networking.istio.io' && ref.kind === 'ServiceEntry');
    if (!ok) {
      push(
        at,
        `targetRef ${group || 'core'}/${ref.kind} is not supported: use Gateway or GatewayClass (gateway.networking.k8s.io), Service (core) or ServiceEntry (networking.istio.io)`,
      );
    }
  });
  rules.forEach((rule, r) => {
    const rp = joinPath('spec.rules', r);
    if (rule.from && rule.from.length === 0)
      push(joinPath(rp, 'from'), '`from` must not be empty; remove it to match any source');
    if (rule.to && rule.to.length === 0)
      push(joinPath(rp, 'to'), '`to` must not be empty; remove it to match any operation');
    // Istio's webhook warning, to the letter: a DENY rule whose `from` has no TCP field (and no `to`), or whose `to`
    // has no port, matches every TCP connection at sidecars and waypoints (conditions do not count).
    let fromExists = false;
    let toExists = false;
    let tcpInFrom = false;
    let tcpInTo = false;
    (rule.from ?? []).forEach((f, i) => {
      const sp = joinPath(joinPath(joinPath(rp, 'from'), i), 'source');
      const source = f.source;
      if (!source) {
        push(sp, '`source` must not be empty');
        return;
      }
      fromExists = true;
      if (SOURCE_LISTS.every((k) => !source[k]?.length)) push(sp, '`source` must not be empty');
      for (const k of SOURCE_LISTS) {
        source[k]?.forEach((v, j) => checkValue(k, v, joinPath(joinPath(sp, k), j), push));
        if (source[k] !== undefined && TCP_SOURCE_FIELDS.has(k)) tcpInFrom = true;
        if (action === 'CUSTOM' && source[k]?.length && CUSTOM_UNSUPPORTED_SOURCE.has(k)) {
          push(joinPath(sp, k), `${k} is not supported with the CUSTOM action`);
        }
      }
    });
    (rule.to ?? []).forEach((t, i) => {
      const op = joinPath(joinPath(joinPath(rp, 'to'), i), 'operation');
      const operation = t.operation;
      if (!operation) {
        push(op, '`operation` must not be empty');
        return;
      }
      toExists = true;
      if (OPERATION_LISTS.every((k) => !operation[k]?.length)) push(op, '`operation` must not be empty');
      for (const k of OPERATION_LISTS) {
        operation[k]?.forEach((v, j) => checkValue(k, v, joinPath(joinPath(op, k), j), push));
      }
      if (operation.ports !== undefined || operation.notPorts !== undefined) tcpInTo = true;
    });
    (rule.when ?? []).forEach((c, i) => {
      const cp = joinPath(joinPath(rp, 'when'), i);
      checkCondition(c, cp, push);
      if (
        action === 'CUSTOM' &&
        (['source.namespace', 'source.serviceAccount', 'source.principal'].includes(c.key) ||
          c.key.startsWith('request.auth.'))
      ) {
        push(joinPath(cp, 'key'), `${c.key} is not supported with the CUSTOM action`);
      }
    });
    if (action === 'DENY' && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo))) {
      push(
        rp,
        'this DENY rule uses only HTTP attributes: sidecars and waypoints deny all traffic to TCP ports under its scope with it (specify the port), and ztunnel ignores it',
        'warning',
      );
    }
  });
  const dry = parseDryRun(p.metadata.annotations?.[DRY_RUN_ANNOTATION]);
  if (dry.invalid !== undefined) {
    push(
      `metadata.annotations["${DRY_RUN_ANNOTATION}"]`,
      `"${dry.invalid}" is not a boolean; Istio logs an error and enforces the policy`,
      'warning',
    );
  }
}

function peerAuthenticationIssues(_p: PeerAuthentication, _push: Push): void {
  // Everything the webhook checks for PeerAuthentication is in the CRD schema and its CEL rules.
}

function requestAuthenticationIssues(p: RequestAuthentication, push: Push): void {
  (p.spec?.jwtRules ?? []).forEach((rule, i) => {
    const at = joinPath('spec.jwtRules', i);
    if (!rule.issuer && !rule.jwksUri) push(at, 'issuer or jwksUri must be set');
    if (rule.jwks !== undefined && rule.jwks !== '') {
      let keys: unknown;
      try {
        keys = (JSON.parse(rule.jwks) as { keys?: unknown }).keys;
      } catch {
        keys = undefined;
      }
      if (!Array.isArray(keys))
        push(joinPath(at, 'jwks'), 'jwks is not a JSON Web Key Set (a JSON object with a "keys" array)');
    }
  });
}

// Kubernetes label syntax (the webhook validates selectors with it).
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function labelIssues(labels: Record<string, string> | undefined, path: string, push: Push): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const at = joinPath(path, key);
    const slash = key.lastIndexOf('/');
    const prefix = slash === -1 ? undefined : key.slice(0, slash);
    const name = slash === -1 ? key : key.slice(slash + 1);
    if (
      name.length === 0 ||
      name.length > 63 ||
      !LABEL_NAME.test(name) ||
      (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    ) {
      push(at, `"${key}" is not a valid label key`);
    }
    if (value.length > 0 && !LABEL_NAME.test(value)) push(at, `"${value}" is not a valid label value`);
  }
}

/** Validates one object that should be a security.istio.io resource. Never throws for bad input. */
export function validateResource(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const issues: ValidationIssue[] = [];
  const origin = {
    ...(options.file !== undefined ? { file: options.file } : {}),
    ...(options.document !== undefined ? { document: options.document } : {}),
  };
  const obj = input as Record<string, unknown> | null;
  const describe = () => {
    const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '?';
    const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
    return `${isObject(obj) && typeof obj.kind === 'string' ? obj.kind : 'object'} ${ns}${name}`;
  };
  if (!isObject(obj)) {
    return { issues: [{ severity: 'error', path: '', message: 'expected an object', ...origin }] };
  }
  const resource = describe();
  const push: Push = (path, message, severity = 'error') =>
    issues.push({ severity, path, message, resource, ...origin });
  if (typeof obj.kind !== 'string' || !KINDS.has(obj.kind)) {
    push(
      'kind',
      `expected AuthorizationPolicy, PeerAuthentication or RequestAuthentication, got ${JSON.stringify(obj.kind)}`,
    );
    return { issues };
  }
  if (typeof obj.apiVersion !== 'string' || !VERSIONS.has(obj.apiVersion)) {
    push(
      'apiVersion',
      `expected security.istio.io/v1 or security.istio.io/v1beta1, got ${JSON.stringify(obj.apiVersion)}`,
    );
    return { issues };
  }
  const schema = schemaFor(obj.apiVersion, obj.kind);
  const strict = options.strictFields ?? true;
  const structural: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  const validator = strict ? schema.strict : schema.lax;
  if (!validator(obj)) {
    for (const e of validator.errors ?? []) {
      const m = ajvMessage(e);
      if (!m || seen.has(`${m.path}\0${m.message}`)) continue;
      seen.add(`${m.path}\0${m.message}`);
      structural.push(m);
    }
  }
  if (!strict && schema.strict(obj) === false) {
    for (const e of schema.strict.errors ?? []) {
      if (e.keyword !== 'additionalProperties') continue;
      const m = ajvMessage(e)!;
      push(m.path, `${m.message}: Kubernetes would prune it, so it has no effect`, 'warning');
    }
  }
  for (const m of structural) push(m.path, m.message);
  if (structural.length > 0) return { issues };
  const cel: { path: string; message: string }[] = [];
  walkCel(schema.raw, obj, '', cel);
  for (const m of cel) push(m.path, m.message);
  const typed = obj as unknown as SecurityResource;
  labelIssues(typed.spec?.selector?.matchLabels, 'spec.selector.matchLabels', push);
  if (typed.kind === 'AuthorizationPolicy') authorizationPolicyIssues(typed, push);
  else if (typed.kind === 'PeerAuthentication') peerAuthenticationIssues(typed, push);
  else requestAuthenticationIssues(typed, push);
  return issues.some((i) => i.severity === 'error') ? { issues } : { resource: typed, issues };
}

/** One line per issue: `file#doc: Kind ns/name: path: message`. */
export function formatIssue(issue: ValidationIssue): string {
  const where = [
    issue.file !== undefined
      ? `${issue.file}${issue.document !== undefined ? `#${issue.document}` : ''}`
      : issue.document !== undefined
        ? `document ${issue.document}`
        : '',
    issue.resource ?? '',
    issue.path,
  ].filter(Boolean);
  return `${issue.severity === 'warning' ? 'warning: ' : ''}${where.join(': ')}${where.length ? ': ' : ''}${issue.message}`;
}

/** Validates and returns the resource, or throws ERR_AUTHZ_INVALID_RESOURCE (or ERR_AUTHZ_UNSUPPORTED_KIND). */
export function parseResource(input: unknown, options: ValidateOptions = {}): SecurityResource {
  const result = validateResource(input, options);
  if (result.resource) return result.resource;
  const errors = result.issues.filter((i) => i.severity === 'error');
  const unsupported = errors.length === 1 && (errors[0]!.path === 'kind' || errors[0]!.path === 'apiVersion');
  throw new AuthzError(
    unsupported ? 'ERR_AUTHZ_UNSUPPORTED_KIND' : 'ERR_AUTHZ_INVALID_RESOURCE',
    errors.map(formatIssue).join('\n'),
    { details: { issues: result.issues } },
  );
}
