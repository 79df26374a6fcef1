// What every per-policy compile step starts from: the policy's namespace and key, and a note collector.
import type { CompileNote, EnforcementPoint } from './notes.js';
import type { AuthorizationPolicy } from './types.js';

export function policyNamespace(meta: { namespace?: string }, options: { defaultNamespace?: string }): string {
  return meta.namespace ?? options.defaultNamespace ?? 'default';
}

export interface PolicyContext {
  rootNamespace: string;
  namespace: string;
  /** `<namespace>/<name>` */
  key: string;
  spec: NonNullable<AuthorizationPolicy['spec']>;
  notes: CompileNote[];
  note(n: Omit<CompileNote, 'policy' | 'kind' | 'at'>): void;
}

export function policyContext(
  ap: AuthorizationPolicy,
  options: { rootNamespace?: string; defaultNamespace?: string },
  at: EnforcementPoint,
): PolicyContext {
  const namespace = policyNamespace(ap.metadata, options);
  const key = `${namespace}/${ap.metadata.name}`;
  const notes: CompileNote[] = [];
  return {
    rootNamespace: options.rootNamespace ?? 'istio-system',
    namespace,
    key,
    spec: ap.spec ?? {},
    notes,
    note: (n) => notes.push({ policy: key, kind: 'AuthorizationPolicy', at, ...n }),
  };
}
