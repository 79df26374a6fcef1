import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { SpiffeError } from './errors.js';
import { isSpiffeId, SpiffeId, TrustDomain } from './id.js';
import { istioIdentity, parseIstioIdentity } from './istio.js';

describe('SpiffeId', () => {
  it('parses, exposes parts, compares by canonical text', () => {
    const id = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');
    expect(id.trustDomain.name).toBe('example.org');
    expect(id.path).toBe('/ns/default/sa/web');
    expect(id.segments).toEqual(['ns', 'default', 'sa', 'web']);
    expect(id.equals('spiffe://example.org/ns/default/sa/web')).toBe(true);
    expect(id.equals(SpiffeId.parse('SPIFFE://example.org/ns/default/sa/web'))).toBe(true);
    expect(id.isMemberOf('example.org')).toBe(true);
    expect(id.isMemberOf(TrustDomain.parse('other.org'))).toBe(false);
    expect(JSON.stringify({ id })).toBe('{"id":"spiffe://example.org/ns/default/sa/web"}');
    expect(SpiffeId.parse(id)).toBe(id);
  });

  it('builds from segments and validates each', () => {
    expect(SpiffeId.fromSegments('td', 'a', 'b').toString()).toBe('spiffe://td/a/b');
    expect(SpiffeId.fromSegments('td').toString()).toBe('spiffe://td');
    expect(() => SpiffeId.fromSegments('td', 'a/b')).toThrow(SpiffeError);
    expect(() => SpiffeId.fromSegments('td', '..')).toThrow(/dot segments/);
    expect(() => SpiffeId.fromSegments('td', '')).toThrow(/empty segments|trailing slash/);
    expect(() => SpiffeId.fromPath('td', 'no-slash')).toThrow(SpiffeError);
    expect(() => SpiffeId.fromSegments('td', 'x'.repeat(2100))).toThrow(/longer than 2048/);
    expect(TrustDomain.parse('td').idFromSegments('x').toString()).toBe('spiffe://td/x');
    expect(TrustDomain.parse('td').id.toString()).toBe('spiffe://td');
  });

  it('reports the rule broken as a MeshError code with the input in details', () => {
    try {
      SpiffeId.parse('spiffe://example.org:443/x');
      expect.unreachable();
    } catch (e) {
      expect(MeshError.is(e, 'ERR_SPIFFE_ID_PORT')).toBe(true);
      expect((e as SpiffeError).details).toEqual({ input: 'spiffe://example.org:443/x' });
    }
    expect(isSpiffeId('spiffe://a/b')).toBe(true);
    expect(isSpiffeId('spiffe://a/b/')).toBe(false);
    expect(SpiffeId.tryParse('nope')).toBeUndefined();
    expect(() => SpiffeId.parse(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('Istio identities', () => {
  it('round-trips namespace and service account', () => {
    const id = istioIdentity({ namespace: 'bookinfo', serviceAccount: 'reviews' });
    expect(id.toString()).toBe('spiffe://cluster.local/ns/bookinfo/sa/reviews');
    const parsed = parseIstioIdentity(id);
    expect(parsed.namespace).toBe('bookinfo');
    expect(parsed.serviceAccount).toBe('reviews');
    expect(parsed.trustDomain.name).toBe('cluster.local');
    expect(istioIdentity({ trustDomain: 'mesh.example', namespace: 'a', serviceAccount: 'b' }).trustDomain.name).toBe(
      'mesh.example',
    );
  });

  it('rejects other paths', () => {
    for (const bad of ['spiffe://td/ns/a', 'spiffe://td/ns/a/sa/b/extra', 'spiffe://td/x/a/sa/b', 'spiffe://td'])
      expect(() => parseIstioIdentity(bad), bad).toThrow(
        expect.objectContaining({ code: 'ERR_SPIFFE_NOT_ISTIO_IDENTITY' }),
      );
  });
});
