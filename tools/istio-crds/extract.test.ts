import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { excerptPath, excerptSource, renderSchemaModule, targetPath } from './extract.ts';

describe('istio CRD schema extraction', () => {
  it('keeps packages/authz/src/schema/security.gen.ts in sync with the checked-in excerpt', () => {
    const text = readFileSync(excerptPath, 'utf8');
    expect(readFileSync(targetPath, 'utf8')).toBe(renderSchemaModule({ text, source: excerptSource(text) }));
  });

  it('drops descriptions and status schemas, and refuses input without the security kinds', () => {
    const crd = (kind: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: security.istio.io
  names: {kind: ${kind}}
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: gone
        properties:
          spec: {type: object, description: gone, properties: {a: {type: string}}}
          status: {type: object, properties: {conditions: {type: array}}}
`;
    const text = ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication'].map(crd).join('---\n');
    const out = renderSchemaModule({ text, source: { repository: 'r', path: 'p', commit: 'c' } });
    expect(out).not.toContain('gone');
    expect(out).toContain('x-kubernetes-preserve-unknown-fields');
    expect(() =>
      renderSchemaModule({ text: crd('AuthorizationPolicy'), source: { repository: 'r', path: 'p', commit: 'c' } }),
    ).toThrow(/PeerAuthentication/);
  });
});
