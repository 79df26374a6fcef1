// @mesh/authz/testing: assert what your AuthorizationPolicy YAML does, in a few lines of a unit test.
import { createAuthorizer, type Authorizer, type AuthorizerOptions } from '../authorizer.js';
import { formatExplanation, type DecisionValue, type Explanation } from '../decision.js';
import type { WaypointRequest } from '../waypoint/attributes.js';
import { parseYaml } from '../yaml.js';

/** Compiles policies from YAML text (one or more documents; invalid ones throw with their field paths). */
export function authorizerFromYaml(
  yaml: string,
  options: Omit<AuthorizerOptions, 'resources' | 'documents'> & { file?: string } = {},
): Authorizer {
  const { file, ...rest } = options;
  return createAuthorizer({ ...rest, documents: parseYaml(yaml, file !== undefined ? { file } : {}) });
}

/** A ztunnel connection in short form. */
export interface ConnectionCase {
  /** Client identity, e.g. `cluster.local/ns/foo/sa/sleep`; null or omitted for plaintext. */
  from?: string | null;
  /** Client IP (default 10.0.0.1). */
  fromIp?: string;
  /** The destination workload. */
  to: { namespace: string; labels?: Record<string, string>; ip?: string; port: number };
}

/** A waypoint request in short form. */
export interface RequestCase {
  from?: string | null;
  fromIp?: string;
  /** `<namespace>/<name>` of the waypoint (default: `<service namespace>/waypoint`). */
  waypoint?: string;
  /** `<namespace>/<name>` of the destination Service, and its port. */
  service: string;
  port: number;
  method?: string;
  /** Default `<service name>.<namespace>:<port>`. */
  host?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  jwtClaims?: Record<string, unknown>;
}

function split(ref: string): { namespace: string; name: string } {
  const [namespace, name] = ref.split('/');
  if (!namespace || !name) throw new TypeError(`expected <namespace>/<name>, got "${ref}"`);
  return { namespace, name };
}

export function explainConnection(authz: Authorizer, c: ConnectionCase): Explanation {
  return authz.ztunnel.explain({
    workload: { namespace: c.to.namespace, labels: c.to.labels ?? {} },
    source: { principal: c.from ?? null, ip: c.fromIp ?? '10.0.0.1' },
    destination: { ip: c.to.ip ?? '10.0.0.2', port: c.to.port },
  });
}

export function waypointRequest(r: RequestCase): WaypointRequest {
  const service = split(r.service);
  const waypoint = r.waypoint ? split(r.waypoint) : { namespace: service.namespace, name: 'waypoint' };
  return {
    waypoint,
    service: { ...service, port: r.port },
    source: { principal: r.from ?? null, ip: r.fromIp ?? '10.0.0.1' },
    http: {
      method: r.method ?? 'GET',
      host: r.host ?? `${service.name}.${service.namespace}:${r.port}`,
      path: r.path ?? '/',
      ...(r.headers ? { headers: r.headers } : {}),
      ...(r.jwtClaims ? { jwtClaims: r.jwtClaims } : {}),
    },
  };
}

export function explainRequest(authz: Authorizer, r: RequestCase): Explanation {
  return authz.waypoint.explain(waypointRequest(r));
}

/** Thrown by the expect helpers; the message is the full explanation. */
export class AuthzAssertionError extends Error {
  readonly explanation: Explanation;
  constructor(message: string, explanation: Explanation) {
    super(message);
    this.name = 'AuthzAssertionError';
    this.explanation = explanation;
  }
}

function check(e: Explanation, expected: DecisionValue, policy: string | null | undefined): Explanation {
  if (e.decision !== expected || (policy !== undefined && e.policy !== policy)) {
    const want = `${expected}${policy !== undefined ? ` by ${policy ?? 'default'}` : ''}`;
    throw new AuthzAssertionError(
      `expected ${want}, got ${e.decision}${e.policy ? ` by ${e.policy}` : ''}\n${formatExplanation(e)}`,
      e,
    );
  }
  return e;
}

/** Asserts ztunnel allows the connection (optionally: because of `policy`, `<ns>/<name>`). */
export function expectConnectionAllowed(authz: Authorizer, c: ConnectionCase, policy?: string | null): Explanation {
  return check(explainConnection(authz, c), 'allow', policy);
}

export function expectConnectionDenied(authz: Authorizer, c: ConnectionCase, policy?: string | null): Explanation {
  return check(explainConnection(authz, c), 'deny', policy);
}

/** Asserts the waypoint allows the request (optionally: because of `policy`). */
export function expectRequestAllowed(authz: Authorizer, r: RequestCase, policy?: string | null): Explanation {
  return check(explainRequest(authz, r), 'allow', policy);
}

export function expectRequestDenied(authz: Authorizer, r: RequestCase, policy?: string | null): Explanation {
  return check(explainRequest(authz, r), 'deny', policy);
}
