// ztunnel's L4 evaluation (src/rbac.rs, state.rs assert_rbac), compiled once per policy and indexed by scope and
// name, so a workload's policies are found in O(1) and a connection is decided without allocating.
import { shadowDecision, type Decision, type Explanation, type PolicyTrace } from '../decision.js';
import { AuthzError } from '../errors.js';
import {
  cidrContains,
  newParsedAddress,
  parseAddressInto,
  parseCidr,
  type Cidr,
  type ParsedAddress,
} from '../match/ip.js';
import { matchString, matchStringRange, type StringMatch } from '../match/strings.js';
import type { CompileNote } from '../notes.js';
import { isEmptyMatch, l4Key, type L4Match, type L4Policy, type ServiceAccountMatch } from './model.js';

/** A connection as the destination ztunnel sees it. */
export interface Connection {
  source: {
    /** Peer identity (`cluster.local/ns/foo/sa/bar`, with or without `spiffe://`); null for plaintext. */
    principal: string | null;
    ip: string;
  };
  /** The destination pod address and target port (after Service resolution). */
  destination: { ip: string; port: number };
}

/** The destination workload: its namespace and the names of the WORKLOAD_SELECTOR policies it lists. */
export interface WorkloadPolicyRef {
  namespace: string;
  /** `Workload.authorization_policies`: `<namespace>/<name>` keys. Unknown names are skipped, as ztunnel does. */
  policies?: readonly string[];
}

interface CompiledMatch {
  ns: StringMatch[] | null;
  notNs: StringMatch[] | null;
  pr: StringMatch[] | null;
  notPr: StringMatch[] | null;
  src: Cidr[] | null;
  notSrc: Cidr[] | null;
  dst: Cidr[] | null;
  notDst: Cidr[] | null;
  ports: number[] | null;
  notPorts: number[] | null;
  sa: ServiceAccountMatch[] | null;
  notSa: ServiceAccountMatch[] | null;
}

interface CompiledRule {
  /** Clauses; each is the list of its non-empty matches, or null for a clause with no matches (true). */
  clauses: (CompiledMatch[] | null)[];
  /** The rule's index for explanations. */
  index: number;
  decision: Decision;
}

export interface CompiledL4Policy {
  readonly key: string;
  readonly policy: L4Policy;
  readonly rules: readonly CompiledRule[];
}

const list = <T, U>(values: readonly T[] | undefined, map: (v: T) => U | undefined): U[] | null => {
  if (!values || values.length === 0) return null;
  const out: U[] = [];
  for (const v of values) {
    const u = map(v);
    if (u !== undefined) out.push(u);
  }
  // ztunnel drops entries it cannot parse; a list left empty behaves as unset.
  return out.length > 0 ? out : null;
};

function compileMatch(m: L4Match): CompiledMatch {
  return {
    ns: list(m.namespaces, (v) => v),
    notNs: list(m.notNamespaces, (v) => v),
    pr: list(m.principals, (v) => v),
    notPr: list(m.notPrincipals, (v) => v),
    src: list(m.sourceIps, parseCidr),
    notSrc: list(m.notSourceIps, parseCidr),
    dst: list(m.destinationIps, parseCidr),
    notDst: list(m.notDestinationIps, parseCidr),
    // The wire carries uint32; ztunnel truncates to u16.
    ports: list(m.destinationPorts, (p) => p & 0xffff),
    notPorts: list(m.notDestinationPorts, (p) => p & 0xffff),
    sa: list(m.serviceAccounts, (v) => v),
    notSa: list(m.notServiceAccounts, (v) => v),
  };
}

const freeze = (d: Decision): Decision => Object.freeze(d);

