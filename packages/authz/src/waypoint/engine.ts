// The waypoint's authorization: policies attached with targetRefs, indexed by target, evaluated in Istio's order
// (CUSTOM, then DENY, then ALLOW; AUDIT recorded; dry-run in shadow).
import {
  shadowDecision,
  type Decision,
  type DecisionValue,
  type Explanation,
  type PolicyTrace,
  type ShadowDecision,
} from '../decision.js';
import type { CompileNote } from '../notes.js';
import type { AuthorizationPolicy, PolicyAction, PolicyTargetReference } from '../types.js';
import { policyContext } from '../policy.js';
import { requestContext, type ContextOptions, type RequestContext, type WaypointRequest } from './attributes.js';
import { compileL7Rule, ruleMatches, type CompiledL7Rule, type TrustDomainBundle } from './compile.js';

export interface WaypointOptions extends ContextOptions {
  rootNamespace?: string;
  defaultNamespace?: string;
  trustDomain?: string;
  trustDomainAliases?: readonly string[];
  /**
   * MeshConfig extensionProviders names. When given, a CUSTOM policy naming another provider denies the requests its
   * rules match (fail closed). When omitted, every provider is taken as defined.
   */
  extensionProviders?: readonly string[];
  /** PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS (default false: a target with two providers denies matching requests). */
  multipleCustomProviders?: boolean;
  /**
   * The external authorizer's verdict for a CUSTOM policy whose rules matched. Without it the engine assumes "allow"
   * (evaluation continues to DENY and ALLOW) and says so in the explanation.
   */
  customDecision?: (input: { provider: string; policy: string; request: WaypointRequest }) => DecisionValue;
}

export interface CompiledL7Policy {
  key: string;
  action: PolicyAction;
  provider: string;
  dryRun: boolean;
  rules: CompiledL7Rule[];
  /** The targets it attaches to, as index keys. */
  targets: string[];
}

export const gatewayKey = (ns: string, name: string) => `Gateway/${ns}/${name}`;
export const serviceKey = (ns: string, name: string) => `Service/${ns}/${name}`;
export const serviceEntryKey = (ns: string, name: string) => `ServiceEntry/${ns}/${name}`;
const WAYPOINT_CLASS = 'GatewayClass/istio-waypoint';

function targetKey(ref: PolicyTargetReference, ns: string, rootNamespace: string): { key?: string; problem?: string } {
  const group = ref.group ?? '';
  if (ref.namespace && ref.namespace !== ns)
    return { problem: `targetRef namespace ${ref.namespace} differs from the policy's; it never matches` };
  if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway') return { key: gatewayKey(ns, ref.name) };
  if (group === 'gateway.networking.k8s.io' && ref.kind === 'GatewayClass') {
    if (ns !== rootNamespace)
      return { problem: `a GatewayClass targetRef only counts in the root namespace (${rootNamespace})` };
    if (ref.name !== 'istio-waypoint')
      return { problem: `GatewayClass ${ref.name} is not istio-waypoint, so no waypoint enforces it` };
    return { key: WAYPOINT_CLASS };
  }
  if ((group === '' || group === 'core') && ref.kind === 'Service') return { key: serviceKey(ns, ref.name) };
  if (group === 'networking.istio.io' && ref.kind === 'ServiceEntry') return { key: serviceEntryKey(ns, ref.name) };
  return { problem: `targetRef ${group || 'core'}/${ref.kind} is not a waypoint target` };
}

