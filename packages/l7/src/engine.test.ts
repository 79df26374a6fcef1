import { MeshError, seededRng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import {
  applyHeaderOps,
  assertValid,
  compileRe2,
  compileRouteTable,
  evaluateCors,
  formatDuration,
  normalizePath,
  parseDuration,
  parseResources,
  validateResource,
  type VirtualService,
} from './index.js';
import { literalPrefix, regexLiterals } from './compile.js';

const service = { hostname: 'reviews.default.svc.cluster.local', namespace: 'default', port: 9080 };
const rng = seededRng(1);

describe('validation', () => {
  it('names every problem with its path and keeps going', () => {
    const issues = validateResource({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'r', namespace: 'default' },
      spec: {
        hosts: ['reviews'],
        http: [
          { match: [{ uri: { regex: '(?<!x)' } }], route: [{ destination: { host: 'reviews' } }] },
          { route: [{ destination: { host: 'reviews' }, weight: -1 }, { destination: { host: 'x' } }], retires: {} },
        ],
      },
    });
    expect(issues.filter((i) => i.severity === 'error').map((i) => i.path)).toEqual([
      'spec.http[0].match[0].uri.regex',
      'spec.http[1].route[0].weight',
      'spec.http[1].route', // the weights add up to 0
    ]);
    expect(issues.find((i) => i.severity === 'warning')).toMatchObject({
      path: 'spec.http[1].retires',
      message: 'unknown field (ignored)',
    });
  });

  it('throws ERR_L7_INVALID_RESOURCE with the issues in details', () => {
    try {
      assertValid({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd' }, spec: {} });
      expect.unreachable();
    } catch (e) {
      expect(MeshError.is(e, 'ERR_L7_INVALID_RESOURCE')).toBe(true);
      expect((e as MeshError).message).toContain('DestinationRule d is invalid: spec.host: is required');
    }
  });

  it('parseResources reads JSON, kind: List, and names the document', () => {
    const list = JSON.stringify({
      kind: 'List',
      items: [
        { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd' }, spec: { host: 'a' } },
      ],
    });
    expect(parseResources(list)[0]).toMatchObject({ metadata: { namespace: 'default' } });
    expect(() => parseResources('kind: Pod\napiVersion: v1\n')).toThrow(/document 0: v1 Pod/);
    expect(parseResources('kind: Pod\napiVersion: v1\n', { skipUnsupported: true })).toEqual([]);
  });
});

describe('pieces', () => {
  it('durations', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(formatDuration(250)).toBe('0.25s');
    expect(formatDuration(5000)).toBe('5s');
    expect(() => parseDuration('5 seconds', 'spec.timeout')).toThrow(/spec.timeout/);
  });

  it('RE2 full match, linear time on a pathological pattern', () => {
    const re = compileRe2('(a+)+$');
    expect(re.matches(`${'a'.repeat(50_000)}b`)).toBe(false);
    expect(re.matches('aaa')).toBe(true);
    expect(compileRe2('\\d+').matches('a123')).toBe(false);
    expect(() => compileRe2('(?=x)', 'spec.x.regex')).toThrow(/spec.x.regex/);
  });

  it('literal prefixes gate regexes conservatively', () => {
    expect(literalPrefix('/api/v[0-9]+/x')).toBe('/api/v');
    expect(literalPrefix('^/static/.*')).toBe('/static/');
    expect(literalPrefix('/ab?c')).toBe('/a');
    expect(literalPrefix('/a|/b')).toBe('');
    expect(literalPrefix('(?i)/a')).toBe('');
    expect(literalPrefix('/a\\.b')).toBe('/a.b');
  });

  it('path normalization', () => {
    expect(normalizePath('/a/./b/../c')).toBe('/a/c');
    expect(normalizePath('/../../x')).toBe('/x');
    expect(normalizePath('/a/..')).toBe('/');
    expect(normalizePath('/%7Euser')).toBe('/~user');
    expect(normalizePath('/a%2fb')).toBe('/a%2Fb');
    expect(normalizePath('/a%00')).toBeNull();
  });

  it('header operations: remove, then set, then add', () => {
    expect(
      applyHeaderOps(
        { a: '1', b: ['2', '3'], c: 'x' },
        {
          set: [['a', 'one']],
          add: [
            ['b', '4'],
            ['d', 'new'],
          ],
          remove: ['c'],
        },
      ),
    ).toEqual({ a: 'one', b: '2,3,4', d: 'new' });
  });
});

describe('decisions', () => {
  const [vs] = parseResources(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: cors
    corsPolicy:
      allowOrigins: [{prefix: 'https://app.'}]
      allowMethods: [GET]
      maxAge: 10s
      unmatchedPreflights: IGNORE
    route: [{destination: {host: reviews}}]
`) as [VirtualService];
  const table = compileRouteTable({ service, virtualServices: [vs] });

  it('CORS preflights and simple requests', () => {
    const preflight = {
      method: 'OPTIONS',
      path: '/',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    };
    const d = table.route(preflight, { rng });
    expect(evaluateCors(d.cors, preflight)).toEqual({
      kind: 'preflight',
      status: 200,
      headers: {
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-methods': 'GET',
        'access-control-max-age': '10',
      },
    });
    expect(
      evaluateCors(d.cors, { ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example' } }),
    ).toEqual({
      kind: 'preflight',
      status: 200,
      headers: {},
    });
    expect(evaluateCors(d.cors, { method: 'GET', path: '/' })).toEqual({ kind: 'none' });
  });

  it('decisions through the same route share their static parts', () => {
    const a = table.route({ method: 'GET', path: '/a' }, { rng });
    const b = table.route({ method: 'GET', path: '/b' }, { rng });
    expect(a.backend).toBe(b.backend);
    expect(a.retryPolicy).toBe(b.retryPolicy);
    expect(a.route).toBe(b.route);
  });

  it('rejects requests without a path and options without an rng', () => {
    expect(() => table.route({ method: 'GET' } as never, { rng })).toThrow(/ERR_L7_INVALID_REQUEST|method and a path/);
    expect(() => table.route({ method: 'GET', path: '/' }, {} as never)).toThrow(/rng/);
    expect(() => compileRouteTable({ service: { ...service, port: 0 } })).toThrow(/port/);
  });
});

describe('regexLiterals', () => {
  it('finds the prefix and the literals a match must contain', () => {
    expect(regexLiterals('/api/v[0-9]+/svc17/[^/]+')).toEqual({ prefix: '/api/v', required: ['/svc17/'] });
    expect(regexLiterals('/a(b|c)d+e?f')).toEqual({ prefix: '/a', required: ['d', 'f'] });
    expect(regexLiterals('x{0,3}yz')).toEqual({ prefix: '', required: ['yz'] });
    expect(regexLiterals('.*\\.css')).toEqual({ prefix: '', required: ['.css'] });
    expect(regexLiterals('(?i)/admin')).toEqual({ prefix: '', required: [] });
    expect(regexLiterals('/a|/b')).toEqual({ prefix: '', required: [] });
    expect(regexLiterals('/x\\d+[[:alpha:]]/y')).toEqual({ prefix: '/x', required: ['/y'] });
  });
});
