// AuthorizationPolicy rules compiled to predicates with Envoy RBAC semantics, as the waypoint enforces them
// (pilot/pkg/security/authz: principals with trust-domain aliases, namespaces as a regex on the principal, …).
import { parseConditionKey, isHttpOnlyCondition, type ConditionKey } from '../conditions.js';
import { cidrContains, parseCidr, type Cidr, type ParsedAddress } from '../match/ip.js';
import { pathPredicate } from '../match/path.js';
import { globMatch, matchString, parseStringMatch, stringPredicate, type StringMatch } from '../match/strings.js';
import type { Operation, Rule, Source } from '../types.js';
import type { RequestContext } from './attributes.js';

export interface TrustDomainBundle {
  /** The mesh trust domain first, then its aliases. */
  trustDomains: readonly string[];
}

type Test = (ctx: RequestContext) => boolean;

/** One field of a source/operation, or one condition. `http` fields are ignored by DENY rules on TCP traffic. */
export interface Field {
  http: boolean;
  test: Test;
}

export interface CompiledL7Rule {
  index: number;
  /** OR over sources, each an AND of fields; null = any source. */
  from: Field[][] | null;
  to: Field[][] | null;
  when: Field[];
  hasHttp: boolean;
  /**
   * Every principal (without spiffe://) one of which the rule requires: set when every `from` source lists only exact
   * principals. The waypoint files the rule under them; null when the rule cannot be filed that way.
   */
  principals: string[] | null;
}

const splitSpiffe = (p: string) => p.split('/');

/** Istio's trust-domain alias expansion of principal values (pilot/pkg/security/trustdomain). */
export function expandPrincipal(value: string, bundle: TrustDomainBundle): string[] {
  const parts = splitSpiffe(value);
  if (parts.length !== 5 || parts[0] === '*') return [value];
  const td = parts[0]!;
  const known = bundle.trustDomains.some((t) => t === td || (td.startsWith('*') && t.endsWith(td.slice(1))));
  if (!known && td !== 'cluster.local') return [value];
  const out: string[] = [];
  for (const t of bundle.trustDomains) {
    const next = td.startsWith('*') && t.endsWith(td.slice(1)) ? value : [t, ...parts.slice(1)].join('/');
    if (!out.includes(next)) out.push(next);
  }
  return out;
}

export function expandTrustDomains(values: readonly string[], bundle: TrustDomainBundle): string[] {
  const out: string[] = [];
  for (const v of values)
    for (const x of bundle.trustDomains.includes(v) ? bundle.trustDomains : [v]) if (!out.includes(x)) out.push(x);
  return out;
}

const anyOf = (matches: StringMatch[], input: string | null) =>
  input !== null && matches.some((m) => matchString(m, input));

/** positive: any value matches; negative: none does. */
function field(
  http: boolean,
  values: readonly string[] | undefined,
  negate: boolean,
  test: (v: string[]) => Test,
): Field | undefined {
  if (!values || values.length === 0) return undefined;
  const t = test([...values]);
  return { http, test: negate ? (ctx) => !t(ctx) : t };
}

function principalTest(values: string[], bundle: TrustDomainBundle): Test {
  const matches = values.flatMap((v) => expandPrincipal(v, bundle)).map(parseStringMatch);
  return (ctx) => anyOf(matches, ctx.principal);
}

function namespaceTest(values: string[]): Test {
  // Envoy: the RE2 regex `.*/ns/<value>/.*` on the URI SAN, every `*` in the value turned into `.*`. The same as a
  // glob, which cannot backtrack exponentially on hostile values.
  const globs = values.map((v) => `*/ns/${v}/*`);
  return (ctx) => ctx.principal !== null && globs.some((g) => globMatch(g, `spiffe://${ctx.principal}`));
}

function serviceAccountTest(values: string[], policyNamespace: string): Test {
  const pairs = values.map((v) => (v.includes('/') ? v.split('/') : [policyNamespace, v]) as [string, string]);
  return (ctx) => ctx.namespace !== null && pairs.some(([ns, sa]) => ctx.namespace === ns && ctx.serviceAccount === sa);
}

function trustDomainTest(values: string[], bundle: TrustDomainBundle): Test {
  const matches = expandTrustDomains(values, bundle).map(parseStringMatch);
  return (ctx) => anyOf(matches, ctx.trustDomain);
}

