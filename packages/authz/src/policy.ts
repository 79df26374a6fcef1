// What every per-policy compile step starts from: the policy's namespace and key, and a note collector.
import type { CompileNote, EnforcementPoint } from './notes.js';
import type { AuthorizationPolicy } from './types.js';
import { DRY_RUN_ANNOTATION, parseDryRun } from './validate.js';

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
  /** From the istio.io/dry-run annotation; a value that is not a boolean is noted and the policy enforced. */
  dryRun: boolean;
}

export function policyContext(
  ap: AuthorizationPolicy,
  options: { rootNamespace?: string; defaultNamespace?: string },
  at: EnforcementPoint,
): PolicyContext {
  const namespace = policyNamespace(ap.metadata, options);
  const key = `${namespace}/${ap.metadata.name}`;
  const notes: CompileNote[] = [];
  const note: PolicyContext['note'] = (n) => notes.push({ policy: key, kind: 'AuthorizationPolicy', at, ...n });
  const dry = parseDryRun(ap.metadata.annotations?.[DRY_RUN_ANNOTATION]);
  if (dry.invalid !== undefined) {
    note({
      code: 'dry-run-invalid',
      severity: 'warning',
      message: `the ${DRY_RUN_ANNOTATION} annotation "${dry.invalid}" is not a boolean, so the policy is enforced`,
    });
  }
  return {
    rootNamespace: options.rootNamespace ?? 'istio-system',
    namespace,
    key,
    spec: ap.spec ?? {},
    notes,
    note,
    dryRun: dry.dryRun,
  };
}
