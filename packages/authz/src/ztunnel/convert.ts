// What istiod sends ztunnel: AuthorizationPolicy and PeerAuthentication converted to the L4 Authorization model,
// with the same drops istiod makes (pilot/pkg/serviceregistry/ambient/authorization.go) and a note for each.
import { L4_CONDITION_KEYS } from '../conditions.js';
import { parseCidr } from '../match/ip.js';
import { parseStringMatch, type StringMatch } from '../match/strings.js';
import type { CompileNote } from '../notes.js';
import { policyContext, policyNamespace } from '../policy.js';
import type { AuthorizationPolicy, MtlsMode, PeerAuthentication, Rule, Source } from '../types.js';
import {
  isEffectiveRule,
  isEmptyMatch,
  type L4Action,
  type L4Match,
  type L4Policy,
  type L4Rule,
  type ServiceAccountMatch,
} from './model.js';

export interface ZtunnelConvertOptions {
  /** meshConfig.rootNamespace (default `istio-system`). */
  rootNamespace?: string;
  /** Namespace for resources without metadata.namespace (default `default`). */
  defaultNamespace?: string;
  /** istiod's AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY (default false: dry-run policies are not sent). */
  dryRun?: boolean;
}

export interface ZtunnelConversion {
  /** The Authorization istiod sends, or undefined when ztunnel never sees this policy. */
  policy?: L4Policy;
  notes: CompileNote[];
}

const ports = (values: string[] | undefined) =>
  (values ?? []).flatMap((v) => (/^[0-9]+$/.test(v) && Number(v) <= 65535 ? [Number(v)] : []));
const ips = (values: string[] | undefined) =>
  (values ?? []).flatMap((v) => (v ? [parseCidr(v)?.text ?? []].flat() : []));
const strings = (values: string[] | undefined): StringMatch[] => (values ?? []).map(parseStringMatch);
const serviceAccounts = (values: string[] | undefined, ns: string): ServiceAccountMatch[] =>
  (values ?? []).map((v) => {
    const slash = v.indexOf('/');
    return slash === -1
      ? { namespace: ns, serviceAccount: v }
      : { namespace: v.slice(0, slash), serviceAccount: v.slice(slash + 1) };
  });

