// The `when` condition keys AuthorizationPolicy accepts (policy-semantics §1.6), parsed once.

export type ConditionKey =
  | { kind: 'source.ip' }
  | { kind: 'remote.ip' }
  | { kind: 'source.namespace' }
  | { kind: 'source.principal' }
  | { kind: 'source.serviceAccount' }
  | { kind: 'source.trustDomain' }
  | { kind: 'destination.ip' }
  | { kind: 'destination.port' }
  | { kind: 'connection.sni' }
  | { kind: 'request.auth.principal' }
  | { kind: 'request.auth.audiences' }
  | { kind: 'request.auth.presenter' }
  | { kind: 'request.headers'; header: string }
  | { kind: 'request.auth.claims'; claim: string[] }
  | { kind: 'experimental.envoy.filters'; filter: string; key: string };

const SIMPLE = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'source.trustDomain',
  'destination.ip',
  'destination.port',
  'connection.sni',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
]);

/** The keys ztunnel can enforce; any other key makes a rule L7-only there (authorization.go l4WhenAttributes). */
export const L4_CONDITION_KEYS: ReadonlySet<string> = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
]);

/** Keys that only HTTP traffic carries (an Envoy TCP filter chain ignores them in DENY rules). */
export function isHttpOnlyCondition(key: ConditionKey): boolean {
  switch (key.kind) {
    case 'remote.ip':
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
    case 'request.headers':
    case 'request.auth.claims':
    case 'experimental.envoy.filters':
      return true;
    default:
      return false;
  }
}

const REMOVED: Record<string, string> = {
  'destination.namespace': 'destination.namespace is no longer supported: a policy applies in its own namespace',
  'destination.labels': 'destination.labels is no longer supported: use spec.selector',
  'destination.name': 'destination.name is not supported (it was a v1alpha1 attribute)',
  'destination.user': 'destination.user is not supported (it was a v1alpha1 attribute)',
};

/** Parses `a[b][c]` brackets after a prefix; undefined when malformed. */
function brackets(rest: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < rest.length) {
    if (rest[i] !== '[') return undefined;
    const close = rest.indexOf(']', i);
    if (close === -1) return undefined;
    const name = rest.slice(i + 1, close);
    if (name.length === 0 || name.includes('[')) return undefined;
    out.push(name);
    i = close + 1;
  }
  return out;
}

/** Parses a condition key; `error` says why it is not accepted (the webhook rejects such policies). */
export function parseConditionKey(key: string): { key: ConditionKey } | { error: string } {
  if (SIMPLE.has(key)) return { key: { kind: key } as ConditionKey };
  for (const [removed, why] of Object.entries(REMOVED)) {
    if (key === removed || key.startsWith(`${removed}[`)) return { error: why };
  }
  // request.experimental.inline.headers[...] is newer Istio's variant of request.headers[...]; matched the same way.
  const headerPrefix = key.startsWith('request.experimental.inline.headers')
    ? 'request.experimental.inline.headers'
    : 'request.headers';
  if (key.startsWith(headerPrefix)) {
    const parts = brackets(key.slice(headerPrefix.length));
    if (parts?.length === 1) return { key: { kind: 'request.headers', header: parts[0]!.toLowerCase() } };
    return { error: `"${key}" must have the form request.headers[<header name>]` };
  }
  if (key.startsWith('request.auth.claims')) {
    const parts = brackets(key.slice('request.auth.claims'.length));
    if (parts && parts.length > 0) return { key: { kind: 'request.auth.claims', claim: parts } };
    return { error: `"${key}" must have the form request.auth.claims[<claim>] (nested claims repeat the brackets)` };
  }
  if (key.startsWith('experimental.envoy.filters.')) {
    const rest = key.slice('experimental.envoy.filters.'.length);
    const open = rest.indexOf('[');
    const parts = open > 0 ? brackets(rest.slice(open)) : undefined;
    if (parts?.length === 1)
      return { key: { kind: 'experimental.envoy.filters', filter: rest.slice(0, open), key: parts[0]! } };
    return { error: `"${key}" must have the form experimental.envoy.filters.<filter>[<key>]` };
  }
  return { error: `unknown condition key "${key}"` };
}