export function compileWaypointPolicy(
  ap: AuthorizationPolicy,
  options: WaypointOptions = {},
): { policy?: CompiledL7Policy; notes: CompileNote[] } {
  const { rootNamespace, namespace: ns, key, spec, notes, note, dryRun } = policyContext(ap, options, 'waypoint');
  const refs = spec.targetRefs ?? (spec.targetRef ? [spec.targetRef] : []);
  if (refs.length === 0) {
    note({
      code: 'waypoint-not-attached',
      severity: 'info',
      message: `${spec.selector ? 'selector' : ns === rootNamespace ? 'mesh-wide' : 'namespace-wide'} policy: waypoints ignore it (ztunnel enforces it at L4); attach it with targetRefs to enforce it at a waypoint`,
    });
    return { notes };
  }
  const targets: string[] = [];
  refs.forEach((ref, i) => {
    const t = targetKey(ref, ns, rootNamespace);
    if (t.key) targets.push(t.key);
    else
      note({
        code: 'waypoint-target-invalid',
        severity: 'warning',
        message: `${spec.targetRefs ? `targetRefs[${i}]` : 'targetRef'}: ${t.problem}`,
      });
  });
  const bundle: TrustDomainBundle = {
    trustDomains: [options.trustDomain ?? 'cluster.local', ...(options.trustDomainAliases ?? [])],
  };
  const action = spec.action ?? 'ALLOW';
  const provider = spec.provider?.name ?? '';
  if (action === 'CUSTOM' && options.extensionProviders && !options.extensionProviders.includes(provider)) {
    note({
      code: 'custom-provider-unknown',
      severity: 'warning',
      message: `extension provider "${provider}" is not defined in the mesh config: requests this policy matches are denied`,
    });
  }
  if (action === 'ALLOW' && (spec.rules ?? []).length === 0) {
    note({
      code: 'allow-nothing',
      severity: 'info',
      message:
        'ALLOW policy without rules: it allows nothing, so its targets deny every request no other ALLOW policy allows',
    });
  }
  return {
    policy: {
      key,
      action,
      provider,
      dryRun: dryRun,
      rules: (spec.rules ?? []).map((r, i) => compileL7Rule(r, i, ns, bundle)),
      targets,
    },
    notes,
  };
}

const deny403 = (policy: string | null, rule: number | null, reason: string): Decision =>
  Object.freeze({ decision: 'deny', policy, rule, reason, at: 'waypoint', httpStatus: 403 });
const allowed = (policy: string | null, rule: number | null, reason: string): Decision =>
  Object.freeze({ decision: 'allow', policy, rule, reason, at: 'waypoint' });

const ALLOW_NO_POLICY = allowed(null, null, 'allowed: no ALLOW policy applies at this waypoint target');
const DENY_NONE_MATCHED = deny403(null, null, 'denied: ALLOW policies apply at this waypoint target, but none matched');
const rejected = (reason: string): Decision =>
  Object.freeze({
    decision: 'deny',
    policy: null,
    rule: null,
    at: 'waypoint',
    httpStatus: 400,
    reason: `rejected before authorization: ${reason}`,
  });

interface Applicable {
  policies: { policy: CompiledL7Policy; via: string }[];
  providers: Set<string>;
  /** Enforced CUSTOM policies. */
  custom: CompiledL7Policy[];
  hasAllow: boolean;
  /** Enforced DENY then ALLOW rules, by ordinal; filed by exact principal when every source requires one. */
  byPrincipal: Map<string, RuleEntry[]>;
  always: RuleEntry[];
}

interface RuleEntry {
  ordinal: number;
  rule: CompiledL7Rule;
  deny: boolean;
  decision: Decision;
}

const NO_RULES: RuleEntry[] = [];

/** The waypoint enforcement point: a target index of compiled policies. */
export class WaypointAuthorizer {
  #byTarget = new Map<string, CompiledL7Policy[]>();
  #options: WaypointOptions;
  #notes: CompileNote[];

