// The engine's model of ztunnel's L4 policy: the istio.security.Authorization resource as plain data
// (ambient-dataplane §4.3), plus provenance that never goes on the wire.
import type { StringMatch } from '../match/strings.js';

export type L4Scope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';
export type L4Action = 'ALLOW' | 'DENY';

export interface ServiceAccountMatch {
  namespace: string;
  serviceAccount: string;
}

/** Every populated field must hold; values inside a field are ORed; a not-list must have no hit. */
export interface L4Match {
  namespaces?: StringMatch[];
  notNamespaces?: StringMatch[];
  principals?: StringMatch[];
  notPrincipals?: StringMatch[];
  /** CIDRs as text (`10.0.0.0/8`, `2001:db8::1/128`). */
  sourceIps?: string[];
  notSourceIps?: string[];
  destinationIps?: string[];
  notDestinationIps?: string[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
  serviceAccounts?: ServiceAccountMatch[];
  notServiceAccounts?: ServiceAccountMatch[];
}

/** Any non-empty Match may match; an empty Match is skipped; a clause without matches is true. */
export interface L4Clause {
  matches: L4Match[];
}

/** All clauses must match (an empty list matches). */
export interface L4Rule {
  clauses: L4Clause[];
  /** Index of the AuthorizationPolicy rule this came from (not on the wire; explanations use it). */
  sourceRule?: number;
}

export interface L4Policy {
  name: string;
  namespace: string;
  scope: L4Scope;
  action: L4Action;
  /** The policy matches when any rule matches; no rules match nothing. */
  rules: L4Rule[];
  dryRun: boolean;
}

export const l4Key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

const FIELDS = [
  'namespaces',
  'notNamespaces',
  'principals',
  'notPrincipals',
  'sourceIps',
  'notSourceIps',
  'destinationIps',
  'notDestinationIps',
  'destinationPorts',
  'notDestinationPorts',
  'serviceAccounts',
  'notServiceAccounts',
] as const satisfies readonly (keyof L4Match)[];

export function isEmptyMatch(m: L4Match): boolean {
  return FIELDS.every((f) => !m[f]?.length);
}

/** Whether the rule can ever match: every clause is empty or has a non-empty Match (istiod's hasEffectiveRules). */
export function isEffectiveRule(rule: L4Rule): boolean {
  return rule.clauses.every((c) => c.matches.length === 0 || c.matches.some((m) => !isEmptyMatch(m)));
}
