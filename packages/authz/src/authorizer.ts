// One compiled view of a mesh's security policies with both enforcement points: what ztunnel does with each
// connection (L4, from the Authorization resources istiod would send) and what a waypoint does with each request.
import type { Decision, Explanation } from './decision.js';
import { AuthzError } from './errors.js';
import type { CompileNote } from './notes.js';
import { policyNamespace } from './policy.js';
import type { AuthorizationPolicy, PeerAuthentication, RequestAuthentication, SecurityResource } from './types.js';
import { formatIssue, validateResource, type ValidationIssue } from './validate.js';
import type { WaypointRequest } from './waypoint/attributes.js';
import type { LoadedDocument } from './yaml.js';
import {
  compileWaypointPolicy,
  WaypointAuthorizer,
  type CompiledL7Policy,
  type WaypointOptions,
} from './waypoint/engine.js';
import {
  convertAuthorizationPolicyForZtunnel,
  convertPeerAuthenticationForZtunnel,
  oldest,
  peerAuthenticationLevels,
  peerAuthenticationNotes,
  peerAuthenticationPolicyKeys,
  selectorMatches,
  staticStrictPolicy,
  unreachableRules,
  type WorkloadRef,
} from './ztunnel/convert.js';
import { L4PolicyIndex, type Connection, type WorkloadAuthorizer } from './ztunnel/engine.js';
import type { L4Policy } from './ztunnel/model.js';

export interface AuthorizerOptions extends Omit<WaypointOptions, 'defaultNamespace'> {
  /**
   * The resources: AuthorizationPolicy, PeerAuthentication, RequestAuthentication objects (parsed YAML/JSON). Each is
   * validated against Istio's schema and webhook rules.
   */
  resources?: readonly unknown[];
  /** Resources with their origin (what `parseYaml` returns), so validation issues name file and document. */
  documents?: readonly LoadedDocument[];
  /** Invalid resources: throw ERR_AUTHZ_INVALID_RESOURCE (default), or leave them out with an `invalid-resource` note. */
  onInvalid?: 'throw' | 'skip';
  /** Namespace for resources without metadata.namespace (default `default`). */
  defaultNamespace?: string;
  /** Send dry-run policies to ztunnel (istiod's AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY; default false). */
  ztunnelDryRun?: boolean;
}

/** A ztunnel connection plus the destination workload, for the convenience `authorize`/`explain`. */
export interface ZtunnelRequest extends Connection {
  /** The destination workload: its namespace and labels (selectors are matched here). */
  workload: WorkloadRef;
}

export interface ZtunnelEnforcement {
  /** The Authorization resources istiod sends ztunnel for these resources (with the static STRICT policy). */
  readonly policies: readonly L4Policy[];
  /** The policy keys a workload lists in Workload.authorization_policies (selector policies + PeerAuthentication). */
  workloadPolicies(workload: WorkloadRef): string[];
  /** A reusable evaluator for one workload: the per-connection hot path. */
  forWorkload(workload: WorkloadRef): WorkloadAuthorizer;
  authorize(request: ZtunnelRequest): Decision;
  explain(request: ZtunnelRequest): Explanation;
}

export interface PeerAuthenticationDecision {
  mode: 'STRICT' | 'PERMISSIVE';
  /** `<ns>/<name>` of the PeerAuthentication that decided, or null for the default (PERMISSIVE). */
  policy: string | null;
  level: 'port' | 'workload' | 'namespace' | 'mesh' | 'default';
  reason: string;
}