  constructor(policies: readonly CompiledL7Policy[], notes: readonly CompileNote[], options: WaypointOptions = {}) {
    this.#options = options;
    this.#notes = [...notes];
    for (const p of policies) {
      for (const t of p.targets) {
        let list = this.#byTarget.get(t);
        if (!list) this.#byTarget.set(t, (list = []));
        list.push(p);
      }
    }
    for (const list of this.#byTarget.values()) list.sort((a, b) => a.key.localeCompare(b.key));
  }

  #cache = new Map<string, Applicable>();

  #applicable(req: WaypointRequest): Applicable {
    const svc = req.service;
    const cacheKey = `${req.waypoint.namespace}/${req.waypoint.name}|${svc ? `${svc.kind ?? 'Service'}/${svc.namespace}/${svc.name}` : ''}`;
    const cached = this.#cache.get(cacheKey);
    if (cached) return cached;
    const policies: Applicable['policies'] = [];
    const seen = new Set<CompiledL7Policy>();
    const add = (key: string, via: string) => {
      for (const p of this.#byTarget.get(key) ?? []) {
        if (seen.has(p)) continue;
        seen.add(p);
        policies.push({ policy: p, via });
      }
    };
    add(WAYPOINT_CLASS, 'GatewayClass istio-waypoint');
    add(
      gatewayKey(req.waypoint.namespace, req.waypoint.name),
      `Gateway ${req.waypoint.namespace}/${req.waypoint.name}`,
    );
    if (svc) {
      const kind = svc.kind ?? 'Service';
      const key =
        kind === 'ServiceEntry' ? serviceEntryKey(svc.namespace, svc.name) : serviceKey(svc.namespace, svc.name);
      add(key, `${kind} ${svc.namespace}/${svc.name}`);
    }
    const enforced = policies.map((p) => p.policy).filter((p) => !p.dryRun);
    const providers = new Set(enforced.filter((p) => p.action === 'CUSTOM').map((p) => p.provider));
    const byPrincipal = new Map<string, RuleEntry[]>();
    const always: RuleEntry[] = [];
    let ordinal = 0;
    for (const p of [...enforced.filter((x) => x.action === 'DENY'), ...enforced.filter((x) => x.action === 'ALLOW')]) {
      const deny = p.action === 'DENY';
      for (const rule of p.rules) {
        const e: RuleEntry = {
          ordinal: ordinal++,
          rule,
          deny,
          decision: deny
            ? deny403(p.key, rule.index, `denied by DENY policy ${p.key} (rule ${rule.index})`)
            : allowed(p.key, rule.index, `allowed by ALLOW policy ${p.key} (rule ${rule.index})`),
        };
        if (rule.principals === null) {
          always.push(e);
          continue;
        }
        for (const principal of rule.principals) {
          let list = byPrincipal.get(principal);
          if (!list) byPrincipal.set(principal, (list = []));
          if (list[list.length - 1] !== e) list.push(e);
        }
      }
    }
    const applicable: Applicable = {
      policies,
      providers,
      custom: enforced.filter((p) => p.action === 'CUSTOM'),
      hasAllow: enforced.some((p) => p.action === 'ALLOW'),
      byPrincipal,
      always,
    };
    this.#cache.set(cacheKey, applicable);
    return applicable;
  }

