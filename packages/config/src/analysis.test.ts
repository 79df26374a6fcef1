import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analysisCodes, createSimulator, formatMessage, renderAnalysisDoc } from './index.js';

describe('analysis', () => {
  it('docs/analysis.md is generated from the catalog (run `pnpm gen:analysis` after changing it)', () => {
    expect(readFileSync(new URL('../../../docs/analysis.md', import.meta.url), 'utf8')).toBe(renderAnalysisDoc());
  });

  it('codes are stable in form and every code is reported by some analyzer', () => {
    const catalogEnd = (t: string) => t.slice(t.indexOf('export interface AnalysisMessage'));
    const source =
      catalogEnd(readFileSync(new URL('./analysis.ts', import.meta.url), 'utf8')) +
      readFileSync(new URL('./simulator.ts', import.meta.url), 'utf8');
    for (const code of Object.keys(analysisCodes)) {
      expect(code).toMatch(/^(IST\d{4}|MESH-[EWI]\d{4})$/);
      const level = analysisCodes[code as keyof typeof analysisCodes].level;
      if (code.startsWith('MESH-')) expect(code[5]).toBe(level[0]);
      expect(source.split(`'${code}'`).length - 1, `${code} is never reported`).toBeGreaterThan(0);
    }
  });

  it('reports the mistakes users make, in istioctl analyze line format', () => {
    const sim = createSimulator({
      text: `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: nobody, namespace: shop}
spec: {selector: {matchLabels: {app: nothing}}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7-without-waypoint, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec: {hosts: [web], http: [{route: [{destination: {host: web-v9}}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: idle, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
`,
    });
    expect(sim.analyze().map(formatMessage)).toEqual([
      'Error [IST0101] (VirtualService shop/web) spec.http[0].route[0].destination.host: destination host web-v9 matches no Service or ServiceEntry (requests routed there get 503)',
      'Warning [IST0127] (AuthorizationPolicy shop/nobody) spec.selector: no workload matches the selector app=nothing',
      'Warning [MESH-W0003] (Namespace shop) metadata.labels: namespace shop has istio.io/dataplane-mode=ambient and sidecar injection (istio-injection=enabled)',
      'Warning [MESH-W0004] (AuthorizationPolicy shop/l7-without-waypoint) spec.targetRefs[0]: targets Service shop/web, which uses no waypoint: nothing enforces this policy',
      'Warning [MESH-W0005] (VirtualService shop/web) spec.hosts: routes web.shop.svc.cluster.local, which uses no waypoint: ambient applies VirtualService rules only at waypoints',
      'Info [MESH-I0001] (Gateway shop/idle) waypoint shop/idle is used by no service or workload',
    ]);
  });
});

describe('analysis of file-mode pitfalls', () => {
  it('flags objects in a namespace the config does not define, and hints the target port at ztunnel', () => {
    const sim = createSimulator({
      text: `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ghost}
spec: {selector: {app: web}, clusterIP: 10.96.0.1, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: ghost, labels: {app: web, istio.io/dataplane-mode: ambient}}
spec: {}
status: {podIP: 10.0.0.1}
`,
    });
    expect(sim.analyze().map(formatMessage)).toEqual([
      'Warning [MESH-W0010] (Namespace ghost) 2 object(s) are in namespace ghost, which is not defined: its enrollment and waypoint labels are unknown',
    ]);
    const why = sim.explain({
      id: 'x',
      kind: 'authz',
      at: 'ztunnel',
      source: { principal: null, ip: '10.0.0.9' },
      destination: { ip: '10.0.0.1', port: 80 },
    });
    expect(why.hints).toEqual([
      "port 80 is a service port of this workload's services; ztunnel sees the target port (8080), which is what policy ports compare",
    ]);
  });
});