export interface Authorizer {
  readonly ztunnel: ZtunnelEnforcement;
  readonly waypoint: WaypointAuthorizer;
  /** Every compile note: dropped rules, skipped policies, unreachable rules, invalid resources. */
  readonly notes: readonly CompileNote[];
  /** Validation warnings and (with onInvalid: 'skip') errors. */
  readonly issues: readonly ValidationIssue[];
  /** The effective mTLS mode for a workload port at ztunnel (STRICT refuses plaintext). */
  peerAuthentication(workload: WorkloadRef, port: number): PeerAuthenticationDecision;
  /**
   * The RequestAuthentications whose JWT rules a waypoint applies to a request (attached with targetRefs to the
   * waypoint's Gateway, the root-namespace istio-waypoint GatewayClass, or the destination Service/ServiceEntry).
   * Selector and namespace-wide ones apply at sidecars only, not at waypoints.
   */
  requestAuthenticationsFor(target: Pick<WaypointRequest, 'waypoint' | 'service'>): RequestAuthentication[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly requestAuthentications: readonly RequestAuthentication[];
}

/** The `meshctl check` authorization result (issue 8's JSON shape) for an explanation. */
export interface CheckResult {
  id?: string;
  decision: 'allow' | 'deny';
  /** Waypoint denials only. */
  httpStatus?: 400 | 403;
  policy: string | null;
  reason: string;
  /** Only when a dry-run policy applied. */
  shadow?: { decision: 'allow' | 'deny'; policy: string | null };
}

export function checkResult(explanation: Explanation, id?: string): CheckResult {
  return {
    ...(id !== undefined ? { id } : {}),
    decision: explanation.decision,
    ...(explanation.httpStatus !== undefined ? { httpStatus: explanation.httpStatus } : {}),
    policy: explanation.policy,
    reason: explanation.reason,
    ...(explanation.shadow
      ? { shadow: { decision: explanation.shadow.decision, policy: explanation.shadow.policy } }
      : {}),
  };
}

export function createAuthorizer(options: AuthorizerOptions = {}): Authorizer {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const common = { rootNamespace, defaultNamespace };
  const issues: ValidationIssue[] = [];
  const notes: CompileNote[] = [];
  const aps: AuthorizationPolicy[] = [];
  const pas: PeerAuthentication[] = [];
  const ras: RequestAuthentication[] = [];
  const errors: ValidationIssue[] = [];
  const inputs: LoadedDocument[] = [
    ...(options.resources ?? []).map((object, document) => ({ object, document })),
    ...(options.documents ?? []),
  ];
  const skipped: CompileNote[] = [];
  for (const { object, ...origin } of inputs) {
    const result = validateResource(object, origin);
    issues.push(...result.issues);
    if (!result.resource) {
      const bad = result.issues.filter((i) => i.severity === 'error');
      errors.push(...bad);
      const o = (object ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      const kind =
        o.kind === 'PeerAuthentication' || o.kind === 'RequestAuthentication' ? o.kind : 'AuthorizationPolicy';
      const ns = typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : defaultNamespace;
      skipped.push({
        code: 'invalid-resource',
        policy: `${ns}/${typeof o.metadata?.name === 'string' ? o.metadata.name : '?'}`,
        kind,
        severity: 'warning',
        message: `left out: ${bad.map(formatIssue).join('; ')}`,
      });
      continue;
    }
    const r: SecurityResource = result.resource;
    if (r.kind === 'AuthorizationPolicy') aps.push(r);
    else if (r.kind === 'PeerAuthentication') pas.push(r);
    else ras.push(r);
  }
  if (errors.length > 0) {
    if ((options.onInvalid ?? 'throw') === 'throw') {
      throw new AuthzError('ERR_AUTHZ_INVALID_RESOURCE', errors.map(formatIssue).join('\n'), { details: { issues } });
    }
    notes.push(...skipped);
  }

  // ztunnel: what istiod sends.
  const l4: L4Policy[] = [];
  for (const ap of aps) {
    const key = `${policyNamespace(ap.metadata, common)}/${ap.metadata.name}`;
    for (const u of unreachableRules(ap.spec?.rules ?? [])) {
      notes.push({
        code: 'unreachable-rule',
        policy: key,
        kind: 'AuthorizationPolicy',
        rule: u.rule,
        severity: 'info',
        message: `rule ${u.rule} never decides: ${u.why}`,
      });
    }
    const converted = convertAuthorizationPolicyForZtunnel(ap, { ...common, dryRun: options.ztunnelDryRun ?? false });
    notes.push(...converted.notes);
    if (converted.policy) l4.push(converted.policy);
  }
  for (const pa of pas) notes.push(...peerAuthenticationNotes(pa, common));
  const levelPolicy = (ns: string, root: boolean) =>
    oldest(
      pas.filter(
        (p) =>
          policyNamespace(p.metadata, common) === ns &&
          !(p.spec?.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length > 0) &&
          (root || ns !== rootNamespace),
      ),
    );
  for (const pa of pas) {
    const ns = policyNamespace(pa.metadata, common);
    const converted = convertPeerAuthenticationForZtunnel(
      pa,
      ns === rootNamespace ? undefined : levelPolicy(ns, false),
      levelPolicy(rootNamespace, true),
      common,
    );
    if (converted) l4.push(converted);
  }
  if (pas.length > 0) l4.push(staticStrictPolicy(rootNamespace));
  const index = new L4PolicyIndex(l4);
  // Selector policies by namespace: a workload looks at its own namespace's and the root namespace's.
  const selectorPolicies = new Map<string, AuthorizationPolicy[]>();
  for (const ap of aps) {
    if (!ap.spec?.selector || ap.spec.targetRefs?.length || ap.spec.targetRef) continue;
    const ns = policyNamespace(ap.metadata, common);
    let list = selectorPolicies.get(ns);
    if (!list) selectorPolicies.set(ns, (list = []));
    list.push(ap);
  }

  const workloadPolicies = (w: WorkloadRef): string[] => {
    const keys = new Set<string>();
    const candidates = [
      ...(selectorPolicies.get(w.namespace) ?? []),
      ...(w.namespace === rootNamespace ? [] : (selectorPolicies.get(rootNamespace) ?? [])),
    ];
    for (const ap of candidates) {
      const ns = policyNamespace(ap.metadata, common);
      if (selectorMatches(ap.spec!.selector!.matchLabels, w.labels)) {
        const key = `${ns}/${ap.metadata.name}`;
        if (index.get(key)) keys.add(key);
      }
    }
    for (const k of peerAuthenticationPolicyKeys(peerAuthenticationLevels(pas, w, common), common)) keys.add(k);
    return [...keys].sort();
  };

  // Notes of policies that would apply to a workload at ztunnel but were not sent (CUSTOM, AUDIT, dry-run).
  const skippedFor = (w: WorkloadRef): Set<string> => {
    const keys = new Set<string>();
    for (const ap of aps) {
      const ns = policyNamespace(ap.metadata, common);
      const key = `${ns}/${ap.metadata.name}`;
      if (index.get(key) || ap.spec?.targetRefs?.length || ap.spec?.targetRef) continue;
      const sel = ap.spec?.selector;
      const applies = sel
        ? (ns === w.namespace || ns === rootNamespace) && selectorMatches(sel.matchLabels, w.labels)
        : ns === w.namespace || ns === rootNamespace;
      if (applies) keys.add(key);
    }
    return keys;
  };

  const ztunnelNotes = (w: WorkloadRef, applied: readonly string[]) => {
    const keys = new Set([...applied, ...skippedFor(w)]);
    return notes.filter((n) => keys.has(n.policy) && n.at !== 'waypoint');
  };

  // WorkloadAuthorizers by workload (namespace + labels), so repeated requests for a workload reuse its rule index.
  const byWorkload = new Map<string, WorkloadAuthorizer>();
  const authorizerFor = (w: WorkloadRef): WorkloadAuthorizer => {
    const labels = w.labels ?? {};
    const key = `${w.namespace}\0${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join('\0')}`;
    let wa = byWorkload.get(key);
    if (!wa) {
      if (byWorkload.size >= 10_000) byWorkload.clear();
      wa = index.forWorkload({ namespace: w.namespace, policies: workloadPolicies(w) });
      byWorkload.set(key, wa);
    }
    return wa;
  };

  const ztunnel: ZtunnelEnforcement = {
    policies: index.policies(),
    workloadPolicies,
    forWorkload: (w) => index.forWorkload({ namespace: w.namespace, policies: workloadPolicies(w) }),
    authorize: (req) => authorizerFor(req.workload).authorize(req),
    explain: (req) => {
      const wa = authorizerFor(req.workload);
      const e = wa.explain(req);
      e.notes = ztunnelNotes(req.workload, wa.policies());
      return e;
    },
  };

  const compiled: CompiledL7Policy[] = [];
  for (const ap of aps) {
    const c = compileWaypointPolicy(ap, { ...options, ...common });
    notes.push(...c.notes);
    if (c.policy) compiled.push(c.policy);
  }
  const waypoint = new WaypointAuthorizer(compiled, notes, { ...options, ...common });

  const peerAuthentication = (w: WorkloadRef, port: number): PeerAuthenticationDecision => {
    const levels = peerAuthenticationLevels(pas, w, common);
    const name = (p: PeerAuthentication) => `${policyNamespace(p.metadata, common)}/${p.metadata.name}`;
    const eff = (m: string | undefined) => (m === 'STRICT' ? 'STRICT' : 'PERMISSIVE');
    const portMode = levels.workload?.spec?.portLevelMtls?.[String(port)]?.mode;
    if (levels.workload && portMode && portMode !== 'UNSET') {
      return {
        mode: eff(portMode),
        policy: name(levels.workload),
        level: 'port',
        reason: `port ${port} of workload policy ${name(levels.workload)} sets ${portMode}`,
      };
    }
    for (const [level, p] of [
      ['workload', levels.workload],
      ['namespace', levels.namespace],
      ['mesh', levels.mesh],
    ] as const) {
      const mode = p?.spec?.mtls?.mode;
      if (p && mode && mode !== 'UNSET') {
        return {
          mode: eff(mode),
          policy: name(p),
          level,
          reason: `${level} policy ${name(p)} sets ${mode}${mode === 'DISABLE' ? ' (treated as PERMISSIVE in ambient)' : ''}`,
        };
      }
    }
    return {
      mode: 'PERMISSIVE',
      policy: null,
      level: 'default',
      reason: 'no PeerAuthentication sets a mode: PERMISSIVE',
    };
  };

  const requestAuthenticationsFor = (target: Pick<WaypointRequest, 'waypoint' | 'service'>): RequestAuthentication[] =>
    ras.filter((ra) => {
      const ns = policyNamespace(ra.metadata, common);
      const refs = ra.spec?.targetRefs ?? (ra.spec?.targetRef ? [ra.spec.targetRef] : []);
      return refs.some((ref) => {
        const group = ref.group ?? '';
        if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway') {
          return ns === target.waypoint.namespace && ref.name === target.waypoint.name;
        }
        if (group === 'gateway.networking.k8s.io' && ref.kind === 'GatewayClass')
          return ns === rootNamespace && ref.name === 'istio-waypoint';
        const svc = target.service;
        if (!svc || ns !== svc.namespace || ref.name !== svc.name) return false;
        const kind = svc.kind ?? 'Service';
        return kind === 'ServiceEntry'
          ? group === 'networking.istio.io' && ref.kind === 'ServiceEntry'
          : (group === '' || group === 'core') && ref.kind === 'Service';
      });
    });

  return {
    ztunnel,
    waypoint,
    notes,
    issues,
    peerAuthentication,
    requestAuthenticationsFor,
    authorizationPolicies: aps,
    peerAuthentications: pas,
    requestAuthentications: ras,
  };
}

export type { WaypointRequest };