  #firstMatch(p: CompiledL7Policy, ctx: RequestContext): CompiledL7Rule | null {
    const deny = p.action === 'DENY';
    for (const r of p.rules) if (ruleMatches(r, ctx, deny)) return r;
    return null;
  }

  /** Decides a request (the enforcement path; `explain` adds the trace, dry-run shadow, AUDIT and notes). */
  authorize(req: WaypointRequest): Decision {
    const applicable = this.#applicable(req);
    if (applicable.custom.length > 0) return this.#evaluate(req, false);
    const built = requestContext(req, this.#options);
    if (!built.ok) return rejected(built.reason);
    const ctx = built.ctx;
    const a = (ctx.principal !== null && applicable.byPrincipal.get(ctx.principal)) || NO_RULES;
    const b = applicable.always;
    let ia = 0;
    let ib = 0;
    let last = -1;
    for (;;) {
      let e: RuleEntry;
      if (ia < a.length && (ib >= b.length || a[ia]!.ordinal < b[ib]!.ordinal)) e = a[ia++]!;
      else if (ib < b.length) e = b[ib++]!;
      else break;
      if (e.ordinal === last) continue;
      last = e.ordinal;
      if (ruleMatches(e.rule, ctx, e.deny)) return e.decision;
    }
    return applicable.hasAllow ? DENY_NONE_MATCHED : ALLOW_NO_POLICY;
  }

  explain(req: WaypointRequest): Explanation {
    return this.#evaluate(req, true) as Explanation;
  }

  /** Decides by evaluating every applicable policy in order, without the rule index (reference for tests and benchmarks). */
  authorizeByScan(req: WaypointRequest): Decision {
    return this.#evaluate(req, false);
  }

  #evaluate(req: WaypointRequest, explain: boolean): Decision | Explanation {
    const built = requestContext(req, this.#options);
    const applicable = this.#applicable(req);
    const related = explain ? this.#relatedNotes(req, applicable) : [];
    if (!built.ok) {
      const d = rejected(built.reason);
      return explain ? { ...d, audit: [], custom: [], evaluated: [], notes: related } : d;
    }
    const ctx = built.ctx;
    const matched = new Map<CompiledL7Policy, CompiledL7Rule | null>();
    const evaluated: PolicyTrace[] = [];
    const order: PolicyAction[] = ['CUSTOM', 'DENY', 'ALLOW', 'AUDIT'];
    for (const action of order) {
      for (const { policy, via } of applicable.policies) {
        if (policy.action !== action) continue;
        const rule = this.#firstMatch(policy, ctx);
        matched.set(policy, rule);
        evaluated.push({ policy: policy.key, action, dryRun: policy.dryRun, matchedRule: rule?.index ?? null, via });
      }
    }
    const enforced = applicable.policies.map((a) => a.policy).filter((p) => !p.dryRun);
    const custom: Explanation['custom'] = [];
    const conflict = !this.#options.multipleCustomProviders && applicable.providers.size > 1;
    let decision: Decision | undefined;
    let assumedCustom = false;
    for (const p of enforced.filter((x) => x.action === 'CUSTOM')) {
      const rule = matched.get(p);
      if (!rule) continue;
      const unknown =
        this.#options.extensionProviders !== undefined && !this.#options.extensionProviders.includes(p.provider);
      let verdict: DecisionValue;
      let why: string;
      if (unknown) {
        verdict = 'deny';
        why = `CUSTOM policy ${p.key} (rule ${rule.index}) names extension provider "${p.provider}", which the mesh config does not define (fail closed)`;
      } else if (conflict) {
        verdict = 'deny';
        why = `CUSTOM policy ${p.key} (rule ${rule.index}): this target's CUSTOM policies name several providers (${[...applicable.providers].sort().join(', ')}), which Istio rejects by denying`;
      } else if (this.#options.customDecision) {
        verdict = this.#options.customDecision({ provider: p.provider, policy: p.key, request: req });
        why = `denied by the external authorizer "${p.provider}" (CUSTOM policy ${p.key}, rule ${rule.index})`;
      } else {
        verdict = 'allow';
        assumedCustom = true;
        why = '';
      }
      custom.push({ policy: p.key, provider: p.provider, decision: verdict });
      if (verdict === 'deny' && !decision) decision = deny403(p.key, rule.index, why);
    }
    if (!decision) {
      for (const p of enforced.filter((x) => x.action === 'DENY')) {
        const rule = matched.get(p);
        if (rule) {
          decision = deny403(p.key, rule.index, `denied by DENY policy ${p.key} (rule ${rule.index})`);
          break;
        }
      }
    }
    if (!decision) {
      const allowPolicies = enforced.filter((x) => x.action === 'ALLOW');
      if (allowPolicies.length === 0) {
        decision = ALLOW_NO_POLICY;
      } else {
        for (const p of allowPolicies) {
          const rule = matched.get(p);
          if (rule) {
            decision = allowed(p.key, rule.index, `allowed by ALLOW policy ${p.key} (rule ${rule.index})`);
            break;
          }
        }
        decision ??= DENY_NONE_MATCHED;
      }
    }
    if (assumedCustom && decision.decision === 'allow') {
      const names = custom.map((c) => `"${c.provider}"`).join(', ');
      decision = allowed(
        decision.policy,
        decision.rule,
        `${decision.reason}; the external authorizer ${names} was consulted and assumed to allow (pass customDecision to model it)`,
      );
    }
    if (!explain) return decision;
    const audit = enforced.filter((p) => p.action === 'AUDIT' && matched.get(p)).map((p) => p.key);
    const out: Explanation = { ...decision, audit, custom, evaluated, notes: related };
    const dry = applicable.policies.map((a) => a.policy).filter((p) => p.dryRun);
    if (dry.length > 0) out.shadow = this.#shadow(applicable, matched);
    return out;
  }

  #shadow(applicable: Applicable, matched: Map<CompiledL7Policy, CompiledL7Rule | null>): ShadowDecision {
    const all = applicable.policies.map((a) => a.policy);
    const candidates = (action: PolicyAction) =>
      all
        .filter((p) => p.action === action)
        .map((p) => ({ key: p.key, dryRun: p.dryRun, matchedRule: matched.get(p)?.index ?? null }));
    return shadowDecision(candidates('DENY'), candidates('ALLOW'));
  }

  /** Notes for the applicable policies, plus the not-attached ones of the namespaces involved (why they do not apply). */
  #relatedNotes(req: WaypointRequest, applicable: Applicable): CompileNote[] {
    const keys = new Set(applicable.policies.map((p) => p.policy.key));
    const namespaces = new Set([
      req.waypoint.namespace,
      req.service?.namespace,
      this.#options.rootNamespace ?? 'istio-system',
    ]);
    return this.#notes.filter(
      (n) =>
        (n.at === undefined || n.at === 'waypoint') &&
        (keys.has(n.policy) ||
          ((n.code === 'waypoint-not-attached' || n.code === 'waypoint-target-invalid') &&
            namespaces.has(n.policy.split('/')[0]))),
    );
  }
}