export function compileL4Policy(policy: L4Policy): CompiledL4Policy {
  const key = l4Key(policy);
  const rules = policy.rules.map((rule, i): CompiledRule => {
    const index = rule.sourceRule ?? i;
    return {
      index,
      clauses: rule.clauses.map((c) =>
        c.matches.length === 0 ? null : c.matches.filter((m) => !isEmptyMatch(m)).map(compileMatch),
      ),
      decision: freeze({
        decision: policy.action === 'DENY' ? 'deny' : 'allow',
        policy: key,
        rule: index,
        at: 'ztunnel',
        reason:
          policy.action === 'DENY'
            ? `denied by DENY policy ${key} (rule ${index})`
            : `allowed by ALLOW policy ${key} (rule ${index})`,
      }),
    };
  });
  return { key, policy, rules };
}

// --- per-connection scratch (single-threaded; never escapes a call) -------------------------------------------------

interface Scratch {
  hasId: boolean;
  id: string;
  idStart: number;
  nsStart: number;
  nsEnd: number;
  saStart: number;
  src: ParsedAddress;
  dst: ParsedAddress;
  port: number;
}

const scratch: Scratch = {
  hasId: false,
  id: '',
  idStart: 0,
  nsStart: 0,
  nsEnd: 0,
  saStart: 0,
  src: newParsedAddress(),
  dst: newParsedAddress(),
  port: 0,
};

function invalid(message: string): never {
  throw new AuthzError('ERR_AUTHZ_INVALID_REQUEST', message);
}

/** Parses `[spiffe://]<td>/ns/<ns>/sa/<sa>` into index ranges of `scratch`. */
function loadIdentity(principal: string | null): void {
  if (principal === null || principal === undefined) {
    scratch.hasId = false;
    scratch.id = '';
    return;
  }
  const start = principal.startsWith('spiffe://') ? 9 : 0;
  const ns = principal.indexOf('/ns/', start);
  const sa = ns === -1 ? -1 : principal.indexOf('/sa/', ns + 4);
  if (
    ns <= start ||
    principal.indexOf('/', start) !== ns ||
    sa === -1 ||
    principal.indexOf('/', ns + 4) !== sa ||
    principal.indexOf('/', sa + 4) !== -1 ||
    sa + 4 >= principal.length ||
    sa === ns + 4
  ) {
    invalid(
      `source principal "${principal}" is not a SPIFFE identity of the form <trust-domain>/ns/<namespace>/sa/<serviceaccount>`,
    );
  }
  scratch.hasId = true;
  scratch.id = principal;
  scratch.idStart = start;
  scratch.nsStart = ns + 4;
  scratch.nsEnd = sa;
  scratch.saStart = sa + 4;
}

function load(conn: Connection): void {
  loadIdentity(conn.source.principal);
  if (!parseAddressInto(conn.source.ip, scratch.src)) invalid(`source ip "${conn.source.ip}" is not an IP address`);
  if (!parseAddressInto(conn.destination.ip, scratch.dst))
    invalid(`destination ip "${conn.destination.ip}" is not an IP address`);
  const port = conn.destination.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) invalid(`destination port ${port} is not a port number`);
  scratch.port = port;
}

function anyCidr(cidrs: Cidr[], a: ParsedAddress): boolean {
  for (let i = 0; i < cidrs.length; i++) if (cidrContains(cidrs[i]!, a)) return true;
  return false;
}

function anyPort(ports: number[], port: number): boolean {
  for (let i = 0; i < ports.length; i++) if (ports[i] === port) return true;
  return false;
}

function anyPrincipal(matches: StringMatch[]): boolean {
  if (!scratch.hasId) return false;
  const id = scratch.id;
  for (let i = 0; i < matches.length; i++) {
    if (matchStringRange(matches[i]!, id, scratch.idStart, id.length)) return true;
  }
  return false;
}

function anyNamespace(matches: StringMatch[]): boolean {
  if (!scratch.hasId) {
    // ztunnel compares the empty namespace of a missing identity.
    for (let i = 0; i < matches.length; i++) if (matchString(matches[i]!, '')) return true;
    return false;
  }
  for (let i = 0; i < matches.length; i++) {
    if (matchStringRange(matches[i]!, scratch.id, scratch.nsStart, scratch.nsEnd)) return true;
  }
  return false;
}

