import { describe, expect, it } from 'vitest';
import { testCa } from '../test/fixtures.js';
import { X509Bundle, X509BundleSet } from './bundle.js';
import { TrustDomain } from './id.js';

describe('X509Bundle', () => {
  const a = testCa('a.example');
  const b = testCa('b.example');

  it('reads and writes PEM, removing duplicates', () => {
    const bundle = X509Bundle.fromPem('a.example', a.cert.toPem() + a.cert.toPem() + b.cert.toPem());
    expect(bundle.authorities).toHaveLength(2);
    expect(X509Bundle.fromPem('a.example', bundle.toPem()).authorities.map((c) => c.fingerprint256)).toEqual(
      bundle.authorities.map((c) => c.fingerprint256),
    );
    expect(X509Bundle.parse('a.example', bundle.toPem()).authorities).toHaveLength(2);
    expect(X509Bundle.parse('a.example', Buffer.concat([a.cert.der, b.cert.der])).authorities).toHaveLength(2);
    expect(() => X509Bundle.fromPem('a.example', 'junk')).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_BAD_BUNDLE' }),
    );
  });

  it('writes the SPIFFE bundle format and reads it back (detected by parse)', () => {
    const bundle = new X509Bundle('a.example', [a.cert], { sequence: 9007199254740993n, refreshHint: 300 });
    const json = bundle.toJson();
    expect(json).toContain('"spiffe_sequence": 9007199254740993');
    const doc = bundle.toJwks();
    expect(doc.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'x509-svid' });
    expect(doc.keys[0]).not.toHaveProperty('kid');
    const back = X509Bundle.parse('a.example', json);
    expect(back.sequence).toBe(9007199254740993n);
    expect(back.refreshHint).toBe(300);
    expect(back.authorities[0]!.equals(a.cert)).toBe(true);
    expect(X509Bundle.fromJwks('a.example', doc).authorities).toHaveLength(1);
  });

  it('derives new bundles with an increased sequence', () => {
    const one = new X509Bundle('a.example', [a.cert], { sequence: 1 });
    const two = one.withAuthorities(b.cert);
    expect(two.authorities).toHaveLength(2);
    expect(two.sequence).toBe(2n);
    const three = two.withoutAuthorities(a.cert);
    expect(three.authorities.map((c) => c.equals(b.cert))).toEqual([true]);
    expect(three.sequence).toBe(3n);
    expect(one.authorities).toHaveLength(1);
  });

  it('keeps one bundle per trust domain in a set, and writes bundle maps', () => {
    const set = new X509BundleSet([a.bundle]);
    set.set(b.bundle);
    expect(set.size).toBe(2);
    expect(set.get('b.example')).toBe(b.bundle);
    expect(set.getX509Bundle(TrustDomain.parse('a.example'))).toBe(a.bundle);
    expect(a.bundle.getX509Bundle(TrustDomain.parse('b.example'))).toBeUndefined();
    const map = X509BundleSet.fromBundleMap(set.toBundleMap());
    expect(map.trustDomains().map((t) => t.name)).toEqual(['a.example', 'b.example']);
    expect(set.delete('a.example')).toBe(true);
    expect(set.has('a.example')).toBe(false);
    expect([...set].map((x) => x.trustDomain.name)).toEqual(['b.example']);
  });
});
