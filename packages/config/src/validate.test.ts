import { describe, expect, it } from 'vitest';
import { formatIssue, loadText } from './index.js';

describe('validation', () => {
  it('names file, document and field path for every kind', () => {
    const { objects, issues } = loadText(
      `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: "Not_A_Name"}, {port: 70000}]
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {serviceAcountName: x}
status: {podIP: 10.0.0.300}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec: {hosts: ["*"], ports: [{number: 80, name: http}, {number: 80, name: http2}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec: {rules: [{from: [{source: {principal: [x]}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: shop}
spec: {hosts: [web], http: [{route: [{destination: {host: web}, weight: -1}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
`,
      { file: 'mesh.yaml' },
    );
    expect(objects.map((o) => o.key)).toEqual([]);
    expect(issues.map(formatIssue)).toEqual([
      'mesh.yaml#0 Service shop/web: spec.ports[1].port: must be <= 65535, got 70000',
      'mesh.yaml#1 Pod default/a: spec.serviceAcountName: unknown field (ignored)',
      'mesh.yaml#1 Pod default/a: status.podIP: must be an IP address, got "10.0.0.300"',
      'mesh.yaml#2 ServiceEntry shop/ext: spec.hosts[0]: the wildcard "*" alone is not allowed',
      'mesh.yaml#2 ServiceEntry shop/ext: spec.ports[1].number: duplicate port 80 (also spec.ports[0])',
      'mesh.yaml#3 AuthorizationPolicy shop/p: spec.rules[0].from[0].source.principal: unknown field "principal"',
      expect.stringMatching(/^mesh\.yaml#4 VirtualService shop\/v: spec\.http\[0\]\.route\[0\]\.weight: /),
      'mesh.yaml#5 Deployment default/d: kind: apps/v1 Deployment is not a kind the ambient index reads: ignored',
    ]);
    expect(issues.map((i) => i.severity)).toEqual([
      'error',
      'warning',
      'error',
      'error',
      'error',
      'error',
      'error',
      'warning',
    ]);
  });

  it('reports YAML syntax errors with line and column, and flattens kind: List', () => {
    const { objects, issues } = loadText(
      `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
---
key: [unclosed
`,
      { file: 'x.yaml' },
    );
    expect(objects.map((o) => o.key)).toEqual(['Namespace//a', 'Namespace//b']);
    expect(issues).toHaveLength(1);
    expect(formatIssue(issues[0]!)).toMatch(/^x\.yaml#1: line \d+, column \d+: /);
  });
});