/** requestPrincipals: `<iss>/<sub>` split at the last "/", each side with the usual wildcard forms. */
export function requestPrincipalTest(values: string[]): Test {
  const tests = values.map((v): ((rp: { iss: string; sub: string }) => boolean) => {
    if (v === '*') return (rp) => rp.iss.length > 0 && rp.sub.length > 0;
    const slash = v.lastIndexOf('/');
    if (slash === -1) {
      const m = parseStringMatch(v);
      return (rp) => matchString(m, `${rp.iss}/${rp.sub}`);
    }
    const iss = parseStringMatch(v.slice(0, slash));
    const sub = parseStringMatch(v.slice(slash + 1));
    return (rp) => matchString(iss, rp.iss) && matchString(sub, rp.sub);
  });
  return (ctx) => ctx.requestPrincipal !== null && tests.some((t) => t(ctx.requestPrincipal!));
}

function ipTest(values: string[], pick: (ctx: RequestContext) => ParsedAddress | null): Test {
  const cidrs = values.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  return (ctx) => {
    const a = pick(ctx);
    return a !== null && cidrs.some((c) => cidrContains(c, a));
  };
}

function portTest(values: string[]): Test {
  const ports = new Set(values.map(Number));
  return (ctx) => ctx.port !== null && ports.has(ctx.port);
}

function claimValues(claims: Readonly<Record<string, unknown>> | null, path: readonly string[]): string[] | null {
  let v: unknown = claims;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    v = (v as Record<string, unknown>)[p];
  }
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.filter((x) => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
  if (['string', 'number', 'boolean'].includes(typeof v)) return [String(v)];
  return null;
}

function claimTest(values: string[], path: readonly string[]): Test {
  const matches = values.map(parseStringMatch);
  return (ctx) => {
    const got = claimValues(ctx.claims, path);
    return got !== null && got.some((g) => matches.some((m) => matchString(m, g)));
  };
}

function headerTest(values: string[], header: string): Test {
  const tests = values.map((v) => (v === '*' ? () => true : stringPredicate(v)));
  return (ctx) => {
    const got = ctx.headers.get(header);
    return got !== undefined && tests.some((t) => t(got));
  };
}

function metadataTest(values: string[], filter: string, key: string): Test {
  const tests = values.map((v) => {
    if (v.startsWith('[') && v.endsWith(']')) {
      const m = parseStringMatch(v.slice(1, -1));
      return (got: string | readonly string[]) => Array.isArray(got) && got.some((g) => matchString(m, g));
    }
    const m = parseStringMatch(v);
    return (got: string | readonly string[]) => typeof got === 'string' && matchString(m, got);
  });
  return (ctx) => {
    const got = ctx.metadata?.[filter]?.[key];
    return got !== undefined && tests.some((t) => t(got));
  };
}

function conditionTest(key: ConditionKey, values: string[], policyNamespace: string, bundle: TrustDomainBundle): Test {
  switch (key.kind) {
    case 'source.ip':
      return ipTest(values, (c) => c.sourceIp);
    case 'remote.ip':
      return ipTest(values, (c) => c.remoteIp);
    case 'destination.ip':
      return ipTest(values, (c) => c.destinationIp);
    case 'destination.port':
      return portTest(values);
    case 'source.namespace':
      return namespaceTest(values);
    case 'source.principal':
      return principalTest(values, bundle);
    case 'source.serviceAccount':
      return serviceAccountTest(values, policyNamespace);
    case 'source.trustDomain':
      return trustDomainTest(values, bundle);
    case 'connection.sni': {
      const matches = values.map(parseStringMatch);
      return (ctx) => anyOf(matches, ctx.sni);
    }
    case 'request.auth.principal':
      return requestPrincipalTest(values);
    case 'request.auth.audiences':
      return claimTest(values, ['aud']);
    case 'request.auth.presenter':
      return claimTest(values, ['azp']);
    case 'request.auth.claims':
      return claimTest(values, key.claim);
    case 'request.headers':
      return headerTest(values, key.header);
    case 'experimental.envoy.filters':
      return metadataTest(values, key.filter, key.key);
  }
}