function compact(m: L4Match): L4Match {
  const out: L4Match = {};
  for (const [k, v] of Object.entries(m) as [keyof L4Match, unknown[] | undefined][]) {
    if (v && v.length > 0) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

const HTTP_OPERATION = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const HTTP_SOURCE = [
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'requestPrincipals',
  'notRequestPrincipals',
  // Not in a Match at all; istiod reports them like HTTP attributes (a source that sets them would otherwise widen).
  'trustDomains',
  'notTrustDomains',
] as const;

function convertRule(
  action: L4Action,
  rule: Rule,
  ns: string,
): { clauses: L4Rule['clauses'] | undefined; l7: string[] } {
  const l7 = new Set<string>();
  const clauses: L4Rule['clauses'] = [];
  const to: L4Match[] = (rule.to ?? []).map(({ operation = {} }) => {
    for (const f of HTTP_OPERATION) if (operation[f]?.length) l7.add(f);
    return compact({ destinationPorts: ports(operation.ports), notDestinationPorts: ports(operation.notPorts) });
  });
  const from: L4Match[] = (rule.from ?? []).map(({ source = {} as Source }) => {
    for (const f of HTTP_SOURCE) if (source[f]?.length) l7.add(f);
    return compact({
      sourceIps: ips(source.ipBlocks),
      notSourceIps: ips(source.notIpBlocks),
      namespaces: strings(source.namespaces),
      notNamespaces: strings(source.notNamespaces),
      serviceAccounts: serviceAccounts(source.serviceAccounts, ns),
      notServiceAccounts: serviceAccounts(source.notServiceAccounts, ns),
      principals: strings(source.principals),
      notPrincipals: strings(source.notPrincipals),
    });
  });
  if (to.length > 0) clauses.push({ matches: to });
  if (from.length > 0) clauses.push({ matches: from });
  for (const when of rule.when ?? []) {
    if (!L4_CONDITION_KEYS.has(when.key)) l7.add(when.key);
    const pick = <T>(key: string, f: (v: string[] | undefined) => T[], values: string[] | undefined): T[] =>
      when.key === key ? f(values) : [];
    clauses.push({
      matches: [
        compact({
          namespaces: pick('source.namespace', strings, when.values),
          principals: pick('source.principal', strings, when.values),
          sourceIps: pick('source.ip', ips, when.values),
          destinationPorts: pick('destination.port', ports, when.values),
          destinationIps: pick('destination.ip', ips, when.values),
          notNamespaces: pick('source.namespace', strings, when.notValues),
          notPrincipals: pick('source.principal', strings, when.notValues),
          notSourceIps: pick('source.ip', ips, when.notValues),
          notDestinationPorts: pick('destination.port', ports, when.notValues),
          notDestinationIps: pick('destination.ip', ips, when.notValues),
        }),
      ],
    });
  }
  const attributes = [...l7].sort();
  // ALLOW rules with any HTTP attribute never match at ztunnel; DENY keeps the (possibly empty) L4 matches.
  return { clauses: action === 'ALLOW' && attributes.length > 0 ? undefined : clauses, l7: attributes };
}

/** Rules that can never decide a request because an earlier rule matches everything they match. */
export function unreachableRules(rules: readonly unknown[]): { rule: number; because: number; why: string }[] {
  const out: { rule: number; because: number; why: string }[] = [];
  const seen = new Map<string, number>();
  let matchAll = -1;
  rules.forEach((rule, i) => {
    const key = JSON.stringify(rule ?? {});
    if (matchAll >= 0) {
      out.push({ rule: i, because: matchAll, why: `rule ${matchAll} is empty and matches every request first` });
    } else if (seen.has(key)) {
      out.push({ rule: i, because: seen.get(key)!, why: `it repeats rule ${seen.get(key)!}` });
    }
    if (!seen.has(key)) seen.set(key, i);
    if (key === '{}' && matchAll < 0) matchAll = i;
  });
  return out;
}

/** Converts one AuthorizationPolicy as istiod does for ztunnel. */
export function convertAuthorizationPolicyForZtunnel(
  ap: AuthorizationPolicy,
  options: ZtunnelConvertOptions = {},
): ZtunnelConversion {
  const { rootNamespace, namespace: ns, spec, notes, note, dryRun } = policyContext(ap, options, 'ztunnel');

  if (dryRun && !options.dryRun) {
    note({
      code: 'ztunnel-dry-run-not-sent',
      severity: 'warning',
      message:
        'dry-run policy not sent to ztunnel: support for ambient dry-run AuthorizationPolicies is off (AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY)',
    });
    return { notes };
  }
  if ((spec.targetRefs?.length ?? 0) > 0 || spec.targetRef) {
    // Not an error: these are waypoint policies. Still say so, since users look for them at ztunnel.
    note({
      code: 'ztunnel-target-refs',
      severity: 'info',
      message: 'targetRefs policy: enforced by waypoints, never sent to ztunnel',
    });
    return { notes };
  }
  const action = spec.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') {
    note({
      code: 'ztunnel-unsupported-action',
      severity: 'warning',
      message: `ztunnel does not support the ${action} action: the policy is not enforced for L4 traffic${action === 'CUSTOM' ? ' (it fails open there; use a waypoint)' : ''}`,
    });
    return { notes };
  }
  const scope = spec.selector ? 'WORKLOAD_SELECTOR' : ns === rootNamespace ? 'GLOBAL' : 'NAMESPACE';
  const policy: L4Policy = { name: ap.metadata.name, namespace: ns, scope, action, rules: [], dryRun: dryRun };
  (spec.rules ?? []).forEach((rule, index) => {
    const { clauses, l7 } = convertRule(action, rule, ns);
    if (clauses) policy.rules.push({ clauses, sourceRule: index });
    if (l7.length === 0) return;
    const found = `ztunnel does not support HTTP attributes (found: ${l7.join(', ')}); in ambient mode a waypoint enforces HTTP rules`;
    if (action === 'ALLOW') {
      note({
        code: 'ztunnel-allow-rule-dropped',
        rule: index,
        attributes: l7,
        severity: 'warning',
        message: `${found}. This ALLOW rule is dropped, which is more restrictive than written`,
      });
    } else if (!isEffectiveRule({ clauses: clauses! })) {
      note({
        code: 'ztunnel-deny-rule-noop',
        rule: index,
        attributes: l7,
        severity: 'warning',
        message: `${found}. Without them this DENY rule has a clause no connection can match, so it never denies at ztunnel`,
      });
    } else {
      const kept = clauses!
        .flatMap((c) => c.matches)
        .filter((m) => !isEmptyMatch(m))
        .flatMap((m) => Object.keys(m));
      note({
        code: 'ztunnel-deny-rule-broadened',
        rule: index,
        attributes: l7,
        severity: 'warning',
        message: `${found}. This DENY rule is enforced on its L4 part alone (${[...new Set(kept)].sort().join(', ')}), which denies more than written`,
      });
    }
  });
  if (action === 'ALLOW' && !policy.rules.some(isEffectiveRule)) {
    note({
      code: 'allow-nothing',
      severity: (spec.rules ?? []).length === 0 ? 'info' : 'warning',
      message:
        (spec.rules ?? []).length === 0
          ? 'ALLOW policy without rules: it allows nothing, so its workloads deny every connection no other ALLOW policy allows'
          : 'no rule of this ALLOW policy can match at ztunnel: its workloads deny every connection no other ALLOW policy allows',
    });
  }
  return { policy, notes };
}

// --- PeerAuthentication ---------------------------------------------------------------------------------------------

export const STATIC_STRICT_POLICY = 'istio_converted_static_strict';
export const CONVERTED_PEER_AUTHENTICATION_PREFIX = 'converted_peer_authentication_';

const modeOf = (m: { mode?: MtlsMode } | undefined): MtlsMode => m?.mode ?? 'UNSET';
const isStrict = (m: { mode?: MtlsMode } | undefined) => modeOf(m) === 'STRICT';
const isUnset = (m: { mode?: MtlsMode } | undefined) => modeOf(m) === 'UNSET';
const isPermissiveOrDisable = (m: { mode?: MtlsMode } | undefined) =>
  modeOf(m) === 'PERMISSIVE' || modeOf(m) === 'DISABLE';

const plaintext = (): L4Match => ({ notPrincipals: [{ kind: 'presence', value: '' }] });

/** The DENY istiod sends once any PeerAuthentication exists: deny connections without a peer identity. */
export function staticStrictPolicy(rootNamespace = 'istio-system'): L4Policy {
  return {
    name: STATIC_STRICT_POLICY,
    namespace: rootNamespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    dryRun: false,
    rules: [{ clauses: [{ matches: [plaintext()] }] }],
  };
}

const olderFirst = (a: PeerAuthentication, b: PeerAuthentication) =>
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
  a.metadata.name.localeCompare(b.metadata.name);

/** The oldest policy of a level wins (creationTimestamp, then name). */
export function oldest<T extends PeerAuthentication>(policies: readonly T[]): T | undefined {
  return [...policies].sort(olderFirst)[0];
}

/**
 * The port-level form of a workload PeerAuthentication (istiod's convertPeerAuthentication): undefined when the
 * workload needs none (no selector, root namespace, no portLevelMtls, or nothing differs from the effective mode).
 */
export function convertPeerAuthenticationForZtunnel(
  pa: PeerAuthentication,
  namespacePolicy: PeerAuthentication | undefined,
  rootPolicy: PeerAuthentication | undefined,
  options: ZtunnelConvertOptions = {},
): L4Policy | undefined {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const ns = policyNamespace(pa.metadata, options);
  const spec = pa.spec ?? {};
  const portLevel = spec.portLevelMtls ?? {};
  if (ns === rootNamespace || !spec.selector || Object.keys(portLevel).length === 0) return undefined;
  const mode = modeOf(spec.mtls);
  const clauses: L4Rule['clauses'] = [];
  const rules: L4Rule[] = [];
  if (mode === 'STRICT') clauses.push({ matches: [plaintext()] });
  let foundNonStrictPort = false;
  const nsMtls = namespacePolicy?.spec?.mtls;
  const rootMtls = rootPolicy?.spec?.mtls;
  for (const port of Object.keys(portLevel)
    .map(Number)
    .sort((a, b) => a - b)) {
    const portMtls = portLevel[String(port)];
    if (isStrict(portMtls)) {
      const inherited =
        isStrict(spec.mtls) ||
        (isUnset(spec.mtls) && namespacePolicy !== undefined && isStrict(nsMtls)) ||
        ((namespacePolicy === undefined || isUnset(nsMtls)) && rootPolicy !== undefined && isStrict(rootMtls));
      if (inherited) continue;
      rules.push({ clauses: [{ matches: [{ ...plaintext(), destinationPorts: [port] }] }] });
    } else if (isPermissiveOrDisable(portMtls)) {
      if (mode === 'PERMISSIVE' || mode === 'DISABLE') continue;
      if (
        mode === 'UNSET' &&
        ((namespacePolicy !== undefined && !isStrict(nsMtls)) ||
          (namespacePolicy === undefined && rootPolicy !== undefined && !isStrict(rootMtls)) ||
          (namespacePolicy === undefined && rootPolicy === undefined))
      ) {
        continue;
      }
      foundNonStrictPort = true;
      clauses.push({ matches: [{ notDestinationPorts: [port] }] });
    }
  }
  if (mode === 'STRICT' && !foundNonStrictPort) return undefined;
  if (clauses.length === 0 && rules.length === 0) return undefined;
  const mergeStrict =
    (rootPolicy !== undefined &&
      isStrict(rootMtls) &&
      (namespacePolicy === undefined || isUnset(nsMtls) || isStrict(nsMtls))) ||
    (namespacePolicy !== undefined && isStrict(nsMtls));
  if (mergeStrict && foundNonStrictPort) clauses.push({ matches: [plaintext()] });
  if (clauses.length > 0) rules.push({ clauses });
  return {
    name: `${CONVERTED_PEER_AUTHENTICATION_PREFIX}${pa.metadata.name}`,
    namespace: ns,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    dryRun: false,
    rules,
  };
}

export interface WorkloadRef {
  namespace: string;
  labels?: Readonly<Record<string, string>>;
}

export function selectorMatches(
  matchLabels: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  for (const [k, v] of Object.entries(matchLabels ?? {})) if (labels[k] !== v) return false;
  return true;
}

export interface PeerAuthenticationLevels {
  mesh?: PeerAuthentication;
  namespace?: PeerAuthentication;
  workload?: PeerAuthentication;
}

/** The PeerAuthentication that counts at each level for a workload (the oldest per level). */
export function peerAuthenticationLevels(
  all: readonly PeerAuthentication[],
  workload: WorkloadRef,
  options: ZtunnelConvertOptions = {},
): PeerAuthenticationLevels {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const mesh: PeerAuthentication[] = [];
  const namespace: PeerAuthentication[] = [];
  const selected: PeerAuthentication[] = [];
  for (const pa of all) {
    const ns = policyNamespace(pa.metadata, options);
    const labels = pa.spec?.selector?.matchLabels;
    const hasSelector = labels !== undefined && Object.keys(labels).length > 0;
    if (!hasSelector) {
      if (ns === rootNamespace) mesh.push(pa);
      else if (ns === workload.namespace) namespace.push(pa);
    } else if (ns !== rootNamespace && ns === workload.namespace && selectorMatches(labels, workload.labels)) {
      selected.push(pa);
    }
  }
  return { mesh: oldest(mesh), namespace: oldest(namespace), workload: oldest(selected) };
}

/**
 * The names (`<ns>/<name>`) of the converted PeerAuthentication policies a workload references
 * (istiod's convertedSelectorPeerAuthentications): the static STRICT policy and/or its port-level policy.
 */
export function peerAuthenticationPolicyKeys(
  levels: PeerAuthenticationLevels,
  options: ZtunnelConvertOptions = {},
): string[] {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  let strict = false;
  let portKey = '';
  if (levels.mesh) strict = isStrict(levels.mesh.spec?.mtls);
  if (levels.namespace && !isUnset(levels.namespace.spec?.mtls)) strict = isStrict(levels.namespace.spec?.mtls);
  const w = levels.workload;
  if (w) {
    const spec = w.spec ?? {};
    const key = `${policyNamespace(w.metadata, options)}/${CONVERTED_PEER_AUTHENTICATION_PREFIX}${w.metadata.name}`;
    if (isStrict(spec.mtls)) strict = true;
    if (isPermissiveOrDisable(spec.mtls)) strict = false;
    const portModes = Object.values(spec.portLevelMtls ?? {});
    if (spec.portLevelMtls) {
      const mode = modeOf(spec.mtls);
      if (mode === 'STRICT') {
        if (portModes.some(isPermissiveOrDisable)) {
          portKey = key;
          strict = false;
        }
      } else if (mode === 'PERMISSIVE' || mode === 'DISABLE') {
        if (portModes.some(isStrict)) portKey = key;
      } else if (strict) {
        if (portModes.some((m) => modeOf(m) === 'PERMISSIVE')) {
          portKey = key;
          strict = false;
        }
      } else {
        strict = false;
        if (portModes.some(isStrict)) portKey = key;
      }
    }
  }
  const keys = new Set<string>();
  if (strict) keys.add(`${rootNamespace}/${STATIC_STRICT_POLICY}`);
  if (portKey) keys.add(portKey);
  return [...keys].sort();
}

/** Notes about PeerAuthentications that do not do what they seem to in ambient mode. */
export function peerAuthenticationNotes(pa: PeerAuthentication, options: ZtunnelConvertOptions = {}): CompileNote[] {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const ns = policyNamespace(pa.metadata, options);
  const key = `${ns}/${pa.metadata.name}`;
  const notes: CompileNote[] = [];
  const labels = pa.spec?.selector?.matchLabels;
  if (ns === rootNamespace && labels && Object.keys(labels).length > 0) {
    notes.push({
      code: 'peer-authentication-root-selector',
      policy: key,
      kind: 'PeerAuthentication',
      severity: 'warning',
      message:
        'a PeerAuthentication with a selector in the root namespace is ignored; put it in the workload namespace',
    });
  }
  const modes = [pa.spec?.mtls?.mode, ...Object.values(pa.spec?.portLevelMtls ?? {}).map((m) => m.mode)];
  if (modes.includes('DISABLE')) {
    notes.push({
      code: 'peer-authentication-disable',
      policy: key,
      kind: 'PeerAuthentication',
      severity: 'info',
      message:
        'DISABLE cannot turn off mTLS in ambient mode (HBONE is always mTLS); ztunnel treats it as PERMISSIVE: plaintext is accepted',
    });
  }
  return notes;
}
