import { MeshError } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { parseCheckRequest } from './index.js';

const fails = (request: unknown, message: string) => {
  let error: unknown;
  try {
    parseCheckRequest(request);
  } catch (e) {
    error = e;
  }
  expect(MeshError.is(error, 'ERR_CONFIG_INVALID_REQUEST'), String(error)).toBe(true);
  expect((error as Error).message).toBe(message);
};

describe('request validation', () => {
  const base = {
    id: 'a',
    kind: 'authz',
    at: 'waypoint',
    waypoint: { name: 'w', namespace: 'n' },
    source: { principal: null, ip: '10.0.0.1' },
  };

  it('accepts the contract shapes', () => {
    expect(parseCheckRequest({ ...base, http: { method: 'GET', path: '/' } })).toMatchObject({ id: 'a' });
    expect(
      parseCheckRequest({
        id: 'r',
        kind: 'route',
        service: { name: 's', namespace: 'n', port: 80 },
        http: { method: 'GET', path: '/x' },
      }),
    ).toMatchObject({ kind: 'route' });
  });

  it('names the field of every problem, unknown fields included', () => {
    fails(
      { ...base, htp: { method: 'GET', path: '/' } },
      'request a: htp: unknown field (expected id, kind, at, waypoint, service, source, destination, http)',
    );
    fails(
      { ...base, source: { principal: null, ip: '10.0.0.1', namespce: 'x' } },
      'request a: source.namespce: unknown field (expected principal, ip, namespace, labels)',
    );
    fails({ ...base, at: 'sidecar' }, 'request a: at: must be "ztunnel" or "waypoint"');
    fails({ ...base, source: { ip: '10.0.0.1' } }, 'request a: source.principal: is required (null for plaintext)');
    fails({ ...base, http: { method: 'GET', path: 'x' } }, 'request a: http.path: must be a string starting with "/"');
    fails(
      {
        id: 'z',
        kind: 'authz',
        at: 'ztunnel',
        source: { principal: null, ip: '10.0.0.1' },
        destination: { ip: '10.0.0.2', port: 80 },
        http: { method: 'GET', path: '/' },
      },
      'request z: http: ztunnel sees connections, not HTTP requests: drop "http" or ask at the waypoint',
    );
    fails([], 'a request must be a JSON object');
  });
});