function sourceFields(s: Source, ns: string, bundle: TrustDomainBundle): Field[] {
  return [
    field(false, s.principals, false, (v) => principalTest(v, bundle)),
    field(false, s.notPrincipals, true, (v) => principalTest(v, bundle)),
    field(true, s.requestPrincipals, false, requestPrincipalTest),
    field(true, s.notRequestPrincipals, true, requestPrincipalTest),
    field(false, s.namespaces, false, namespaceTest),
    field(false, s.notNamespaces, true, namespaceTest),
    field(false, s.serviceAccounts, false, (v) => serviceAccountTest(v, ns)),
    field(false, s.notServiceAccounts, true, (v) => serviceAccountTest(v, ns)),
    field(false, s.trustDomains, false, (v) => trustDomainTest(v, bundle)),
    field(false, s.notTrustDomains, true, (v) => trustDomainTest(v, bundle)),
    field(false, s.ipBlocks, false, (v) => ipTest(v, (c) => c.sourceIp)),
    field(false, s.notIpBlocks, true, (v) => ipTest(v, (c) => c.sourceIp)),
    field(true, s.remoteIpBlocks, false, (v) => ipTest(v, (c) => c.remoteIp)),
    field(true, s.notRemoteIpBlocks, true, (v) => ipTest(v, (c) => c.remoteIp)),
  ].filter((f): f is Field => f !== undefined);
}

function operationFields(o: Operation): Field[] {
  const hosts = (v: string[]): Test => {
    const tests = v.map((h) => stringPredicate(h, true));
    return (ctx) => ctx.http && tests.some((t) => t(ctx.host));
  };
  const methods = (v: string[]): Test => {
    const tests = v.map((m) => stringPredicate(m));
    return (ctx) => ctx.http && tests.some((t) => t(ctx.method));
  };
  const paths = (v: string[]): Test => {
    const tests = v.map(pathPredicate);
    return (ctx) => ctx.http && tests.some((t) => t(ctx.path));
  };
  return [
    field(true, o.hosts, false, hosts),
    field(true, o.notHosts, true, hosts),
    field(false, o.ports, false, portTest),
    field(false, o.notPorts, true, portTest),
    field(true, o.methods, false, methods),
    field(true, o.notMethods, true, methods),
    field(true, o.paths, false, paths),
    field(true, o.notPaths, true, paths),
  ].filter((f): f is Field => f !== undefined);
}

export function compileL7Rule(
  rule: Rule,
  index: number,
  policyNamespace: string,
  bundle: TrustDomainBundle,
): CompiledL7Rule {
  const from = rule.from ? rule.from.map((f) => sourceFields(f.source ?? {}, policyNamespace, bundle)) : null;
  const to = rule.to ? rule.to.map((t) => operationFields(t.operation ?? {})) : null;
  const when: Field[] = [];
  for (const c of rule.when ?? []) {
    const parsed = parseConditionKey(c.key);
    if ('error' in parsed) {
      // Validation rejects these; a policy that bypassed it never matches on this condition.
      when.push({ http: false, test: () => false });
      continue;
    }
    const http = isHttpOnlyCondition(parsed.key);
    const pos = c.values?.length ? conditionTest(parsed.key, c.values, policyNamespace, bundle) : undefined;
    const neg = c.notValues?.length ? conditionTest(parsed.key, c.notValues, policyNamespace, bundle) : undefined;
    when.push({ http, test: (ctx) => (pos === undefined || pos(ctx)) && (neg === undefined || !neg(ctx)) });
  }
  const hasHttp = [...(from ?? []).flat(), ...(to ?? []).flat(), ...when].some((f) => f.http);
  let principals: string[] | null = null;
  if (rule.from && rule.from.length > 0) {
    const expanded = rule.from.map((f) => (f.source?.principals ?? []).flatMap((v) => expandPrincipal(v, bundle)));
    if (
      expanded.every(
        (list) => list.length > 0 && list.every((v) => v.length > 0 && !v.startsWith('*') && !v.endsWith('*')),
      )
    ) {
      principals = [...new Set(expanded.flat())];
    }
  }
  return { index, from, to, when, hasHttp, principals };
}

const fieldsHold = (fields: Field[], ctx: RequestContext, skipHttp: boolean) => {
  for (const f of fields) {
    if (skipHttp && f.http) continue;
    if (!f.test(ctx)) return false;
  }
  return true;
};

/**
 * Whether the rule matches. On TCP traffic (no HTTP attributes), Envoy's network RBAC filter skips ALLOW rules that
 * use HTTP attributes and drops the HTTP attributes from DENY rules (which then match more).
 */
export function ruleMatches(rule: CompiledL7Rule, ctx: RequestContext, deny: boolean): boolean {
  if (!ctx.http && rule.hasHttp && !deny) return false;
  const skip = !ctx.http;
  if (rule.from !== null && !rule.from.some((s) => fieldsHold(s, ctx, skip))) return false;
  if (rule.to !== null && !rule.to.some((o) => fieldsHold(o, ctx, skip))) return false;
  return fieldsHold(rule.when, ctx, skip);
}