function anyServiceAccount(matches: ServiceAccountMatch[]): boolean {
  if (!scratch.hasId) return false;
  const id = scratch.id;
  const nsLength = scratch.nsEnd - scratch.nsStart;
  const saLength = id.length - scratch.saStart;
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i]!;
    if (
      m.namespace.length === nsLength &&
      m.serviceAccount.length === saLength &&
      id.startsWith(m.namespace, scratch.nsStart) &&
      id.startsWith(m.serviceAccount, scratch.saStart)
    ) {
      return true;
    }
  }
  return false;
}

// Every populated field must hold, so the order only changes the cost: cheapest first.
function matchOne(m: CompiledMatch): boolean {
  if (m.ports !== null && !anyPort(m.ports, scratch.port)) return false;
  if (m.notPorts !== null && anyPort(m.notPorts, scratch.port)) return false;
  if (m.ns !== null && !anyNamespace(m.ns)) return false;
  if (m.notNs !== null && anyNamespace(m.notNs)) return false;
  if (m.pr !== null && !anyPrincipal(m.pr)) return false;
  if (m.notPr !== null && anyPrincipal(m.notPr)) return false;
  if (m.sa !== null && !anyServiceAccount(m.sa)) return false;
  if (m.notSa !== null && anyServiceAccount(m.notSa)) return false;
  if (m.src !== null && !anyCidr(m.src, scratch.src)) return false;
  if (m.notSrc !== null && anyCidr(m.notSrc, scratch.src)) return false;
  if (m.dst !== null && !anyCidr(m.dst, scratch.dst)) return false;
  if (m.notDst !== null && anyCidr(m.notDst, scratch.dst)) return false;
  return true;
}

