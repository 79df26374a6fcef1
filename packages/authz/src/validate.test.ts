import { describe, expect, it } from 'vitest';
import { AuthzError } from './errors.js';
import { crdSchemas } from './schema/security.gen.js';
import { celRules, formatIssue, joinPath, parseDryRun, parseResource, validateResource } from './validate.js';
import { parseYaml } from './yaml.js';

function collectCel(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => collectCel(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'x-kubernetes-validations') for (const r of v as { rule: string }[]) out.add(r.rule);
      else collectCel(v, out);
    }
  }
  return out;
}

describe('validation', () => {
  it('implements every CEL rule of the published schemas', () => {
    const rules = collectCel(crdSchemas, new Set());
    expect(rules.size).toBeGreaterThan(5);
    for (const rule of rules) expect(celRules[rule], rule).toBeTypeOf('function');
  });

  it('throws ERR_AUTHZ_INVALID_RESOURCE with the issues, or ERR_AUTHZ_UNSUPPORTED_KIND', () => {
    const bad = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'a', namespace: 'n' },
      spec: { action: 'NOPE' },
    };
    try {
      parseResource(bad, { file: 'a.yaml', document: 3 });
      expect.unreachable();
    } catch (e) {
      expect(AuthzError.is(e, 'ERR_AUTHZ_INVALID_RESOURCE')).toBe(true);
      expect((e as AuthzError).message).toBe(
        'a.yaml#3: AuthorizationPolicy n/a: spec.action: must be one of ALLOW, DENY, AUDIT, CUSTOM',
      );
    }
    expect(() => parseResource({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } })).toThrow(
      expect.objectContaining({ code: 'ERR_AUTHZ_UNSUPPORTED_KIND' }),
    );
    expect(validateResource(null).issues[0]!.message).toBe('expected an object');
  });

  it('reports unknown fields as warnings when strict field validation is off', () => {
    const obj = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'a' },
      spec: { rulez: [] },
    };
    expect(validateResource(obj).resource).toBeUndefined();
    const lax = validateResource(obj, { strictFields: false });
    expect(lax.resource).toBeDefined();
    expect(lax.issues.map(formatIssue)).toEqual([
      'warning: AuthorizationPolicy a: spec.rulez: unknown field "rulez": Kubernetes would prune it, so it has no effect',
    ]);
  });

  it('writes field paths like kubectl', () => {
    expect(joinPath(joinPath(joinPath('spec', 'rules'), 0), 'from')).toBe('spec.rules[0].from');
    expect(joinPath('metadata.annotations', 'istio.io/dry-run')).toBe('metadata.annotations["istio.io/dry-run"]');
  });

  it('parses the dry-run annotation like Go strconv.ParseBool', () => {
    expect(parseDryRun('T')).toEqual({ dryRun: true });
    expect(parseDryRun('0')).toEqual({ dryRun: false });
    expect(parseDryRun('')).toEqual({ dryRun: false });
    expect(parseDryRun('yes')).toEqual({ dryRun: false, invalid: 'yes' });
  });
});

describe('parseYaml', () => {
  it('keeps file and document index, flattens List, skips empty documents', () => {
    const docs = parseYaml('a: 1\n---\n---\nkind: List\nitems: [{b: 1}, {c: 2}]\n', { file: 'x.yaml' });
    expect(docs).toEqual([
      { object: { a: 1 }, file: 'x.yaml', document: 0 },
      { object: { b: 1 }, file: 'x.yaml', document: 2 },
      { object: { c: 2 }, file: 'x.yaml', document: 2 },
    ]);
  });

  it('throws ERR_AUTHZ_INVALID_YAML with the position', () => {
    expect(() => parseYaml('a: 1\n---\nb: [1, 2\n', { file: 'bad.yaml' })).toThrow(
      expect.objectContaining({
        code: 'ERR_AUTHZ_INVALID_YAML',
        message: expect.stringMatching(/^bad\.yaml:\d+:\d+ \(document 1\)/),
      }),
    );
  });
});
