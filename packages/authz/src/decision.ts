import type { CompileNote, EnforcementPoint } from './notes.js';

export type DecisionValue = 'allow' | 'deny';

/** What an enforcement point does with a connection or request. Objects returned by `authorize()` are frozen and shared. */
export interface Decision {
  readonly decision: DecisionValue;
  /** `<namespace>/<name>` of the deciding policy; null for the defaults (no ALLOW policy, or none matched). */
  readonly policy: string | null;
  /** Index of the deciding rule in the policy's spec.rules (from the wire form: the rule's position there). */
  readonly rule: number | null;
  /** One sentence: why. */
  readonly reason: string;
  readonly at: EnforcementPoint;
  /** Waypoint denials only: 403 (RBAC), or 400 when the request is rejected before authorization. */
  readonly httpStatus?: 400 | 403;
}

/** What dry-run policies would have decided had they been enforced. */
export interface ShadowDecision {
  decision: DecisionValue;
  policy: string | null;
  rule: number | null;
  reason: string;
}

export interface PolicyTrace {
  policy: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  dryRun: boolean;
  /** The first matching rule, or null when the policy did not match. */
  matchedRule: number | null;
  /** Where the policy applies from: scope at ztunnel, target at the waypoint. */
  via: string;
}

export interface Explanation extends Decision {
  /** Present when a dry-run policy applies to the target. */
  shadow?: ShadowDecision;
  /** AUDIT policies that matched (the request is marked for audit logging). */
  audit: string[];
  /** CUSTOM policies whose rules matched, so the external authorizer was consulted. */
  custom: { policy: string; provider: string; decision: DecisionValue }[];
  /** Every policy that applies to the target, in evaluation order. */
  evaluated: PolicyTrace[];
  /** Compile-time notes about the policies that apply here (dropped rules, skipped policies, …). */
  notes: CompileNote[];
}

/** A policy as the shadow (dry-run) evaluation sees it: which rule matched, if any. */
export interface ShadowCandidate {
  key: string;
  dryRun: boolean;
  matchedRule: number | null;
}

/** The decision had the dry-run policies been enforced alongside the others (DENY first, then ALLOW). */
export function shadowDecision(deny: readonly ShadowCandidate[], allow: readonly ShadowCandidate[]): ShadowDecision {
  const decided = (decision: DecisionValue, p: ShadowCandidate): ShadowDecision => ({
    decision,
    policy: p.key,
    rule: p.matchedRule,
    reason: `${decision === 'deny' ? 'denied by DENY' : 'allowed by ALLOW'} policy ${p.key} (rule ${p.matchedRule})${p.dryRun ? ' (dry-run)' : ''}`,
  });
  const denied = deny.find((p) => p.matchedRule !== null);
  if (denied) return decided('deny', denied);
  if (allow.length === 0)
    return { decision: 'allow', policy: null, rule: null, reason: 'allowed: no ALLOW policy applies' };
  const allowed = allow.find((p) => p.matchedRule !== null);
  if (allowed) return decided('allow', allowed);
  return { decision: 'deny', policy: null, rule: null, reason: 'denied: ALLOW policies apply, but none matched' };
}

export function formatExplanation(e: Explanation): string {
  const lines = [`${e.decision.toUpperCase()} at ${e.at}${e.httpStatus ? ` (HTTP ${e.httpStatus})` : ''}: ${e.reason}`];
  if (e.shadow) lines.push(`  dry-run: would ${e.shadow.decision}: ${e.shadow.reason}`);
  for (const a of e.audit) lines.push(`  audit: ${a}`);
  for (const c of e.custom) lines.push(`  custom: ${c.policy} -> provider ${c.provider}: ${c.decision}`);
  for (const t of e.evaluated) {
    lines.push(
      `  ${t.action.padEnd(6)} ${t.policy}${t.dryRun ? ' (dry-run)' : ''} via ${t.via}: ${t.matchedRule === null ? 'no match' : `rule ${t.matchedRule} matched`}`,
    );
  }
  for (const n of e.notes)
    lines.push(`  note [${n.code}] ${n.policy}${n.rule !== undefined ? ` rule ${n.rule}` : ''}: ${n.message}`);
  return lines.join('\n');
}