/** Whether one rule matches the loaded connection. */
function ruleMatchesLoaded(rule: CompiledRule): boolean {
  for (let c = 0; c < rule.clauses.length; c++) {
    const clause = rule.clauses[c]!;
    if (clause === null) continue;
    let any = false;
    for (let i = 0; i < clause.length; i++) {
      if (matchOne(clause[i]!)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

/** The first matching rule of a policy, or null. Expects `load()` to have run. */
function firstMatch(policy: CompiledL4Policy): CompiledRule | null {
  const rules = policy.rules;
  for (let r = 0; r < rules.length; r++) if (ruleMatchesLoaded(rules[r]!)) return rules[r]!;
  return null;
}

// --- per-workload rule index ------------------------------------------------------------------------------------------
//
// A workload's DENY rules then ALLOW rules get ordinals in evaluation order. Each rule is filed under the attribute one
// of its clauses requires: an exact principal, a namespace (exact, a service account's, or pinned by a principal
// prefix/suffix), or a destination port; rules with no such clause go to `always`. A connection looks up its principal, namespace and port (no
// allocation: the namespace is hashed in place) and merges the few candidate lists by ordinal, so the first rule that
// matches is the same one a full scan would find.

interface Entry {
  ordinal: number;
  rule: CompiledRule;
}

const NO_ENTRIES: Entry[] = [];

function hashRange(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const allExact = (ms: StringMatch[] | null): ms is StringMatch[] =>
  ms !== null && ms.every((m) => m.kind === 'exact' && m.value.length > 0);

/**
 * The namespace a principal match pins, if any: `<td>/ns/<ns>/…*` prefixes and `*…/ns/<ns>/sa/<sa>` suffixes (an
 * identity is always `<td>/ns/<ns>/sa/<sa>`, and service accounts have no "/").
 */
export function pinnedNamespace(m: StringMatch): string | undefined {
  if (m.kind === 'prefix') return /^[^/]+\/ns\/([^/]+)\//.exec(m.value)?.[1];
  if (m.kind === 'suffix') return /\/ns\/([^/]+)\/sa\/[^/]+$/.exec(m.value)?.[1];
  return undefined;
}

const allPinned = (ms: StringMatch[] | null): ms is StringMatch[] =>
  ms !== null && ms.every((m) => (m.kind === 'exact' && m.value.length > 0) || pinnedNamespace(m) !== undefined);

interface RuleIndex {
  byPrincipal: Map<string, Entry[]>;
  byNamespace: Map<number, Entry[]>;
  byPort: Map<number, Entry[]>;
  always: Entry[];
}

function buildRuleIndex(policies: readonly CompiledL4Policy[]): RuleIndex {
  const index: RuleIndex = { byPrincipal: new Map(), byNamespace: new Map(), byPort: new Map(), always: [] };
  const add = <K>(map: Map<K, Entry[]>, key: K, e: Entry) => {
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    if (list[list.length - 1] !== e) list.push(e);
  };
  let ordinal = 0;
  for (const p of policies) {
    for (const rule of p.rules) {
      const e: Entry = { ordinal: ordinal++, rule };
      // A clause left with no non-empty Match can never match: neither can the rule.
      if (rule.clauses.some((c) => c !== null && c.length === 0)) continue;
      // Prefer a clause that pins the identity (few rules per principal or namespace) over one that pins a port.
      const byIdentity = (m: CompiledMatch) => allPinned(m.pr) || m.sa !== null || allExact(m.ns);
      const clause =
        rule.clauses.find((c): c is CompiledMatch[] => c !== null && c.every(byIdentity)) ??
        rule.clauses.find((c): c is CompiledMatch[] => c !== null && c.every((m) => byIdentity(m) || m.ports !== null));
      if (!clause) {
        index.always.push(e);
        continue;
      }
      for (const m of clause) {
        if (allPinned(m.pr)) {
          for (const v of m.pr) {
            const ns = pinnedNamespace(v);
            if (ns !== undefined) {
              add(index.byNamespace, hashRange(ns, 0, ns.length), e);
            } else {
              add(index.byPrincipal, v.value, e);
              add(index.byPrincipal, `spiffe://${v.value}`, e);
            }
          }
        } else if (m.sa !== null) {
          for (const sa of m.sa) add(index.byNamespace, hashRange(sa.namespace, 0, sa.namespace.length), e);
        } else if (allExact(m.ns)) {
          for (const v of m.ns) add(index.byNamespace, hashRange(v.value, 0, v.value.length), e);
        } else {
          for (const port of m.ports!) add(index.byPort, port, e);
        }
      }
    }
  }
  const byOrdinal = (a: Entry, b: Entry) => a.ordinal - b.ordinal;
  for (const map of [index.byPrincipal, index.byNamespace, index.byPort] as Map<unknown, Entry[]>[]) {
    for (const list of map.values()) list.sort(byOrdinal);
  }
  return index;
}

function shadowOfL4(
  deny: CompiledL4Policy[],
  allow: CompiledL4Policy[],
  matched: Map<CompiledL4Policy, CompiledRule | null>,
) {
  const candidate = (p: CompiledL4Policy) => ({
    key: p.key,
    dryRun: p.policy.dryRun,
    matchedRule: matched.get(p)?.index ?? null,
  });
  return shadowDecision(deny.map(candidate), allow.map(candidate));
}

// --- the index ------------------------------------------------------------------------------------------------------

const ALLOW_DEFAULT: Decision = freeze({
  decision: 'allow',
  policy: null,
  rule: null,
  at: 'ztunnel',
  reason: 'allowed: no ALLOW policy applies to the destination workload',
});
const DENY_DEFAULT: Decision = freeze({
  decision: 'deny',
  policy: null,
  rule: null,
  at: 'ztunnel',
  reason: 'denied: ALLOW policies apply to the destination workload, but none matched',
});

/** The policies that apply to one workload, ready to decide connections. Revalidates itself when the index changes. */
export class WorkloadAuthorizer {
  #index: L4PolicyIndex;
  #ref: WorkloadPolicyRef;
  #generation = -1;
  #deny: CompiledL4Policy[] = [];
  #allow: CompiledL4Policy[] = [];
  #dryRun: CompiledL4Policy[] = [];
  #all: CompiledL4Policy[] = [];
  #rules: RuleIndex = { byPrincipal: new Map(), byNamespace: new Map(), byPort: new Map(), always: [] };

  constructor(index: L4PolicyIndex, ref: WorkloadPolicyRef) {
    this.#index = index;
    this.#ref = { namespace: ref.namespace, ...(ref.policies ? { policies: [...ref.policies] } : {}) };
  }

  #refresh(): void {
    if (this.#generation === this.#index.generation) return;
    this.#all = this.#index.applicable(this.#ref);
    this.#deny = this.#all.filter((p) => p.policy.action === 'DENY' && !p.policy.dryRun);
    this.#allow = this.#all.filter((p) => p.policy.action === 'ALLOW' && !p.policy.dryRun);
    this.#dryRun = this.#all.filter((p) => p.policy.dryRun);
    this.#rules = buildRuleIndex([...this.#deny, ...this.#allow]);
    this.#generation = this.#index.generation;
  }

  /** Decides a connection: a frozen, shared Decision (no allocation on this path). */
  authorize(conn: Connection): Decision {
    this.#refresh();
    load(conn);
    const index = this.#rules;
    const a = scratch.hasId ? (index.byPrincipal.get(scratch.id) ?? NO_ENTRIES) : NO_ENTRIES;
    const b = scratch.hasId
      ? (index.byNamespace.get(hashRange(scratch.id, scratch.nsStart, scratch.nsEnd)) ?? NO_ENTRIES)
      : NO_ENTRIES;
    const c = index.byPort.get(scratch.port) ?? NO_ENTRIES;
    const d = index.always;
    let ia = 0;
    let ib = 0;
    let ic = 0;
    let id = 0;
    let last = -1;
    for (;;) {
      let best: Entry | undefined;
      let which = 0;
      if (ia < a.length) {
        best = a[ia]!;
        which = 1;
      }
      if (ib < b.length && (best === undefined || b[ib]!.ordinal < best.ordinal)) {
        best = b[ib]!;
        which = 2;
      }
      if (ic < c.length && (best === undefined || c[ic]!.ordinal < best.ordinal)) {
        best = c[ic]!;
        which = 3;
      }
      if (id < d.length && (best === undefined || d[id]!.ordinal < best.ordinal)) {
        best = d[id]!;
        which = 4;
      }
      if (best === undefined) break;
      if (which === 1) ia++;
      else if (which === 2) ib++;
      else if (which === 3) ic++;
      else id++;
      if (best.ordinal === last) continue;
      last = best.ordinal;
      if (ruleMatchesLoaded(best.rule)) return best.rule.decision;
    }
    return this.#allow.length === 0 ? ALLOW_DEFAULT : DENY_DEFAULT;
  }

  /** Decides by scanning every applicable rule in order, without the rule index (reference for tests). */
  authorizeByScan(conn: Connection): Decision {
    this.#refresh();
    load(conn);
    for (const p of this.#deny) {
      const rule = firstMatch(p);
      if (rule !== null) return rule.decision;
    }
    if (this.#allow.length === 0) return ALLOW_DEFAULT;
    for (const p of this.#allow) {
      const rule = firstMatch(p);
      if (rule !== null) return rule.decision;
    }
    return DENY_DEFAULT;
  }

  /** The decision with everything that led to it: each applicable policy, dry-run results, and compile notes. */
  explain(conn: Connection, notes: readonly CompileNote[] = []): Explanation {
    this.#refresh();
    const decision = this.authorize(conn);
    load(conn);
    const evaluated: PolicyTrace[] = [];
    const order = [
      ...this.#dryRun.filter((p) => p.policy.action === 'DENY'),
      ...this.#deny,
      ...this.#allow,
      ...this.#dryRun.filter((p) => p.policy.action === 'ALLOW'),
    ];
    const matched = new Map<CompiledL4Policy, CompiledRule | null>();
    for (const p of order) {
      const rule = firstMatch(p);
      matched.set(p, rule);
      evaluated.push({
        policy: p.key,
        action: p.policy.action,
        dryRun: p.policy.dryRun,
        matchedRule: rule?.index ?? null,
        via:
          p.policy.scope === 'GLOBAL'
            ? 'scope GLOBAL'
            : p.policy.scope === 'NAMESPACE'
              ? `scope NAMESPACE (${p.policy.namespace})`
              : 'the workload’s policy list',
      });
    }
    const keys = new Set(this.#all.map((p) => p.key));
    const out: Explanation = {
      ...decision,
      audit: [],
      custom: [],
      evaluated,
      notes: notes.filter((n) => keys.has(n.policy) && (n.at === undefined || n.at === 'ztunnel')),
    };
    if (this.#dryRun.length > 0)
      out.shadow = shadowOfL4(
        [...this.#deny, ...this.#dryRun.filter((p) => p.policy.action === 'DENY')],
        [...this.#allow, ...this.#dryRun.filter((p) => p.policy.action === 'ALLOW')],
        matched,
      );
    return out;
  }

  /** Keys of the policies that apply, in evaluation order (DENY first). */
  policies(): string[] {
    this.#refresh();
    return [...this.#deny, ...this.#allow, ...this.#dryRun].map((p) => p.key);
  }
}

/**
 * ztunnel's policy store: Authorization resources by name, indexed by scope. Upserts and deletes are O(1) plus the
 * policy's own compilation; WorkloadAuthorizers notice changes through `generation`.
 */
export class L4PolicyIndex {
  #byKey = new Map<string, CompiledL4Policy>();
  #global = new Set<string>();
  #byNamespace = new Map<string, Set<string>>();
  #generation = 0;

  constructor(policies: Iterable<L4Policy> = []) {
    for (const p of policies) this.upsert(p);
  }

  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#byKey.size;
  }

  upsert(policy: L4Policy): void {
    const compiled = compileL4Policy(policy);
    this.delete(compiled.key);
    this.#byKey.set(compiled.key, compiled);
    if (policy.scope === 'GLOBAL') this.#global.add(compiled.key);
    else if (policy.scope === 'NAMESPACE') {
      let set = this.#byNamespace.get(policy.namespace);
      if (!set) this.#byNamespace.set(policy.namespace, (set = new Set()));
      set.add(compiled.key);
    }
    this.#generation++;
  }

  delete(key: string): boolean {
    const existing = this.#byKey.get(key);
    if (!existing) return false;
    this.#byKey.delete(key);
    this.#global.delete(key);
    this.#byNamespace.get(existing.policy.namespace)?.delete(key);
    this.#generation++;
    return true;
  }

  get(key: string): L4Policy | undefined {
    return this.#byKey.get(key)?.policy;
  }

  policies(): L4Policy[] {
    return [...this.#byKey.values()].map((c) => c.policy);
  }

  /** GLOBAL policies, the workload namespace's NAMESPACE policies, and the named WORKLOAD_SELECTOR ones. */
  applicable(ref: WorkloadPolicyRef): CompiledL4Policy[] {
    const keys = new Set<string>([...this.#global, ...(this.#byNamespace.get(ref.namespace) ?? [])]);
    for (const k of ref.policies ?? []) keys.add(k);
    const out: CompiledL4Policy[] = [];
    for (const k of [...keys].sort()) {
      const p = this.#byKey.get(k);
      if (p) out.push(p);
    }
    return out;
  }

  forWorkload(ref: WorkloadPolicyRef): WorkloadAuthorizer {
    return new WorkloadAuthorizer(this, ref);
  }
}
