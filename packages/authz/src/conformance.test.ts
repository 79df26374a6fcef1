// Runs the vectors in conformance/authz/*.yaml. Cases listed in known-failures.yaml run too, and must fail
// (so a fixed case shows up as "remove it from the list"); nothing is skipped.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createAuthorizer, type AuthorizerOptions } from './authorizer.js';
import { formatExplanation, type Explanation } from './decision.js';
import { AuthzError } from './errors.js';
import { formatIssue, type ValidationIssue } from './validate.js';
import { parseYaml } from './yaml.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'conformance', 'authz');

interface Expect {
  decision?: 'allow' | 'deny';
  policy?: string | null;
  rule?: number | null;
  httpStatus?: number | null;
  shadow?: { decision: 'allow' | 'deny'; policy?: string | null } | null;
  audit?: string[];
  notes?: string[];
  /** Validation: each listed issue must be reported (path exact, message substring). */
  invalid?: { path: string; message?: string; document?: number }[];
  warnings?: { path: string; message?: string }[];
  /** Paths that must have no warning. */
  noWarningsAt?: string[];
  valid?: boolean;
  /** ztunnel: the policies the workload lists, in order. */
  workloadPolicies?: string[];
  reason?: string;
}

interface Case {
  id: string;
  cite: string;
  policies?: string;
  options?: Omit<AuthorizerOptions, 'resources' | 'documents'>;
  request?: Record<string, unknown> & { at: 'ztunnel' | 'waypoint' };
  expect: Expect;
}

interface Suite {
  description: string;
  policies?: string;
  options?: Case['options'];
  cases: Case[];
}

const knownFailures = new Map<string, string>(
  (
    (
      parse(readFileSync(join(dir, 'known-failures.yaml'), 'utf8')) as {
        failures?: { id: string; reason: string }[];
      } | null
    )?.failures ?? []
  ).map((f) => [f.id, f.reason]),
);

function run(suite: Suite, c: Case): void {
  const text = c.policies ?? suite.policies ?? '';
  const options = { ...suite.options, ...c.options };
  const e = c.expect;
  if (e.invalid || e.valid !== undefined || e.warnings || e.noWarningsAt) {
    let issues: readonly ValidationIssue[] = [];
    try {
      issues = createAuthorizer({ ...options, documents: parseYaml(text, { file: `${c.id}.yaml` }) }).issues;
    } catch (err) {
      if (!(err instanceof AuthzError)) throw err;
      issues = (err.details?.issues as ValidationIssue[] | undefined) ?? [];
      if (e.valid === true) throw err;
    }
    const errors = issues.filter((i) => i.severity === 'error');
    if (e.valid === true) expect(errors.map(formatIssue)).toEqual([]);
    if (e.valid === false || e.invalid) expect(errors.length, 'expected validation errors').toBeGreaterThan(0);
    for (const want of e.invalid ?? []) {
      const hit = errors.find(
        (i) =>
          i.path === want.path &&
          (!want.message || i.message.includes(want.message)) &&
          (want.document === undefined || i.document === want.document),
      );
      expect(
        hit,
        `no error at ${want.path}${want.message ? ` containing "${want.message}"` : ''}; got:\n${errors.map(formatIssue).join('\n')}`,
      ).toBeDefined();
    }
    for (const want of e.warnings ?? []) {
      const hit = issues.find(
        (i) => i.severity === 'warning' && i.path === want.path && (!want.message || i.message.includes(want.message)),
      );
      expect(hit, `no warning at ${want.path}; got:\n${issues.map(formatIssue).join('\n')}`).toBeDefined();
    }
    for (const path of e.noWarningsAt ?? []) {
      const hit = issues.find((i) => i.severity === 'warning' && i.path === path);
      expect(hit, `unexpected warning at ${path}: ${hit ? formatIssue(hit) : ''}`).toBeUndefined();
    }
    return;
  }
  const authz = createAuthorizer({ ...options, documents: parseYaml(text, { file: `${c.id}.yaml` }) });
  const { at, ...request } = c.request!;
  let explanation: Explanation;
  if (at === 'ztunnel') {
    const r = request as unknown as Parameters<typeof authz.ztunnel.explain>[0];
    if (e.workloadPolicies) expect(authz.ztunnel.workloadPolicies(r.workload)).toEqual(e.workloadPolicies);
    explanation = authz.ztunnel.explain(r);
    // The indexed fast path, the full scan and the explanation must agree.
    expect(authz.ztunnel.authorize(r)).toMatchObject({ decision: explanation.decision, policy: explanation.policy });
    expect(authz.ztunnel.forWorkload(r.workload).authorizeByScan(r)).toBe(authz.ztunnel.authorize(r));
  } else {
    const r = request as unknown as Parameters<typeof authz.waypoint.explain>[0];
    explanation = authz.waypoint.explain(r);
    expect(authz.waypoint.authorize(r)).toMatchObject({ decision: explanation.decision, policy: explanation.policy });
    expect(authz.waypoint.authorizeByScan(r)).toMatchObject({
      decision: explanation.decision,
      policy: explanation.policy,
    });
  }
  const shown = `\n${formatExplanation(explanation)}`;
  if (e.decision !== undefined) expect(explanation.decision, shown).toBe(e.decision);
  if (e.policy !== undefined) expect(explanation.policy, shown).toBe(e.policy);
  if (e.rule !== undefined) expect(explanation.rule, shown).toBe(e.rule);
  if (e.httpStatus !== undefined) expect(explanation.httpStatus ?? null, shown).toBe(e.httpStatus);
  if (e.shadow === null) expect(explanation.shadow, shown).toBeUndefined();
  else if (e.shadow) {
    expect(explanation.shadow?.decision, shown).toBe(e.shadow.decision);
    if (e.shadow.policy !== undefined) expect(explanation.shadow?.policy, shown).toBe(e.shadow.policy);
  }
  if (e.audit) expect(explanation.audit, shown).toEqual(e.audit);
  if (e.reason) expect(explanation.reason, shown).toContain(e.reason);
  for (const code of e.notes ?? []) {
    expect(
      explanation.notes.map((n) => n.code),
      `note ${code} missing${shown}`,
    ).toContain(code);
  }
}

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'known-failures.yaml')
  .sort();
const ids = new Set<string>();

for (const file of files) {
  const suite = parse(readFileSync(join(dir, file), 'utf8')) as Suite;
  describe(`conformance/authz/${file}`, () => {
    for (const c of suite.cases) {
      ids.add(c.id);
      const reason = knownFailures.get(c.id);
      if (reason) it.fails(`${c.id} (known failure: ${reason})`, () => run(suite, c));
      else it(c.id, () => run(suite, c));
    }
  });
}

describe('conformance/authz', () => {
  it('every case has a unique id and a cited source, and every known failure names a case', () => {
    const seen = new Set<string>();
    for (const file of files) {
      for (const c of (parse(readFileSync(join(dir, file), 'utf8')) as Suite).cases) {
        expect(seen.has(c.id), `duplicate id ${c.id}`).toBe(false);
        seen.add(c.id);
        expect(c.cite, `${c.id} cites no source`).toBeTruthy();
      }
    }
    for (const id of knownFailures.keys()) expect(seen.has(id), `known failure ${id} is not a case`).toBe(true);
  });
});
