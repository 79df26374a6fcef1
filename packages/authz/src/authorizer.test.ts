import { describe, expect, it } from 'vitest';
import { checkResult, createAuthorizer } from './authorizer.js';
import { formatExplanation } from './decision.js';
import { AuthzError } from './errors.js';
import { parseYaml } from './yaml.js';

const docs = (yaml: string) => parseYaml(yaml, { file: 'mesh.yaml' });

describe('createAuthorizer', () => {
  it('throws on invalid resources with file, document and field path, or skips them with a note', () => {
    const yaml = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ok, namespace: foo}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: foo}
spec:
  rules:
  - from: [{source: {ipBlocks: ["10.0.0.0/40"]}}]
`;
    expect(() => createAuthorizer({ documents: docs(yaml) })).toThrow(
      'mesh.yaml#1: AuthorizationPolicy foo/bad: spec.rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/40" is not an IP address or CIDR',
    );
    try {
      createAuthorizer({ documents: docs(yaml) });
    } catch (e) {
      expect(AuthzError.is(e, 'ERR_AUTHZ_INVALID_RESOURCE')).toBe(true);
    }
    const lenient = createAuthorizer({ documents: docs(yaml), onInvalid: 'skip' });
    expect(lenient.authorizationPolicies.map((p) => p.metadata.name)).toEqual(['ok']);
    expect(lenient.notes.find((n) => n.code === 'invalid-resource')).toMatchObject({
      policy: 'foo/bad',
      kind: 'AuthorizationPolicy',
    });
  });

  it('resolves the effective PeerAuthentication mode per workload port', () => {
    const authz = createAuthorizer({
      documents: docs(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web, namespace: foo}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls: {"8080": {mode: DISABLE}}
`),
    });
    const web = { namespace: 'foo', labels: { app: 'web' } };
    expect(authz.peerAuthentication(web, 8080)).toMatchObject({ mode: 'PERMISSIVE', level: 'port', policy: 'foo/web' });
    expect(authz.peerAuthentication(web, 9090)).toMatchObject({
      mode: 'STRICT',
      level: 'mesh',
      policy: 'istio-system/default',
    });
    expect(authz.peerAuthentication({ namespace: 'bar' }, 80).mode).toBe('STRICT');
    expect(createAuthorizer().peerAuthentication(web, 80)).toMatchObject({ mode: 'PERMISSIVE', level: 'default' });
    expect(authz.ztunnel.policies.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual([
      'foo/converted_peer_authentication_web',
      'istio-system/istio_converted_static_strict',
    ]);
  });

  it('finds the RequestAuthentications a waypoint applies', () => {
    const authz = createAuthorizer({
      documents: docs(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: on-gateway, namespace: foo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  jwtRules: [{issuer: a}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: on-service, namespace: foo}
spec:
  targetRefs: [{kind: Service, name: web}]
  jwtRules: [{issuer: b}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: selector, namespace: foo}
spec:
  selector: {matchLabels: {app: web}}
  jwtRules: [{issuer: c}]
`),
    });
    const names = (service?: string) =>
      authz
        .requestAuthenticationsFor({
          waypoint: { namespace: 'foo', name: 'waypoint' },
          ...(service ? { service: { namespace: 'foo', name: service } } : {}),
        })
        .map((r) => r.metadata.name);
    expect(names('web')).toEqual(['on-gateway', 'on-service']);
    expect(names()).toEqual(['on-gateway']);
  });

  it('explains in text and in the meshctl check shape', () => {
    const authz = createAuthorizer({
      documents: docs(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: dry, namespace: foo, annotations: {istio.io/dry-run: "true"}}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {methods: [POST]}}]}]
`),
    });
    const e = authz.waypoint.explain({
      waypoint: { namespace: 'foo', name: 'waypoint' },
      source: { principal: null, ip: '10.0.0.1' },
      http: { method: 'POST', host: 'web', path: '/' },
    });
    expect(checkResult(e, 'a2')).toEqual({
      id: 'a2',
      decision: 'allow',
      policy: null,
      reason: 'allowed: no ALLOW policy applies at this waypoint target',
      shadow: { decision: 'deny', policy: 'foo/dry' },
    });
    expect(formatExplanation(e)).toContain('dry-run: would deny: denied by DENY policy foo/dry (rule 0) (dry-run)');
    const denied = authz.waypoint.explain({
      waypoint: { namespace: 'foo', name: 'waypoint' },
      source: { principal: null, ip: '10.0.0.1' },
      http: { method: 'GET', host: 'web', path: '/%00' },
    });
    expect(checkResult(denied)).toMatchObject({ decision: 'deny', httpStatus: 400 });
  });

  it('models the external authorizer when told its verdict', () => {
    const authz = createAuthorizer({
      extensionProviders: ['opa'],
      customDecision: ({ request }) => (request.http?.headers?.['x-ok'] ? 'allow' : 'deny'),
      documents: docs(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: foo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: CUSTOM
  provider: {name: opa}
  rules: [{}]
`),
    });
    const req = (headers: Record<string, string>) => ({
      waypoint: { namespace: 'foo', name: 'waypoint' },
      source: { principal: null, ip: '10.0.0.1' },
      http: { method: 'GET', host: 'web', path: '/', headers },
    });
    expect(authz.waypoint.authorize(req({}))).toMatchObject({ decision: 'deny', policy: 'foo/ext', httpStatus: 403 });
    expect(authz.waypoint.explain(req({ 'x-ok': '1' })).custom).toEqual([
      { policy: 'foo/ext', provider: 'opa', decision: 'allow' },
    ]);
    const assumed = createAuthorizer({ resources: authz.authorizationPolicies });
    expect(assumed.waypoint.authorize(req({})).reason).toContain('assumed to allow');
  });
});
